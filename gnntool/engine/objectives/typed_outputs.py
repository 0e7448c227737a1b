"""What every objective on a typed graph writes the same way: each node type's embeddings
(`embeddings/<type>.npy`), `embed --type`, and each type's own node ids."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from gnntool.engine.typed_inputs import TypedInference, TypedTask
from gnntool.errors import UserError
from gnntool.rundir.layout import typed_embeddings


class TypedOutputs:
    """Mixed into an `Objective` on a `TypedTask`: its `embeds_output` chooses the last layer's
    output or the representation entering it; `default_type` is what `embed` writes without `--type`."""

    task: TypedTask
    embeds_output: bool

    def default_type(self) -> str | None:
        """`embed`'s node type when `--type` is not given."""
        return self.task.target

    def inference(self, model: Any) -> TypedInference:
        return self.task.inference(model)

    def node_type(self, node_type: str | None) -> str:
        """`embed --type`'s type (default: `default_type`), which must be one of the graph's."""
        chosen = node_type or self.default_type()
        types = list(self.task.graph.node_ids)
        if chosen not in types:
            raise UserError(f"--type: the graph's node types are {', '.join(types)}; not {chosen!r}")
        return chosen

    def type_embeddings(self, outputs: TypedInference) -> dict[str, Tensor]:
        """Every node type's embeddings (the last layer's output, or the representation entering it)."""
        return outputs.output() if self.embeds_output else outputs.hidden()

    def embedding_files(self, outputs: TypedInference) -> dict[str, np.ndarray]:
        """embeddings/<type>.npy for every node type."""
        return {typed_embeddings(t): rows.float().cpu().numpy() for t, rows in self.type_embeddings(outputs).items()}

    def embedded_rows(self, outputs: TypedInference, node_type: str | None) -> tuple[np.ndarray, np.ndarray]:
        """`embed`'s rows and ids: the nodes of `node_type` (default: `default_type`)."""
        chosen = self.node_type(node_type)
        rows = self.type_embeddings(outputs)[chosen].float().cpu().numpy()
        return rows, self.node_ids(chosen)

    def node_ids(self, node_type: str) -> np.ndarray:
        """A node type's own ids, in row order (row positions if the input gave none)."""
        ids = self.task.dataset.node_id.get(node_type)
        return ids if ids is not None else np.arange(int(self.task.graph.node_ids[node_type].numel()))
