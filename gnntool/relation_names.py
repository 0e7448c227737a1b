"""How gnntool spells a relation of a typed graph: `source__relation__target` (torch-free).

One spelling everywhere: the edge files of a typed folder (`edges/user__buys__item.csv`), config
values (`train.link_relation`) and output names. A relation is PyG's edge type, the triple
`(source type, relation, target type)`; `add_reverse` names a reverse relation `rev_<relation>`.
"""

from __future__ import annotations

__all__ = [
    "RELATION_SEPARATOR",
    "REVERSE_PREFIX",
    "check_spelling",
    "parse_relation",
    "relation_name",
    "reverse_relation",
]

RELATION_SEPARATOR = "__"
REVERSE_PREFIX = "rev_"

EdgeType = tuple[str, str, str]


def relation_name(edge_type: EdgeType) -> str:
    """`("user", "buys", "item")` -> `"user__buys__item"`."""
    return RELATION_SEPARATOR.join(edge_type)


def parse_relation(name: str) -> EdgeType:
    """`"user__buys__item"` -> `("user", "buys", "item")`; a ValueError saying why for anything
    that is not three non-empty parts joined by `__`."""
    parts = name.split(RELATION_SEPARATOR)
    if len(parts) != 3 or not all(part and part.strip() == part for part in parts):
        raise ValueError(
            f"{name!r} is not a relation: spell it <source type>{RELATION_SEPARATOR}<relation>"
            f"{RELATION_SEPARATOR}<target type> (three non-empty names joined by {RELATION_SEPARATOR!r}, "
            "none containing it or starting or ending with a space)"
        )
    return parts[0], parts[1], parts[2]


def check_spelling(edge_type: EdgeType) -> None:
    """A ValueError when `edge_type`'s name does not parse back to it (a part containing `__`,
    or one ending in `_` before `__`, as in `("a_", "b", "c")`)."""
    name = relation_name(edge_type)
    try:
        parsed = parse_relation(name)
    except ValueError:
        parsed = None
    if parsed != tuple(edge_type):
        raise ValueError(
            f"relation {tuple(edge_type)} cannot be spelt unambiguously as {name!r}: rename it so that no part "
            f"contains {RELATION_SEPARATOR!r} and none but the target type ends with '_'"
        )


def reverse_relation(edge_type: EdgeType) -> EdgeType:
    """The reverse relation that `dataset.add_reverse` adds: `(dst, "rev_" + rel, src)`."""
    source, relation, target = edge_type
    return target, REVERSE_PREFIX + relation, source
