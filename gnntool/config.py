"""The config schema: every key, its type, its default and its checks live here and only here.

`load_config` reads YAML, applies `--set key=value` overrides and validates; every mistake becomes
one `UserError` naming the key ("model.hiden: unknown key — did you mean model.hidden?").
This module must not import torch: config errors are reported before torch loads.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gnntool.errors import UserError
from gnntool.relation_names import parse_relation
from gnntool.traits import (
    DATASETS,
    DECODERS,
    LOGGERS,
    MODELS,
    NORMS,
    OBJECTIVES,
    DatasetTraits,
    ModelTraits,
    ObjectiveTraits,
    canonical_dataset,
    model_options,
    option_choices,
    option_owners,
)

ALL_RELATIONS = "all"  # train.link_relation: every relation of a typed graph


def listed(names: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return names[-1] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def one_of(value: str, table: dict[str, Any], kind: str) -> str:
    """`value` if the traits table names it, else the schema's error listing the names."""
    if value not in table:
        raise ValueError(f"unknown {kind}; choose one of {', '.join(table)}")
    return value


class Section(BaseModel):
    """A config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EdgeSplitConfig(Section):
    """Link prediction: shares of the graph's edges held out for validation and test."""

    val: float = Field(default=0.05, ge=0.0, lt=1.0, description="validation share of the edges")
    test: float = Field(default=0.1, ge=0.0, lt=1.0, description="test share of the edges")

    @model_validator(mode="after")
    def _leaves_training_edges(self) -> EdgeSplitConfig:
        if self.val + self.test >= 1.0:
            raise ValueError(
                f"dataset.edge_split: val ({self.val}) + test ({self.test}) must stay below 1 to leave training edges"
            )
        return self


