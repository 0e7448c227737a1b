"""The config schema: every key, its type, its default and its checks live here and only here.

`load_config` reads YAML, applies `--set key=value` overrides and validates; every mistake becomes
one `UserError` naming the key ("model.hiden: unknown key — did you mean model.hidden?").
This module must not import torch: config errors are reported before torch loads.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gnntool.errors import UserError


class Section(BaseModel):
    """A config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


PLANETOID = ("Cora", "CiteSeer", "PubMed")


class DatasetConfig(Section):
    name: Literal["Cora", "CiteSeer", "PubMed", "PPI", "synthetic", "graph"] = "Cora"
    root: str | None = Field(
        default=None, description="raw-file folder; null: env GNNTOOL_DATA, else `data`"
    )
    path: str | None = Field(default=None, description="graph only: an .npz file or a folder")
    split: Literal["public", "full", "random", "inductive", "masks"] | None = Field(
        default=None, description="null: public (Planetoid, PPI's fixed graphs) or masks (graph)"
    )
    normalize_features: bool | None = Field(
        default=None, description="divide each node's features by their sum; null: true for Planetoid only"
    )
    train_per_class: int = Field(default=20, gt=0, description="Planetoid random split: training nodes per class")
    num_val: int = Field(default=500, gt=0, description="Planetoid random split: validation nodes")
    num_test: int = Field(default=1000, gt=0, description="Planetoid random split: test nodes")
    train_frac: float = Field(
        default=0.6, gt=0.0, lt=1.0, description="graph, synthetic random split: training fraction"
    )
    val_frac: float = Field(
        default=0.2, gt=0.0, lt=1.0, description="graph, synthetic random split: validation fraction"
    )
    nodes: int | None = Field(default=None, gt=1, description="synthetic only: number of nodes; null: 10000")
    avg_degree: float | None = Field(
        default=None, gt=0.0, description="synthetic only: directed edge_index entries per node; null: 10"
    )
    features: int | None = Field(default=None, gt=0, description="synthetic only: feature width; null: 128")
    classes: int | None = Field(default=None, ge=2, description="synthetic only: number of classes (blocks); null: 10")
    homophily: float | None = Field(
        default=None, ge=0.0, le=1.0, description="synthetic only: share of edges drawn inside a class; null: 0.7"
    )

    @field_validator("name", mode="before")
    @classmethod
    def _canonical_name(cls, value: Any) -> Any:
        # Accept any capitalisation, as PyG's Planetoid does.
        known = {
            "cora": "Cora",
            "citeseer": "CiteSeer",
            "pubmed": "PubMed",
            "ppi": "PPI",
            "synthetic": "synthetic",
            "graph": "graph",
        }
        return known.get(str(value).lower(), value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _split_fits_dataset(self) -> DatasetConfig:
        if self.split is None:
            self.split = {"graph": "masks", "synthetic": "random"}.get(self.name, "public")
        self._synthetic_defaults()
        if self.normalize_features is None:
            self.normalize_features = self.name in PLANETOID
        if self.name == "PPI" and self.split != "public":
            raise ValueError("dataset.split: PPI comes with its own split of graphs (20/2/2); leave split: public")
        if self.name == "synthetic" and self.split != "random":
            raise ValueError(
                f"dataset.split: synthetic graphs split at random by train_frac/val_frac, not {self.split!r}"
            )
        if self.name in ("graph", "synthetic") and self.train_frac + self.val_frac >= 1.0:
            raise ValueError("dataset.train_frac + dataset.val_frac must leave nodes for the test split")
        if self.name == "graph":
            if self.path is None:
                raise ValueError("dataset.path is required for dataset.name: graph (an .npz file or a folder)")
            if self.split not in ("masks", "random"):
                raise ValueError(f"dataset.split: a graph file splits by its masks or at random, not {self.split!r}")
        else:
            if self.path is not None:
                raise ValueError(f"dataset.path is for dataset.name: graph, not {self.name}")
            if self.split == "masks":
                raise ValueError(f"dataset.split: masks is for dataset.name: graph; {self.name} has public/full/random")
        return self

    def _synthetic_defaults(self) -> None:
        """Fill the synthetic graph's shape for `synthetic`; refuse those keys on other datasets."""
        defaults = {"nodes": 10000, "avg_degree": 10.0, "features": 128, "classes": 10, "homophily": 0.7}
        for key, default in defaults.items():
            if self.name == "synthetic":
                if getattr(self, key) is None:
                    setattr(self, key, default)
            elif getattr(self, key) is not None:
                raise ValueError(f"dataset.{key} is for dataset.name: synthetic, not {self.name}")


NormName = Literal["none", "batch", "batchrenorm", "layer", "instance", "group"]


class NormArgs(Section):
    """Options of the normalisation layers; each layer reads the ones that apply to it."""

    eps: float = Field(default=1.0e-5, gt=0.0)
    momentum: float = Field(default=0.1, gt=0.0, le=1.0, description="running-stat update, torch's convention")
    affine: bool = Field(default=True, description="learned per-channel gamma and beta")
    groups: int = Field(default=1, gt=0, description="group: number of channel groups (divides hidden)")
    mode: Literal["node", "graph"] = Field(default="node", description="layer: per node or per graph")
    r_max: float = Field(default=3.0, ge=1.0, description="batchrenorm: final bound on r")
    d_max: float = Field(default=5.0, ge=0.0, description="batchrenorm: final bound on d")
    warmup_steps: int = Field(
        default=100, ge=0, description="batchrenorm: steps to relax r_max from 1 and d_max from 0"
    )


class ModelConfig(Section):
    arch: Literal["gcn", "sage", "cheb"] = "gcn"
    hidden: int = Field(default=16, gt=0)
    layers: int = Field(default=2, ge=2, description="message-passing layers; the last outputs logits")
    dropout: float = Field(default=0.5, ge=0.0, lt=1.0)
    input_dropout: float | None = Field(
        default=None, ge=0.0, lt=1.0, description="dropout on the input features; null: model.dropout"
    )
    aggregator: Literal["mean", "gcn", "lstm", "pool"] | None = Field(
        default=None, description="sage only; null resolves to mean"
    )
    pool: Literal["max", "mean"] = Field(default="max", description="sage pool aggregator only")
    l2_normalize: bool = Field(default=False, description="sage: per-layer L2 normalisation")
    k: int | None = Field(default=None, gt=0, description="cheb only: number of Chebyshev terms")
    norm: NormName = "none"
    norm_args: NormArgs = Field(default_factory=NormArgs)

    @model_validator(mode="after")
    def _arch_options(self) -> ModelConfig:
        if self.arch == "sage" and self.aggregator is None:
            self.aggregator = "mean"
        if self.arch != "sage" and self.aggregator is not None:
            raise ValueError(f"model.aggregator is for arch sage, not {self.arch}")
        if self.arch == "cheb" and self.k is None:
            raise ValueError("model.k is required for arch cheb (number of Chebyshev terms)")
        if self.arch != "cheb" and self.k is not None:
            raise ValueError(f"model.k is for arch cheb, not {self.arch}")
        if self.norm == "group" and self.hidden % self.norm_args.groups:
            raise ValueError(
                f"model.norm_args.groups ({self.norm_args.groups}) must divide model.hidden ({self.hidden})"
            )
        return self


class TrainConfig(Section):
    epochs: int = Field(default=200, gt=0)
    lr: float = Field(default=0.01, gt=0.0)
    weight_decay: float = Field(default=5.0e-4, ge=0.0)
    patience: int = Field(default=100, gt=0, description="epochs without improvement before stopping")
    monitor: Literal["val_accuracy", "val_loss", "val_micro_f1"] | None = Field(
        default=None, description="null: val_micro_f1 on PPI, val_loss unsupervised, else val_accuracy"
    )
    batch_size: int | None = Field(
        default=None,
        gt=0,
        description="graphs per step on multi-graph data, or seed nodes per step (neighbour sampling) on one graph; "
        "null: full batch",
    )
    fanout: list[int] | None = Field(
        default=None,
        description="neighbour sampling: neighbours sampled per layer (len = model.layers, -1: all); "
        "null with batch_size: all neighbours",
    )
    chunk_size: int = Field(
        default=16384,
        gt=0,
        description="after sampled training, eval and embed run layer by layer over chunks of this many nodes",
    )
    amp: bool = Field(default=False, description="bf16 autocast for the forward pass (CUDA only)")
    checkpoint_seconds: float = Field(
        default=60.0,
        ge=0.0,
        description="save checkpoint.pt at least this often (at an epoch or mini-batch step boundary); 0: only on "
        "SIGINT/SIGTERM",
    )
    objective: Literal["supervised", "unsupervised"] = Field(
        default="supervised", description="unsupervised: GraphSAGE's random-walk loss, no labels needed"
    )
    walk_length: int = Field(default=5, gt=0, description="unsupervised: steps of each random walk")
    walks_per_node: int = Field(default=1, gt=0, description="unsupervised: walks started from every node")
    window: int = Field(default=2, gt=0, description="unsupervised: co-occurrence window on a walk")
    negatives: int = Field(default=1, gt=0, description="unsupervised: negatives per positive pair")

    @field_validator("fanout")
    @classmethod
    def _fanout_values(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(count == 0 or count < -1 for count in value):
            raise ValueError("fanout entries are neighbours per layer: positive, or -1 for all")
        return value


class OutputConfig(Section):
    dir: str | None = Field(default=None, description="null: runs/<config file stem>")


class Config(Section):
    seed: int = Field(default=0, ge=0)
    device: str = "auto"
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @field_validator("device")
    @classmethod
    def _device_syntax(cls, value: str) -> str:
        check_device_syntax(value)
        return value

    @property
    def neighbour_sampling(self) -> bool:
        """Mini-batches of seed nodes with sampled neighbourhoods: batch_size on a one-graph dataset."""
        return self.train.batch_size is not None and self.dataset.name != "PPI"

    @property
    def inference_chunk(self) -> int | None:
        """Nodes per chunk of layer-wise inference (used after sampled training), else None."""
        return self.train.chunk_size if self.neighbour_sampling else None

    @model_validator(mode="after")
    def _task_fits_dataset(self) -> Config:
        multilabel = self.dataset.name == "PPI"
        unsupervised = self.train.objective == "unsupervised"
        if self.train.monitor is None:
            self.train.monitor = "val_loss" if unsupervised else "val_micro_f1" if multilabel else "val_accuracy"
        if unsupervised and multilabel:
            raise ValueError(
                "train.objective: unsupervised training runs on one graph; PPI has 24 (train it supervised)"
            )
        if unsupervised and self.train.monitor != "val_loss":
            raise ValueError("train.monitor: unsupervised training watches the loss of held-out pairs; use val_loss")
        if multilabel and self.train.monitor == "val_accuracy":
            raise ValueError(
                "train.monitor: PPI is multi-label and reports F1, not accuracy; use val_micro_f1 or val_loss"
            )
        if self.dataset.name in PLANETOID and self.train.monitor == "val_micro_f1":
            raise ValueError(f"train.monitor: {self.dataset.name} is single-label; use val_accuracy or val_loss")
        self._sampling_fits()
        return self

    def _sampling_fits(self) -> None:
        """Neighbour sampling (batch_size on one graph) and the models and objectives it supports."""
        train = self.train
        if self.dataset.name == "PPI":  # batch_size counts graphs there
            if train.fanout is not None:
                raise ValueError(
                    "train.fanout: PPI trains on whole graphs (train.batch_size graphs per step); leave fanout null"
                )
            return
        if train.fanout is not None and train.batch_size is None:
            raise ValueError(
                "train.fanout samples neighbours of mini-batches: set train.batch_size (seed nodes per step)"
            )
        if train.fanout is not None and len(train.fanout) != self.model.layers:
            raise ValueError(
                f"train.fanout has {len(train.fanout)} entries; "
                f"it needs one per layer (model.layers: {self.model.layers})"
            )
        if train.batch_size is None:
            return
        if self.model.arch == "cheb":
            raise ValueError(
                "train.batch_size: cheb filters reach k-1 hops per layer; neighbour sampling supports gcn and sage"
            )
        if train.objective == "unsupervised":
            raise ValueError("train.batch_size: unsupervised training is full-batch; leave batch_size null")


def check_device_syntax(device: str) -> None:
    """`auto`, `cpu`, `cuda` or `cuda:N`; whether the device exists is checked when it is used."""
    ok = device in ("auto", "cpu", "cuda") or (
        device.startswith("cuda:") and device[5:].isdigit()
    )
    if not ok:
        raise ValueError(f"{device!r} is not a device: use auto, cpu, cuda or cuda:N")


def known_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Every dotted key of the schema, for "did you mean" suggestions."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(known_keys(annotation, f"{prefix}{name}."))
    return keys


def _format_error(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        matches = difflib.get_close_matches(key, known_keys(), n=1, cutoff=0.6)
        hint = f" — did you mean {matches[0]}?" if matches else ""
        return f"{key}: unknown key{hint}"
    message = error["msg"].removeprefix("Value error, ")
    if not key or isinstance(error["input"], (dict, BaseModel)):  # a cross-field check names its keys itself
        return message
    return f"{key}: {message} (got {error['input']!r})"


def validate(raw: dict[str, Any]) -> Config:
    """Validate a config dict; every mistake becomes one UserError naming the keys."""
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        lines = [_format_error(error) for error in exc.errors()]
        raise UserError("invalid config:\n  " + "\n  ".join(lines)) from None


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one `--set key.sub=value` (value parsed as YAML) to a raw config dict in place."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise UserError(f"--set {assignment!r}: expected KEY=VALUE, e.g. model.hidden=64")
    try:
        value = yaml.safe_load(text) if text else None
    except yaml.YAMLError as exc:
        raise UserError(f"--set {key}: value is not valid YAML: {exc}") from None
    set_key(raw, key, value)


def set_key(raw: dict[str, Any], key: str, value: Any, option: str = "--set") -> None:
    """Set dotted `key` of a raw config dict to an already-parsed value, creating sections."""
    node = raw
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"{option} {key}: {'.'.join(parts[:depth + 1])} is not a section")
        node = child
    node[parts[-1]] = value


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from a file, or a UserError saying what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read config: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        raise UserError(f"{path}: not a YAML text file (not UTF-8: byte {exc.start} is {byte:#04x})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a config must be a YAML mapping of sections, got {type(raw).__name__}")
    return raw


def load_config(path: Path, overrides: list[str] = ()) -> Config:
    """Read, override and validate a config file."""
    raw = read_yaml(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    return validate(raw)


def dump_config(config: Config) -> str:
    """The resolved config as YAML, every default filled in; `load_config` reads it back."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
