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
    `needs_path` means `dataset.path` is required (and refused elsewhere); `generated` means the
    graph's shape comes from the synthetic keys (`nodes`, `avg_degree`, ...); `monitor` is the
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
    generated: bool = False
    aliases: tuple[str, ...] = ()
    monitor: str | None = None
    directed: bool = False
    inverse_edges: bool = False
    npy_cache: bool = False


SPLITS = ("train", "val", "test")  # the parts of a dataset every run scores, in this order

PLANETOID_SPLITS = ("public", "full", "random", "inductive")

DATASETS: dict[str, DatasetTraits] = {
    "Cora": DatasetTraits("planetoid", PLANETOID_SPLITS, normalize_features=True),
    "CiteSeer": DatasetTraits("planetoid", PLANETOID_SPLITS, normalize_features=True),
    "PubMed": DatasetTraits("planetoid", PLANETOID_SPLITS, normalize_features=True),
    "PPI": DatasetTraits("ppi", ("public",), multi_graph=True, multilabel=True),
    "graph": DatasetTraits("graph", ("masks", "random"), multilabel=None, fraction_split=True, needs_path=True),
    "synthetic": DatasetTraits("synthetic", ("random",), fraction_split=True, generated=True, npy_cache=True),
    # OGB node property prediction (gnntool.data.ogb): OGB's own split only; arxiv and papers100M
    # come directed; products and proteins list each undirected edge once, and the loader adds
    # the reverse of every one, as OGB's loaders do.
    "ogbn-arxiv": DatasetTraits("ogb", ("public",), directed=True, npy_cache=True),
    "ogbn-products": DatasetTraits("ogb", ("public",), inverse_edges=True, npy_cache=True),
    "ogbn-proteins": DatasetTraits(
        "ogb", ("public",), multilabel=True, monitor="val_auc", inverse_edges=True, npy_cache=True
    ),
    "ogbn-papers100M": DatasetTraits("ogb", ("public",), directed=True, npy_cache=True),
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
    defaults to a random split, whose nodes go unused); `distributed`: trains under torchrun.
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
        description="link prediction: held-out edges scored against non-edges (docs/link-prediction.md)",
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


@dataclass(frozen=True)
class ModelTraits:
    """One architecture (`model.arch`) as the schema sees it.

    `options` are the model-specific keys it reads; `sampled`: it trains on neighbour-sampled
    mini-batches (else `unsampled` says why not); `layerwise`: its layers run one at a time over
    chunks of nodes, as inference after sampled training does; `row_sliced`: in layer-wise
    inference its layers take row slices of the whole graph (unless an option's choice is
    `gathered`).
    """

    options: Mapping[str, ModelOption] = field(default_factory=dict)
    sampled: bool = True
    unsampled: str = ""
    layerwise: bool = True
    row_sliced: bool = True

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


MODELS: dict[str, ModelTraits] = {
    "gcn": ModelTraits(),
    "sage": ModelTraits(
        options={
            "aggregator": ModelOption(
                "how a node combines its neighbours",
                choices=("mean", "gcn", "lstm", "pool"),  # gnntool.models.sage.AGGREGATORS
                default="mean",
                gathered=("lstm", "pool"),
            )
        }
    ),
    "cheb": ModelTraits(
        options={"k": ModelOption("number of Chebyshev terms")},
        sampled=False,
        unsampled="filters reach k-1 hops per layer",
        layerwise=False,  # a layer needs k-1 hops of neighbours, more than one block holds
        row_sliced=False,
    ),
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
    search every pair exactly (a dot product of embeddings)."""

    top_k: bool = False


# gnntool.models.decoders.DECODERS builds each (tests/test_registries.py ties the two).
DECODERS: dict[str, DecoderTraits] = {
    "dot": DecoderTraits(top_k=True),
    "mlp": DecoderTraits(),
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
