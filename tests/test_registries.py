"""Every registry agrees with the schema's traits table, and nothing outside a registry asks which
objective, architecture, aggregator or dataset it runs: adding one is its module plus its
registry lines, with no schema edit and no `if name == ...` elsewhere."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import pytest

from gnntool import data, models, traits
from gnntool.config import ModelConfig, validate
from gnntool.errors import UserError
from gnntool.models import sage

PACKAGE = Path(__file__).resolve().parents[1] / "gnntool"


def compared(names: typing.Iterable[str]) -> str:
    """A quoted name on one side of ==, != or in (also inside the tuple after `in`), or after `case`."""
    quoted = rf"[\"']({'|'.join(map(re.escape, names))})[\"']"
    return rf"(==|!=|\bcase)\s*{quoted}|\bin\s*[(\[{{][^)\]}}]*{quoted}|{quoted}\s*(==|!=|\bin\b)"


DATASET_NAMES = [spelling for name, known in traits.DATASETS.items() for spelling in (name, *known.aliases)]

# kind → (what a branch on it looks like, the only places that may branch: its registry's home)
BRANCHES = {
    "objective": (re.compile(r"objective\s*(==|!=|\bin\b)|[\"'](unsupervised|link)[\"']"), ("objectives", "traits.py")),
    "arch": (re.compile(rf"(?<!for )\barch\s*(==|!=|\bin\b)|{compared(traits.MODELS)}"), ("traits.py",)),
    "aggregator": (re.compile(r"(?<!for )\baggregator\s*(==|!=|\bin\b)"), ("traits.py",)),
    "dataset": (re.compile(rf"dataset\.name\s*(==|!=|\bin\b)|{compared(DATASET_NAMES)}"), ("traits.py",)),
    "norm": (re.compile(rf"\bnorm\s*(==|!=|\bin\b)|{compared(traits.NORMS)}"), ("traits.py", "norms.py")),
    "decoder": (re.compile(rf"\bdecoder\s*(==|!=|\bin\b)|{compared(traits.DECODERS)}"), ("traits.py", "decoders.py")),
}


@pytest.mark.parametrize("kind", BRANCHES)
def test_no_branch_on_a_registered_name_outside_its_registry(kind: str) -> None:
    pattern, homes = BRANCHES[kind]
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if any(part in homes for part in path.relative_to(PACKAGE).parts):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        ("arch", 'if self.model.arch == "cheb":'),
        ("arch", 'if arch in ("gcn", "sage"):'),
        ("arch", 'elif "sage" != config.arch:'),
        ("aggregator", "if config.aggregator in GATHERED:"),
        ("dataset", 'if config.dataset.name == "PPI":'),
        ("dataset", 'if name in ("Cora", "ogbn-arxiv"):'),
        ("dataset", 'case "synthetic":'),
        ("norm", 'if self.norm == "group" and self.hidden % self.norm_args.groups:'),
        ("decoder", 'if self.config.model.decoder != "dot":'),
    ],
)
def test_the_branch_patterns_catch_branches(kind: str, line: str) -> None:
    assert BRANCHES[kind][0].search(line)


def literal_choices(annotation: object) -> set[object]:
    """The values a `Literal[...]` annotation, or a union of one with None, allows."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return set().union(*(literal_choices(arg) for arg in typing.get_args(annotation) if arg is not type(None)))
    assert typing.get_origin(annotation) is typing.Literal, annotation
    return set(typing.get_args(annotation))


def test_model_registry_traits_and_schema_agree() -> None:
    assert set(models.MODELS) == set(traits.MODELS) == literal_choices(ModelConfig.model_fields["arch"].annotation)


def test_sage_aggregators_traits_and_schema_agree() -> None:
    choices = traits.MODELS["sage"].options["aggregator"].choices
    assert set(sage.AGGREGATORS) == set(choices) == literal_choices(ModelConfig.model_fields["aggregator"].annotation)


EXAMPLES = {"k": 2, "num_bases": 2}  # a value for each model option without choices


def example(key: str) -> object:
    choices = traits.option_choices(key)
    return choices[0] if choices else EXAMPLES[key]


@pytest.mark.parametrize("key", traits.model_options())
def test_every_model_option_is_a_schema_key_with_the_traits_choices(key: str) -> None:
    assert key in ModelConfig.model_fields
    if traits.option_choices(key):
        assert literal_choices(ModelConfig.model_fields[key].annotation) == set(traits.option_choices(key))
    for arch in set(traits.MODELS) - set(traits.option_owners(key)):
        with pytest.raises(UserError, match=f"model.{key} is for arch"):
            validate({"model": {"arch": arch, key: example(key)}})


def model_sections() -> list[dict[str, object]]:
    """One `model` section per architecture and per choice of each option it reads."""
    sections = []
    for arch, known in traits.MODELS.items():
        required = {key: example(key) for key, option in known.options.items() if option.default is None}
        sections.append({"arch": arch, **required})
        for key, option in known.options.items():
            sections.extend({"arch": arch, **required, key: choice} for choice in option.choices)
    return sections


@pytest.mark.parametrize("section", model_sections(), ids=lambda section: "-".join(map(str, section.values())))
def test_layers_and_schema_do_what_the_traits_say(section: dict[str, object]) -> None:
    known = traits.MODELS[str(section["arch"])]
    sampled = {"train": {"batch_size": 16}}
    if not known.sampled:
        with pytest.raises(UserError, match="neighbour sampling supports"):
            validate({"model": section, **sampled})
    config = validate({"model": {**section, "hidden": 8}, **(sampled if known.sampled else {})})
    model = models.build_model(config.model, 5, 3)
    row_slices = known.takes_row_slices(config.model.model_dump())
    assert [getattr(conv, "row_slices", False) for conv in model.convs] == [row_slices] * len(model.convs)


def test_dataset_loaders_traits_and_schema_agree() -> None:
    assert set(data.LOADER_OF) == set(traits.DATASETS)
    assert {known.loader for known in traits.DATASETS.values()} == set(data.LOADERS)
    for name, known in traits.DATASETS.items():
        path = {"path": "graph.npz"} if known.needs_path else {}
        assert validate({"dataset": {"name": name, **path}}).dataset.name == name
    with pytest.raises(UserError, match=re.escape(", ".join(traits.DATASETS))):
        validate({"dataset": {"name": "Corra"}})


def test_norm_and_decoder_registries_traits_and_schema_agree() -> None:
    from gnntool.models.decoders import DECODERS
    from gnntool.models.norms import NORMS

    fields = ModelConfig.model_fields
    assert set(NORMS) == set(traits.NORMS) == literal_choices(fields["norm"].annotation)
    assert set(DECODERS) == set(traits.DECODERS) == literal_choices(fields["decoder"].annotation)
    for name, known in traits.NORMS.items():
        if known.divides is not None:  # the key it names exists and is checked against the width
            with pytest.raises(ValueError, match=f"norm_args.{known.divides}"):
                ModelConfig(norm=name, hidden=7, norm_args={known.divides: 2})