class DatasetConfig(Section):
    name: str = Field(default="Cora", description=f"one of {', '.join(DATASETS)} (any capitalisation)")
    root: str | None = Field(
        default=None, description="raw-file folder; null: env GNNTOOL_DATA, else `data`"
    )
    path: str | None = Field(
        default=None, description="graph: an .npz file or a folder; graphs: an .npz file; tu: a TU-format folder"
    )
    split: Literal["public", "full", "random", "inductive", "masks", "folds"] | None = Field(
        default=None,
        description="null: the dataset's default (public for Planetoid, PPI and OGB, masks for graph, folds for tu "
        "and graphs, random for synthetic and synthetic_graphs)",
    )
    folds: int | None = Field(
        default=None, ge=2, description="split: folds only: number of (stratified) cross-validation folds; null: 10"
    )
    degree_features: bool = Field(
        default=False,
        description="whole-graph sets only: append each node's degree one-hot to its features (one more "
        "categorical column on ogbg-*)",
    )
    normalize_features: bool | None = Field(
        default=None,
        description="divide each node's features by their sum; null: the dataset's default (Planetoid: true)",
    )
    train_per_class: int = Field(default=20, gt=0, description="Planetoid random split: training nodes per class")
    num_val: int = Field(default=500, gt=0, description="Planetoid random split: validation nodes")
    num_test: int = Field(default=1000, gt=0, description="Planetoid random split: test nodes")
    train_frac: float = Field(
        default=0.6, gt=0.0, lt=1.0, description="random split (graph, synthetic, whole-graph sets): training fraction"
    )
    val_frac: float = Field(
        default=0.2, gt=0.0, lt=1.0, description="random split (graph, synthetic, whole-graph sets): validation share"
    )
    nodes: int | None = Field(
        default=None, gt=1, description="synthetic, synthetic_typed: number of nodes; null: 10000"
    )
    avg_degree: float | None = Field(
        default=None, gt=0.0, description="synthetic, synthetic_typed: directed edge_index entries per node; null: 10"
    )
    features: int | None = Field(default=None, gt=0, description="synthetic, synthetic_typed: feature width; null: 128")
    classes: int | None = Field(
        default=None, ge=2, description="synthetic, synthetic_typed: number of classes (blocks); null: 10"
    )
    homophily: float | None = Field(
        default=None, ge=0.0, le=1.0, description="synthetic only: share of edges drawn inside a class; null: 0.7"
    )
    graphs: int | None = Field(default=None, ge=3, description="synthetic_graphs only: number of graphs; null: 1000")
    graph_nodes: int | None = Field(
        default=None, ge=8, description="synthetic_graphs only: mean nodes per graph (±20%); null: 25"
    )
    edge_split: EdgeSplitConfig = Field(
        default_factory=EdgeSplitConfig,
        description="link objective: held-out edge shares (a graph file's own val_edges/test_edges take precedence)",
    )
    to_undirected: bool | None = Field(
        default=None,
        description="ogbn-* only: add every edge's reverse (arxiv and papers100M are directed); null: true",
    )
    mmap_features: bool = Field(
        default=False,
        description="synthetic, ogbn-*: memory-map the features from the processed .npy cache, not read them in",
    )
    target: str | None = Field(
        default=None,
        description="typed graphs: the labelled node type a supervised run scores; null: the one labelled type",
    )
    add_reverse: bool | None = Field(
        default=None,
        description="typed graphs: add each relation's reverse <dst>__rev_<rel>__<src>, make a relation within "
        "one type symmetric (PyG's ToUndirected); null: true",
    )

    @field_validator("name", mode="before")
    @classmethod
    def _canonical_name(cls, value: Any) -> Any:
        return canonical_dataset(value) if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _known_name(cls, value: str) -> str:
        return one_of(value, DATASETS, "dataset")

    @property
    def traits(self) -> DatasetTraits:
        return DATASETS[self.name]

    @model_validator(mode="after")
    def _split_fits_dataset(self) -> DatasetConfig:
        known = self.traits
        if self.split is None:
            self.split = known.splits[0]
        self._synthetic_defaults()
        self._typed_keys()
        if self.normalize_features is None:
            self.normalize_features = known.normalize_features
        if self.split not in known.splits:
            raise ValueError(f"dataset.split: {self.name} splits by {' or '.join(known.splits)}, not {self.split!r}")
        if known.fraction_split and self.train_frac + self.val_frac >= 1.0:
            raise ValueError("dataset.train_frac + dataset.val_frac must leave nodes for the test split")
        if known.needs_path and self.path is None:
            raise ValueError(f"dataset.path is required for dataset.name: {self.name} (an .npz file or a folder)")
        if not known.needs_path and self.path is not None:
            files = ", ".join(name for name, known in DATASETS.items() if known.needs_path)
            raise ValueError(f"dataset.path is for datasets read from your files ({files}), not {self.name}")
        self._storage_options()
        self._graph_set_options()
        return self

    def _graph_set_options(self) -> None:
        """`folds` (null: 10) with `split: folds` only; `degree_features` on whole-graph sets only."""
        if self.split == "folds":
            if self.folds is None:
                self.folds = 10
        elif self.folds is not None:
            raise ValueError(f"dataset.folds is for dataset.split: folds, not {self.split}")
        if self.degree_features and not self.traits.graph_level:
            sets = ", ".join(name for name, known in DATASETS.items() if known.graph_level)
            raise ValueError(f"dataset.degree_features is for whole-graph sets ({sets}), not {self.name}")

    def _storage_options(self) -> None:
        """`to_undirected` (null: true) for datasets stored directed only; features memory-mapped only
        from .npy caches, and never normalised (that would read them all in)."""
        if self.traits.inverse_edges and self.to_undirected is False:
            raise ValueError(
                f"dataset.to_undirected: false cannot apply to {self.name}: its files list each undirected edge "
                "once and the reverse of every one is always added, as OGB's loaders do; leave the key out"
            )
        if self.traits.directed or self.traits.inverse_edges:
            if self.to_undirected is None:
                self.to_undirected = True
        elif self.to_undirected is not None:
            directed = ", ".join(name for name, known in DATASETS.items() if known.directed or known.inverse_edges)
            raise ValueError(f"dataset.to_undirected is for {directed}, not {self.name}")
        if self.mmap_features and not self.traits.npy_cache:
            cached = ", ".join(name for name, known in DATASETS.items() if known.npy_cache)
            raise ValueError(f"dataset.mmap_features: {self.name} has no .npy cache to map; it is for {cached}")
        if self.mmap_features and self.normalize_features:
            raise ValueError(
                "dataset.mmap_features: normalising the features would read them all into memory; "
                "set normalize_features: false"
            )

    def _synthetic_defaults(self) -> None:
        """Fill a generated set's shape keys with their defaults; refuse them on other datasets."""
        for key, default in self.traits.generated.items():
            if getattr(self, key) is None:
                setattr(self, key, default)
        for key in dict.fromkeys(key for known in DATASETS.values() for key in known.generated):
            if key not in self.traits.generated and getattr(self, key) is not None:
                owners = [name for name, known in DATASETS.items() if key in known.generated]
                also = f" ({listed(owners[1:])} {'reads' if len(owners) == 2 else 'read'} it too)" if owners[1:] else ""
                raise ValueError(f"dataset.{key} is for dataset.name: {owners[0]}, not {self.name}{also}")

    def _typed_keys(self) -> None:
        """`dataset.target` and `dataset.add_reverse` (null: true) are for typed graphs only; a
        user's folder is checked when it is read (`traits.typed` is None there)."""
        if self.traits.typed is False:
            for key in ("target", "add_reverse"):
                if getattr(self, key) is not None:
                    typed = ", ".join(name for name, known in DATASETS.items() if known.typed is not False)
                    raise ValueError(f"dataset.{key} is for typed graphs ({typed}), not {self.name}")
        elif self.traits.typed and self.add_reverse is None:
            self.add_reverse = True


