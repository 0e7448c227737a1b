"""One labelled graph with split masks → a `GraphDataset`, transductive or inductive."""

from __future__ import annotations

from torch_geometric.data import Data

from gnntool.data.dataset import SPLITS, GraphDataset, SplitPart


def single_graph_dataset(data: Data, inductive: bool = False) -> GraphDataset:
    """Split one graph by its `train_mask`, `val_mask` and `test_mask`.

    Transductive: every split runs on the whole graph and scores its own nodes. Inductive (the
    usual GraphSAGE setting): training runs on the subgraph induced by every node that is neither
    a validation nor a test node, validation on the graph without the test nodes, and only the
    test pass sees the whole graph, so test nodes and their edges are never seen in training.
    """
    if not inductive:
        splits = {split: [SplitPart(data, data[f"{split}_mask"])] for split in SPLITS}
    else:
        train_graph = data.subgraph(~(data.val_mask | data.test_mask))
        val_graph = data.subgraph(~data.test_mask)
        splits = {
            "train": [SplitPart(train_graph, train_graph.train_mask)],
            "val": [SplitPart(val_graph, val_graph.val_mask)],
            "test": [SplitPart(data, data.test_mask)],
        }
    return GraphDataset(
        graphs=[data],
        splits=splits,
        num_features=data.num_features,
        num_classes=int(data.y.max()) + 1,
    )
