"""How gnntool spells a relation of a typed graph: `source__relation__target` (torch-free).

One spelling everywhere: the edge files of a typed folder (`edges/user__buys__item.csv`), config
values (`train.link_relation`) and output names. A relation is PyG's edge type, the triple
`(source type, relation, target type)`; `add_reverse` names a reverse relation `rev_<relation>`.
"""

from __future__ import annotations

__all__ = ["RELATION_SEPARATOR", "REVERSE_PREFIX", "parse_relation", "relation_name", "reverse_relation"]

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
    # A part starting or ending in "_" would make "a___b__c" ambiguous ("a_"+"b" or "a"+"_b").
    if len(parts) != 3 or not all(part and part.strip("_ ") == part for part in parts):
        raise ValueError(
            f"{name!r} is not a relation: spell it <source type>{RELATION_SEPARATOR}<relation>"
            f"{RELATION_SEPARATOR}<target type> (three non-empty names joined by {RELATION_SEPARATOR!r}, "
            "none containing it, starting or ending with '_' or a space)"
        )
    return parts[0], parts[1], parts[2]


def reverse_relation(edge_type: EdgeType) -> EdgeType:
    """The reverse relation that `dataset.add_reverse` adds: `(dst, "rev_" + rel, src)`."""
    source, relation, target = edge_type
    return target, REVERSE_PREFIX + relation, source