NormName = Literal[tuple(NORMS)]


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


# The choices come from the traits table, so a new model or aggregator needs no edit here.
ArchName = Literal[tuple(MODELS)]
DecoderName = Literal[tuple(DECODERS)]
AggregatorName = Literal[option_choices("aggregator")]


def option_description(key: str) -> str:
    """Who reads model option `key` and what it is, from the traits table."""
    owners = option_owners(key)
    option = MODELS[owners[0]].options[key]
    default = f"; null resolves to {option.default}" if option.default is not None else ""
    return f"{listed(owners)} only: {option.description}{default}"


class ModelConfig(Section):
    arch: ArchName = "gcn"
    hidden: int = Field(default=16, gt=0)
    layers: int = Field(default=2, ge=2, description="message-passing layers; the last outputs logits")
    dropout: float = Field(default=0.5, ge=0.0, lt=1.0)
    input_dropout: float | None = Field(
        default=None, ge=0.0, lt=1.0, description="dropout on the input features; null: model.dropout"
    )
    aggregator: AggregatorName | None = Field(default=None, description=option_description("aggregator"))
    pool: Literal["max", "mean"] = Field(default="max", description="sage pool aggregator only")
    l2_normalize: bool = Field(default=False, description="sage: per-layer L2 normalisation")
    k: int | None = Field(default=None, gt=0, description=option_description("k"))
    num_bases: int | None = Field(default=None, gt=0, description=option_description("num_bases"))
    relation_aggr: Literal[option_choices("relation_aggr")] | None = Field(
        default=None, description=option_description("relation_aggr")
    )
    featureless: Literal["embedding", "none"] = Field(
        default="embedding",
        description="typed graphs: a node type without features gets a learnt embedding of width hidden per node "
        "(not defined for unseen nodes) or a constant input (none)",
    )
    decoder: DecoderName = Field(
        default="dot", description="link objective: scores a node pair from its embeddings (mlp: on their product)"
    )
    norm: NormName = "none"
    norm_args: NormArgs = Field(default_factory=NormArgs)
    readout: Literal["mean", "sum", "max"] = Field(
        default="sum", description="graph objective: how node states pool into one vector per graph"
    )
    jump: Literal["last", "cat"] = Field(
        default="last", description="graph objective: pool the last layer's states, or every layer's, concatenated"
    )
    edge_features: bool = Field(
        default=False, description="graph objective, gin only: add edge embeddings to the messages (GINE)"
    )

    @property
    def traits(self) -> ModelTraits:
        return MODELS[self.arch]

    @model_validator(mode="after")
    def _arch_options(self) -> ModelConfig:
        # Keys this architecture does not read are named first, before any it lacks.
        for key in sorted(model_options(), key=lambda key: key in self.traits.options):
            self._arch_option(key)
        divides = NORMS[self.norm].divides
        if divides is not None and self.hidden % getattr(self.norm_args, divides):
            value = getattr(self.norm_args, divides)
            raise ValueError(f"model.norm_args.{divides} ({value}) must divide model.hidden ({self.hidden})")
        if self.edge_features and not self.traits.edge_features:
            takes = [name for name, known in MODELS.items() if known.edge_features]
            raise ValueError(
                f"model.edge_features: edge embeddings enter the messages of {listed(takes)}, not {self.arch}"
            )
        return self

    def _arch_option(self, key: str) -> None:
        """Model option `key`: refused by the architectures that do not read it, required or
        defaulted by those that do."""
        option, value = self.traits.options.get(key), getattr(self, key)
        if option is None:
            if value is not None:
                raise ValueError(f"model.{key} is for arch {' or '.join(option_owners(key))}, not {self.arch}")
        elif value is None:
            if option.optional:
                return
            if option.default is None:
                raise ValueError(f"model.{key} is required for arch {self.arch} ({option.description})")
            setattr(self, key, option.default)
        elif option.choices and value not in option.choices:
            raise ValueError(f"model.{key}: arch {self.arch} takes {', '.join(option.choices)}, not {value!r}")


