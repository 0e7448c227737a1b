"""The registry of experiment trackers (`output.loggers`, `--logger`) and the check of their packages.

`LOGGERS` maps each name of `gnntool.traits.LOGGERS` to its `Logger` class; each backend's
package is an extra (`pip install 'gnntool[mlflow]'`), imported only when a run uses it.
`check_loggers` refuses a missing one before anything is made.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from gnntool.engine.runs.board import TensorBoardLogger
from gnntool.engine.runs.tracking.base import Logger
from gnntool.engine.runs.tracking.mlflow_backend import MlflowLogger
from gnntool.engine.runs.tracking.wandb_backend import WandbLogger
from gnntool.errors import UserError
from gnntool.traits import LOGGERS as KNOWN

LOGGERS: dict[str, type[Logger]] = {
    "tensorboard": TensorBoardLogger,
    "mlflow": MlflowLogger,
    "wandb": WandbLogger,
}


def install_command(name: str) -> str:
    return f"pip install 'gnntool[{KNOWN[name].extra}]'"


def check_loggers(names: Iterable[str]) -> None:
    """A UserError naming the install command for the first tracker whose package is missing."""
    for name in names:
        try:
            importlib.import_module(KNOWN[name].package)
        except ImportError:
            raise UserError(
                f"output.loggers: {name} needs the {KNOWN[name].extra} package, which is not installed; "
                f"{install_command(name)}"
            ) from None
