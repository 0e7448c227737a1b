"""What the config schema must know about each dataset, model and training objective, torch-free.

The schema (`gnntool.config`) validates against these tables before torch is imported; the
dataset registry (`gnntool.data.LOADER_OF`), the model registry (`gnntool.models.MODELS`) and the
objective registry (`gnntool.engine.objectives.OBJECTIVE_CLASSES`) hold the same names, so adding a
dataset, a model or an objective is one line here plus its loader or module (and its line in that
registry), never a schema edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetTraits:
    """One dataset as the schema sees it.

    `loader` names the loader family in `gnntool.data.LOADERS`; `splits` are the allowed values
    of `dataset.split`, the first being the default; `multilabel` is None when the data decides
    (a user's graph file); `fraction_split` means the random split is by `train_frac`/`val_frac`;
    `needs_path` means `dataset.path` is required (and refused elsewhere); `generated` names the
    keys a generated set's shape comes from (`nodes`, `avg_degree`, ...) with their defaults (other
    datasets refuse them); `graph_level` means one target per graph: the loader returns a
    `gnntool.data.graphsets.GraphSet` of many small graphs (`train.objective: graph`); `typed`
    means the graph has several node and edge types (None: the data decides, a user's folder),
    so the typed-only keys apply (`dataset.target`, `dataset.add_reverse`); `monitor` is the
    validation metric of the dataset's own scorer (OGB's Evaluator), the default monitor of
    objectives that score labels; `directed` means `dataset.to_undirected` applies (null: true);
    `inverse_edges` means the files list each edge once and the loader always adds its reverse
    (OGB's `add_inverse_edge`), so `dataset.to_undirected: false` cannot be honoured;
    `npy_cache` means the processed cache is .npy files whose features can be memory-mapped.
    """

    loader: str
    splits: tuple[str, ...]
    multi_graph: bool = False
    multilabel: bool | None = False
    normalize_features: bool = False
    fraction_split: bool = False
    needs_path: bool = False
    generated: Mapping[str, int | float] = field(default_factory=dict)
    graph_level: bool = False
    typed: bool | None = False
    aliases: tuple[str, ...] = ()
    monitor: str | None = None
    directed: bool = False
    inverse_edges: bool = False
    npy_cache: bool = False


SPLITS = ("train", "val", "test")  # the parts of a dataset every run scores, in this order

PLANETOID_SPLITS = ("public", "full", "random", "inductive")
GRAPH_SET_SPLITS = ("folds", "random")  # whole-graph sets without a split of their own

SYNTHETIC_SHAPE = {"nodes": 10000, "avg_degree": 10.0, "features": 128, "classes": 10, "homophily": 0.7}
SYNTHETIC_GRAPHS_SHAPE = {"graphs": 1000, "graph_nodes": 25}

DATASETS: dict[str, DatasetTraits] = {
    "Cora": DatasetTraits("planetoid", PLANETOID_SPLITS, normalize_features=True),
    "CiteSeer": DatasetTraits("planetoid", PLANETOID_SPLITS, normalize_features=True),
    "PubMed": DatasetTraits("planetoid", PLANETOID_SPLITS, normalize_features=True),
    "PPI": DatasetTraits("ppi", ("public",), multi_graph=True, multilabel=True),
    "graph": DatasetTraits(
        "graph", ("masks", "random"), multilabel=None, fraction_split=True, needs_path=True, typed=None
    ),
    "synthetic": DatasetTraits(
        "synthetic", ("random",), fraction_split=True, generated=SYNTHETIC_SHAPE, npy_cache=True
    ),
    # gnntool.data.typed.synthetic: a typed graph whose `same`/`other` relations carry the class
    # signal that its flattened edges hide; its homophily is fixed (1 / classes), not a key.
    "synthetic_typed": DatasetTraits(
        "synthetic_typed", ("random",), fraction_split=True,
        generated={key: SYNTHETIC_SHAPE[key] for key in ("nodes", "avg_degree", "features", "classes")},
        typed=True,
    ),
    # OGB node property prediction (gnntool.data.ogb): OGB's own split only; arxiv and papers100M
    # come directed; products and proteins list each undirected edge once, and the loader adds
    # the reverse of every one, as OGB's loaders do.
    "ogbn-arxiv": DatasetTraits("ogb", ("public",), directed=True, npy_cache=True),
    "ogbn-products": DatasetTraits("ogb", ("public",), inverse_edges=True, npy_cache=True),
    "ogbn-proteins": DatasetTraits(
        "ogb", ("public",), multilabel=True, monitor="val_auc", inverse_edges=True, npy_cache=True
    ),
    "ogbn-papers100M": DatasetTraits("ogb", ("public",), directed=True, npy_cache=True),
    # Whole-graph prediction (gnntool.data.graphsets, docs/graph-level.md): many small graphs, one
    # target each; a TU folder or an .npz decides classes, multi-label or regression itself.
    "tu": DatasetTraits(
        "tu", GRAPH_SET_SPLITS, multi_graph=True, graph_level=True, multilabel=None, fraction_split=True,
        needs_path=True,
    ),
    "graphs": DatasetTraits(
        "graphs", GRAPH_SET_SPLITS, multi_graph=True, graph_level=True, multilabel=None, fraction_split=True,
        needs_path=True,
    ),
    "synthetic_graphs": DatasetTraits(
        "synthetic_graphs", ("random", "folds"), multi_graph=True, graph_level=True, fraction_split=True,
        generated=SYNTHETIC_GRAPHS_SHAPE,
    ),
    # OGB graph property prediction: scaffold split, categorical atom and bond features, each bond
    # listed once (the loader adds its reverse, as OGB's does).
    "ogbg-molhiv": DatasetTraits(
        "ogbg", ("public",), multi_graph=True, graph_level=True, multilabel=True, monitor="val_auc", inverse_edges=True
    ),
    "ogbg-molpcba": DatasetTraits(
        "ogbg", ("public",), multi_graph=True, graph_level=True, multilabel=True, monitor="val_ap", inverse_edges=True
    ),
    # gnntool.data.typed.ogb_mag: OGB's typed citation graph, target `paper`
    "ogbn-mag": DatasetTraits("ogb_typed", ("public",), typed=True),
}


def canonical_dataset(name: str) -> str:
    """The table's spelling of `name`, accepted in any capitalisation or as an alias; else `name`."""
    for canonical, traits in DATASETS.items():
        if name.lower() in (canonical.lower(), *(alias.lower() for alias in traits.aliases)):
            return canonical
    return name


@dataclass(frozen=True)
class ObjectiveTraits:
    """One training objective as the schema sees it.

    `monitors` are the allowed `train.monitor` values; the default is the dataset's own
    (`DatasetTraits.monitor`) where `needs_labels`, else `default_monitor`, or `multilabel_monitor`
    on multi-label data. `dataset_monitors` exist only where the dataset's own scorer reports them.
    `one_graph`: refused on multi-graph datasets;
    `full_batch`: refused with `train.batch_size`; `needs_labels`: the data must be labelled;
    `node_splits`: scores the nodes of `dataset.split` (else a graph file without split masks
    defaults to a random split, whose nodes go unused); `distributed`: trains under torchrun;
    `link_relation`: reads `train.link_relation` (the relation of a typed graph it predicts).
    `data_monitors`: where the dataset leaves its kind of targets to the data (`multilabel` None)
    and neither `train.monitor` nor `train.loss` is set, the monitor waits for the data: the
    objective reads the kind (`Objective.targets_kind`) and this table maps it to the monitor
    (`gnntool.engine.monitor`).
    """

    monitors: tuple[str, ...]
    default_monitor: str
    multilabel_monitor: str | None = None
    dataset_monitors: tuple[str, ...] = ()
    one_graph: bool = False
    full_batch: bool = False
    needs_labels: bool = False
    node_splits: bool = True
    distributed: bool = True
    link_relation: bool = False
    graph_level: bool = False  # predicts whole graphs: runs on the datasets whose traits say graph_level
    loss_monitors: Mapping[str, str] = field(default_factory=dict)  # train.loss -> the monitor it implies
    data_monitors: Mapping[str, str] = field(default_factory=dict)  # the data's kind of targets -> the monitor
    description: str = ""


OBJECTIVES: dict[str, ObjectiveTraits] = {
    "supervised": ObjectiveTraits(
        ("val_accuracy", "val_micro_f1", "val_loss", "val_auc"),
        "val_accuracy",
        multilabel_monitor="val_micro_f1",
        dataset_monitors=("val_auc",),
        needs_labels=True,
        description="node classification from labels (cross-entropy; per-label BCE when multi-label)",
    ),
    "unsupervised": ObjectiveTraits(
        ("val_loss",),
        "val_loss",
        one_graph=True,
        full_batch=True,
        distributed=False,
        description="GraphSAGE's random-walk loss (Hamilton et al. 2017, eq. 1), no labels needed",
    ),
    "link": ObjectiveTraits(
        ("val_auc", "val_ap", "val_mrr", "val_loss"),
        "val_auc",
        one_graph=True,
        node_splits=False,
        distributed=False,
        link_relation=True,
        description="link prediction: held-out edges scored against non-edges (docs/link-prediction.md)",
    ),
    "graph": ObjectiveTraits(
        ("val_accuracy", "val_auc", "val_ap", "val_rmse", "val_mae", "val_loss"),
        "val_accuracy",
        needs_labels=True,
        distributed=False,
        graph_level=True,
        loss_monitors={"mse": "val_rmse", "mae": "val_rmse", "bce": "val_ap"},
        data_monitors={"classes": "val_accuracy", "multilabel": "val_ap", "regression": "val_rmse"},
        description="whole-graph classification or regression with a readout (docs/graph-level.md)",
    ),
}


@dataclass(frozen=True)
class ModelOption:
    """A key of the `model` section that only the architectures listing it read (others refuse it).

    `choices` are its allowed values (empty: any value of the key's type in the schema);
    `default` is what null resolves to, None meaning the key is required; `gathered` are the
    choices whose layers cannot take a row slice of the graph in layer-wise inference and get
    gathered blocks of neighbours instead (the layers say so with their `row_slices` attribute).
    """

    description: str
    choices: tuple[str, ...] = ()
    default: str | None = None
    gathered: tuple[str, ...] = ()
    optional: bool = False


@dataclass(frozen=True)
class ModelTraits:
    """One architecture (`model.arch`) as the schema sees it.

    `options` are the model-specific keys it reads; `sampled`: it trains on neighbour-sampled
    mini-batches (else `unsampled` says why not); `layerwise`: its layers run one at a time over
    chunks of nodes, as inference after sampled training does; `row_sliced`: in layer-wise
    inference its layers take row slices of the whole graph (unless an option's choice is
    `gathered`); `typed`: it runs on typed graphs (`gnntool.models.TYPED_LAYERS` builds its layers).
    """

    options: Mapping[str, ModelOption] = field(default_factory=dict)
    sampled: bool = True
    unsampled: str = ""
    layerwise: bool = True
    row_sliced: bool = True
    typed: bool = True
    edge_features: bool = False  # its messages can take edge embeddings (`model.edge_features`, GINE)

    def __post_init__(self) -> None:
        # Sampled training is followed by layer-wise inference; a refusal must give its reason.
        if self.sampled and not self.layerwise:
            raise ValueError("a model trained on sampled mini-batches must run layer-wise")
        if not self.sampled and not self.unsampled:
            raise ValueError("a model that cannot be sampled must say why (`unsampled`)")

    def takes_row_slices(self, values: Mapping[str, object]) -> bool:
        """Whether layer-wise inference takes row slices with these option values (a `model` section)."""
        gathered = any(values.get(key) in option.gathered for key, option in self.options.items())
        return self.layerwise and self.row_sliced and not gathered


# typed graphs: how a node combines what its incoming relations send (gnntool.models.typed)
RELATION_AGGR = ModelOption(
    "typed graphs: how a node combines its incoming relations' outputs",
    choices=("sum", "mean", "max"),  # gnntool.models.typed.RELATION_AGGREGATIONS
    default="sum",
)

MODELS: dict[str, ModelTraits] = {
    "gcn": ModelTraits(options={"relation_aggr": RELATION_AGGR}),
    "sage": ModelTraits(
        options={
            "aggregator": ModelOption(
                "how a node combines its neighbours",
                choices=("mean", "gcn", "lstm", "pool"),  # gnntool.models.sage.AGGREGATORS
                default="mean",
                gathered=("lstm", "pool"),
            ),
            "relation_aggr": RELATION_AGGR,
        }
    ),
    "cheb": ModelTraits(
        options={"k": ModelOption("number of Chebyshev terms")},
        sampled=False,
        unsampled="filters reach k-1 hops per layer",
        layerwise=False,  # a layer needs k-1 hops of neighbours, more than one block holds
        row_sliced=False,
        typed=False,  # its Laplacian is one square graph's, not a relation's between two types
    ),
    "rgcn": ModelTraits(
        options={"num_bases": ModelOption("basis decomposition: number of bases (null: a full weight per relation)",
                                          optional=True)}
    ),
    "gin": ModelTraits(edge_features=True, typed=False),  # whole-graph and node-level; no typed layer
}


def model_options() -> tuple[str, ...]:
    """Every model-specific key some architecture reads, in table order."""
    return tuple(dict.fromkeys(key for known in MODELS.values() for key in known.options))


def option_owners(key: str) -> tuple[str, ...]:
    """The architectures that read model option `key`."""
    return tuple(name for name, known in MODELS.items() if key in known.options)


def option_choices(key: str) -> tuple[str, ...]:
    """Every value some architecture allows for model option `key`, in table order."""
    choices = (choice for name in option_owners(key) for choice in MODELS[name].options[key].choices)
    return tuple(dict.fromkeys(choices))


@dataclass(frozen=True)
class NormTraits:
    """One normalisation layer (`model.norm`) as the schema sees it: `divides` names the
    `model.norm_args` key that must divide the hidden width (GroupNorm's groups)."""

    divides: str | None = None


# gnntool.models.norms.NORMS builds each (tests/models/test_norms.py ties the two).
NORMS: dict[str, NormTraits] = {
    "none": NormTraits(),
    "batch": NormTraits(),
    "batchrenorm": NormTraits(),
    "layer": NormTraits(),
    "instance": NormTraits(),
    "group": NormTraits(divides="groups"),
}


@dataclass(frozen=True)
class DecoderTraits:
    """One pair decoder of link prediction (`model.decoder`): `top_k` means `predict --top-k` can
    search every pair exactly (a dot product of z_v with a query row per source, the decoder's
    `search_queries`); `relational` that it reads each
    pair's relation (DistMult), as `train.link_relation: all` needs."""

    top_k: bool = False
    relational: bool = False  # scores each relation of a typed graph with its own parameters


# gnntool.models.decoders.DECODERS builds each (tests/test_registries.py ties the two).
DECODERS: dict[str, DecoderTraits] = {
    "dot": DecoderTraits(top_k=True),
    "mlp": DecoderTraits(),
    "distmult": DecoderTraits(top_k=True, relational=True),
}


@dataclass(frozen=True)
class LoggerTraits:
    """One experiment tracker (`output.loggers`, `--logger`): `package` is the module whose import
    tells whether it is installed, `extra` the gnntool extra that installs it."""

    package: str
    extra: str


# gnntool.engine.runs.tracking.LOGGERS implements each (tests/test_registries.py ties the two).
LOGGERS: dict[str, LoggerTraits] = {
    "tensorboard": LoggerTraits("torch.utils.tensorboard", "tensorboard"),
    "mlflow": LoggerTraits("mlflow", "mlflow"),
    "wandb": LoggerTraits("wandb", "wandb"),
}