class TrainConfig(Section):
    epochs: int = Field(default=200, gt=0)
    lr: float = Field(default=0.01, gt=0.0)
    weight_decay: float = Field(default=5.0e-4, ge=0.0)
    patience: int = Field(default=100, gt=0, description="epochs without improvement before stopping")
    monitor: str | None = Field(
        default=None,
        description="validation metric that picks the best epoch; null: the objective's default "
        "(val_accuracy, val_micro_f1 on multi-label data, val_loss unsupervised, val_auc for link; graph: "
        "the dataset's own, or as its targets say: val_accuracy, val_ap multi-label, val_rmse regression)",
    )
    batch_size: int | None = Field(
        default=None,
        gt=0,
        description="graphs per step on multi-graph data, or seed nodes (link: positive edges) per step with "
        "neighbour sampling on one graph; null: full batch",
    )
    fanout: list[int] | dict[str, list[int]] | None = Field(
        default=None,
        description="neighbour sampling: neighbours sampled per layer (len = model.layers, -1: all); "
        "null with batch_size: all neighbours; typed graphs: a list applies to every relation, a mapping "
        "{src__rel__dst: [...], default: [...]} sets relations apart (unnamed ones: default, else all)",
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
    objective: str = Field(
        default="supervised",
        description="; ".join(f"{name}: {known.description}" for name, known in OBJECTIVES.items()),
    )
    walk_length: int = Field(default=5, gt=0, description="unsupervised: steps of each random walk")
    walks_per_node: int = Field(default=1, gt=0, description="unsupervised: walks started from every node")
    window: int = Field(default=2, gt=0, description="unsupervised: co-occurrence window on a walk")
    negatives: int = Field(default=1, gt=0, description="unsupervised and link: negatives per positive pair")
    hits_k: list[int] = Field(default=[20, 50, 100], description="link: K of the reported hits@K")
    link_relation: str | None = Field(
        default=None,
        description="link on a typed graph: the relation trained and scored (source__relation__target), or all "
        "(every relation, with a relation-aware decoder such as distmult); refused on a homogeneous graph",
    )
    loss: Literal["cross_entropy", "bce", "mse", "mae"] | None = Field(
        default=None,
        description="graph objective: cross_entropy (classes), bce (0/1 labels), mse or mae (regression); "
        "null: what the data's targets are",
    )

    @field_validator("objective")
    @classmethod
    def _known_objective(cls, value: str) -> str:
        return one_of(value, OBJECTIVES, "objective")

    @field_validator("hits_k")
    @classmethod
    def _hits_k_values(cls, value: list[int]) -> list[int]:
        if any(k < 1 for k in value):
            raise ValueError("hits_k entries are numbers of negatives (K ≥ 1)")
        return value

    @field_validator("link_relation")
    @classmethod
    def _relation_spelling(cls, value: str | None) -> str | None:
        if value is not None and value != ALL_RELATIONS:
            parse_relation(value)  # its ValueError says how to spell one
        return value

    @field_validator("fanout")
    @classmethod
    def _fanout_values(cls, value: list[int] | dict[str, list[int]] | None) -> list[int] | dict[str, list[int]] | None:
        for name, counts in fanout_lists(value).items():
            if any(count == 0 or count < -1 for count in counts):
                raise ValueError("fanout entries are neighbours per layer: positive, or -1 for all")
            if name != FANOUT_DEFAULT and name is not None:
                try:
                    parse_relation(name)
                except ValueError as error:
                    raise ValueError(f"fanout: {error}, or {FANOUT_DEFAULT}") from None
        return value


FANOUT_DEFAULT = "default"  # the key of a typed fanout mapping that every relation it does not name takes


def fanout_lists(fanout: list[int] | dict[str, list[int]] | None) -> dict[str | None, list[int]]:
    """Every list of a `train.fanout`: {None: the list}, or the mapping's lists by key."""
    if fanout is None:
        return {}
    return dict(fanout) if isinstance(fanout, dict) else {None: fanout}
LoggerName = Literal[tuple(LOGGERS)]


class MlflowConfig(Section):
    """The MLflow backend of `output.loggers` (gnntool.engine.runs.tracking)."""

    tracking_uri: str | None = Field(
        default=None, description="null: env MLFLOW_TRACKING_URI, else MLflow's default (sqlite:///mlflow.db)"
    )
    experiment: str | None = Field(default=None, description="null: the config file's stem")


class WandbConfig(Section):
    """The Weights & Biases backend of `output.loggers`."""

    project: str | None = Field(default=None, description="null: the config file's stem")
    entity: str | None = Field(default=None, description="null: the API key's default entity")


class OutputConfig(Section):
    dir: str | None = Field(default=None, description="null: runs/<config file stem>")
    tensorboard: bool = Field(
        default=False, description="write TensorBoard event files under RUN/tensorboard/ (extra gnntool[tensorboard])"
    )
    loggers: list[LoggerName] = Field(
        default=[], description="experiment trackers to log to (tensorboard, mlflow, wandb; each an extra)"
    )
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    wandb: WandbConfig = Field(default_factory=WandbConfig)

    @property
    def active_loggers(self) -> tuple[str, ...]:
        """`loggers`, with tensorboard when `output.tensorboard` (its older spelling) says so."""
        return tuple(dict.fromkeys([*self.loggers, *(["tensorboard"] if self.tensorboard else [])]))


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
        return self.train.batch_size is not None and not self.dataset.traits.multi_graph

    @property
    def inference_chunk(self) -> int | None:
        """Nodes per chunk of layer-wise inference (used after sampled training), else None."""
        return self.train.chunk_size if self.neighbour_sampling else None

    @property
    def objective_traits(self) -> ObjectiveTraits:
        return OBJECTIVES[self.train.objective]

    @property
    def monitor_waits_for_data(self) -> bool:
        """Whether `train.monitor` is left for the data to settle (`ObjectiveTraits.data_monitors`,
        `gnntool.engine.monitor`): neither it nor `train.loss` is set, and only the data tells the
        kind of targets."""
        return (
            self.train.monitor is None
            and self.train.loss is None
            and bool(self.objective_traits.data_monitors)
            and self.dataset.traits.multilabel is None
        )

    @model_validator(mode="before")
    @classmethod
    def _split_for_objective(cls, raw: Any) -> Any:
        """An objective that scores no nodes (link) defaults a graph file to a random node split (its
        nodes go unused), so that a file without split masks needs no `dataset.split`."""
        if not isinstance(raw, dict) or not isinstance(raw.get("train", {}), dict):
            return raw
        dataset = raw.get("dataset") or {}
        if not isinstance(dataset, dict) or dataset.get("split") is not None:
            return raw
        objective = OBJECTIVES.get(raw.get("train", {}).get("objective", TrainConfig.model_fields["objective"].default))
        name = canonical_dataset(str(dataset.get("name", DatasetConfig.model_fields["name"].default)))
        if objective and name in DATASETS and not objective.node_splits and "random" in DATASETS[name].splits:
            return {**raw, "dataset": {**dataset, "split": "random"}}
        return raw

    @model_validator(mode="before")
    @classmethod
    def _objective_for_dataset(cls, raw: Any) -> Any:
        """A whole-graph set without `train.objective` trains the whole-graph objective (the one
        table entry that is `graph_level`), not node classification, which it cannot."""
        if not isinstance(raw, dict) or not isinstance(raw.get("train", {}), dict) or not isinstance(
            raw.get("dataset") or {}, dict
        ):
            return raw
        train, dataset = raw.get("train") or {}, raw.get("dataset") or {}
        name = canonical_dataset(str(dataset.get("name", DatasetConfig.model_fields["name"].default)))
        if "objective" in train or name not in DATASETS or not DATASETS[name].graph_level:
            return raw
        objective = next(key for key, known in OBJECTIVES.items() if known.graph_level)
        return {**raw, "train": {**train, "objective": objective}}

    @model_validator(mode="after")
    def _task_fits_dataset(self) -> Config:
        objective, dataset = self.objective_traits, self.dataset.traits
        name = self.train.objective
        if objective.one_graph and dataset.multi_graph:
            raise ValueError(f"train.objective: {name} training runs on one graph; {self.dataset.name} has several")
        if objective.graph_level != dataset.graph_level:
            if objective.graph_level:
                raise ValueError(f"train.objective: {name} predicts whole graphs; {self.dataset.name} labels nodes")
            raise ValueError(f"train.objective: {self.dataset.name} labels whole graphs; use train.objective: graph")
        if self.train.loss is not None and not objective.graph_level:
            raise ValueError(f"train.loss chooses the graph objective's loss, not {name}'s")
        if self.train.monitor is None and not self.monitor_waits_for_data:
            multilabel = dataset.multilabel and objective.multilabel_monitor
            self.train.monitor = objective.multilabel_monitor if multilabel else objective.default_monitor
            if self.train.loss in objective.loss_monitors:
                self.train.monitor = objective.loss_monitors[self.train.loss]
            elif objective.needs_labels and dataset.monitor in objective.monitors:  # the dataset's own, where reported
                self.train.monitor = dataset.monitor
        if self.train.monitor is not None:  # else settled once the data is read (gnntool.engine.monitor)
            check_monitor(self.train.monitor, name, objective, dataset, self.dataset.name)
        self._link_relation_fits()
        self._sampling_fits()
        return self

    def _link_relation_fits(self) -> None:
        """`train.link_relation` needs the link objective and a typed graph (a user's folder is
        checked once read); `all` needs a decoder that reads the relation."""
        relation, name = self.train.link_relation, self.train.objective
        if relation is None:
            return
        if not self.objective_traits.link_relation:
            raise ValueError(f"train.link_relation is for link prediction on a typed graph; train.objective is {name}")
        if self.dataset.traits.typed is False:
            raise ValueError(
                f"train.link_relation is for typed graphs (several node and edge types); {self.dataset.name} is "
                "homogeneous: leave it out"
            )
        if relation == ALL_RELATIONS and not DECODERS[self.model.decoder].relational:
            relational = [decoder for decoder, known in DECODERS.items() if known.relational]
            raise ValueError(
                f"train.link_relation: all trains every relation with one decoder, which must tell them apart: "
                f"set model.decoder: {listed(relational)} (not {self.model.decoder})"
            )

    def _sampling_fits(self) -> None:
        """Neighbour sampling (batch_size on one graph) and the models and objectives it supports."""
        train = self.train
        if self.dataset.traits.multi_graph:  # batch_size counts graphs there
            if train.fanout is not None:
                raise ValueError(
                    f"train.fanout: {self.dataset.name} trains on whole graphs (train.batch_size graphs per step); "
                    "leave fanout null"
                )
            return
        if train.fanout is not None and train.batch_size is None:
            raise ValueError(
                "train.fanout samples neighbours of mini-batches: set train.batch_size (seed nodes per step)"
            )
        for name, counts in fanout_lists(train.fanout).items():
            if len(counts) != self.model.layers:
                key = "train.fanout" if name is None else f"train.fanout.{name}"
                raise ValueError(
                    f"{key} has {len(counts)} entries; it needs one per layer (model.layers: {self.model.layers})"
                )
        if train.batch_size is None:
            return
        if not self.model.traits.sampled:
            sampled = [name for name, known in MODELS.items() if known.sampled]
            raise ValueError(
                f"train.batch_size: {self.model.arch} {self.model.traits.unsampled}; "
                f"neighbour sampling supports {listed(sampled)}"
            )
        if self.objective_traits.full_batch:
            raise ValueError(f"train.batch_size: {train.objective} training is full-batch; leave batch_size null")


def check_monitor(
    monitor: str, objective_name: str, objective: ObjectiveTraits, traits: DatasetTraits, dataset: str
) -> None:
    """`train.monitor` must be one the objective reports on the dataset, and fit single- or
    multi-label data."""
    if monitor not in objective.monitors:
        raise ValueError(
            f"train.monitor: {objective_name} training reports {', '.join(objective.monitors)}; not {monitor!r}"
        )
    if monitor in objective.dataset_monitors and traits.monitor != monitor:
        owners = ", ".join(name for name, known in DATASETS.items() if known.monitor == monitor)
        raise ValueError(f"train.monitor: {monitor} is the official metric of {owners}; {dataset} does not report it")
    multilabel = traits.multilabel
    if objective.multilabel_monitor is None or multilabel is None:
        return
    if multilabel and monitor == objective.default_monitor:
        raise ValueError(
            f"train.monitor: {dataset} is multi-label and reports F1, not accuracy; "
            f"use {objective.multilabel_monitor} or val_loss"
        )
    if not multilabel and monitor == objective.multilabel_monitor:
        raise ValueError(f"train.monitor: {dataset} is single-label; use {objective.default_monitor} or val_loss")


def check_device(device: str) -> None:
    """`check_device_syntax` for a command-line `--device`: a UserError naming the option."""
    try:
        check_device_syntax(device)
    except ValueError as exc:
        raise UserError(f"--device: {exc}") from None


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


def read_overridden(path: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """A config file's raw mapping with the `--set` overrides applied, not yet validated."""
    raw = read_yaml(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    return raw


def load_config(path: Path, overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a config file."""
    return validate(read_overridden(path, overrides))


def dump_config(config: Config) -> str:
    """The resolved config as YAML, every default filled in; `load_config` reads it back."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
