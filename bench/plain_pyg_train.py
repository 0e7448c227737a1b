"""The plain PyG script a user writes to train a full-batch GCN on the synthetic graph.

    python bench/plain_pyg_train.py --nodes 100000 --epochs 50 --out DIR [--device cpu|cuda]

It does the work `gnntool train` does for the same config, the way PyG's examples/gcn.py does
it: GCNConv(cached=True) ×2 with ReLU and dropout 0.5, Adam, cross-entropy on the training
nodes; every epoch a validation pass, keeping the weights of the best validation accuracy; then
accuracy on every split, and the model, the metrics and the hidden embeddings written to DIR.
The graph is the one gnntool generates and caches (`dataset.name: synthetic`), read from the
cache folder's .npy files with `np.load`, so both sides start from the same bytes on disk.
`bench_scale.py` times this script against `gnntool train` as whole processes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv


class GCN(torch.nn.Module):
    def __init__(self, in_channels: int, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden, cached=True)
        self.conv2 = GCNConv(hidden, out_channels, cached=True)

    def embed(self, x, edge_index):
        x = F.dropout(x, p=0.5, training=self.training)
        return F.relu(self.conv1(x, edge_index))

    def forward(self, x, edge_index):
        x = F.dropout(self.embed(x, edge_index), p=0.5, training=self.training)
        return self.conv2(x, edge_index)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--graph", type=Path, required=True, help="the synthetic graph's cache folder")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device(args.device)

    x, edge_index, y = (
        torch.from_numpy(np.load(args.graph / f"{key}.npy")).to(device) for key in ("x", "edge_index", "y")
    )
    num_nodes = x.size(0)
    order = torch.randperm(num_nodes, generator=torch.Generator().manual_seed(0)).to(device)
    train_idx, val_idx, test_idx = (
        order[: int(0.6 * num_nodes)],
        order[int(0.6 * num_nodes) : int(0.8 * num_nodes)],
        order[int(0.8 * num_nodes) :],
    )

    model = GCN(x.size(1), args.hidden, int(y.max()) + 1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    best_acc, best_state = -1.0, None
    for epoch in range(args.epochs):
        model.train()
        optimizer.zero_grad()
        out = model(x, edge_index)
        loss = F.cross_entropy(out[train_idx], y[train_idx])
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            pred = model(x, edge_index).argmax(dim=-1)
            val_acc = (pred[val_idx] == y[val_idx]).float().mean().item()
        if val_acc > best_acc:
            best_acc, best_state = val_acc, {k: v.detach().clone() for k, v in model.state_dict().items()}
        print(f"epoch {epoch + 1} loss {loss.item():.4f} val {val_acc:.4f}", flush=True)

    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        pred = model(x, edge_index).argmax(dim=-1)
        embeddings = model.embed(x, edge_index)
    metrics = {name: {"accuracy": (pred[idx] == y[idx]).float().mean().item()} for name, idx in
               (("train", train_idx), ("val", val_idx), ("test", test_idx))}
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out / "model.pt")
    np.save(args.out / "embeddings.npy", embeddings.cpu().numpy())
    (args.out / "metrics.json").write_text(json.dumps(metrics))
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
