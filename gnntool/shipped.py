"""What ships inside the package: the configs of `configs/` and the Cora and CiteSeer raw files.

The configs live in the repository's `configs/` (where the README and the tests name them) and the
raw files in its `data/` (the default data root), which `setup.py` installs as `gnntool/configs/`
and `gnntool/shipped_data/`; run from the source tree (an editable install, or PYTHONPATH) those
package folders are absent and `configs/` and `data/` are read instead. `gnntool.data.fetch`
copies the raw files into a data root that lacks them. So an installed package trains
`gnntool train gcn_cora` offline, from any directory.

A config is named by its file stem (`gcn_cora` for `configs/gcn_cora.yaml`); its description is
its first comment line. Torch-free: `gnntool configs` and `--help` answer at once.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from gnntool.errors import UserError
from gnntool.rundir.layout import write_text

__all__ = [
    "ShippedConfig",
    "configs_dir",
    "copy_config",
    "data_dir",
    "find_config",
    "resolve_config",
    "shipped_configs",
]

PACKAGE = Path(__file__).resolve().parent
SUFFIX = ".yaml"


def _installed_or_source(package_folder: str, source_folder: str) -> Path:
    """The installed package's folder, else the source tree's folder it is installed from."""
    installed = PACKAGE / package_folder
    return installed if installed.is_dir() else PACKAGE.parent / source_folder


def configs_dir() -> Path:
    """The folder of the shipped configs."""
    return _installed_or_source("configs", "configs")


def data_dir() -> Path:
    """The shipped raw files, laid out like a data root (`Planetoid/Cora/raw/ind.cora.x`, ...)."""
    return _installed_or_source("shipped_data", "data")


@dataclass(frozen=True)
class ShippedConfig:
    name: str
    path: Path

    @property
    def description(self) -> str:
        """The config's first comment line, without the `#`."""
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
        return ""


def shipped_configs() -> list[ShippedConfig]:
    """Every shipped config, sorted by name."""
    return [ShippedConfig(path.stem, path) for path in sorted(configs_dir().glob(f"*{SUFFIX}"))]


def _close_names(name: str) -> list[str]:
    return difflib.get_close_matches(name, [config.name for config in shipped_configs()], n=5, cutoff=0.5)


def find_config(name: str) -> ShippedConfig:
    """The shipped config called `name` (its file stem; `.yaml` accepted), or an error naming the close ones."""
    stem = name.removesuffix(SUFFIX)
    found = shipped_configs()
    for config in found:
        if config.name == stem:
            return config
    close = _close_names(stem)
    hint = f"did you mean {', '.join(close)}?" if close else f"shipped: {', '.join(c.name for c in found)}"
    raise UserError(f"{name}: no config file or shipped config of that name; {hint}")


def resolve_config(argument: Path) -> Path:
    """A config file as given, else the shipped config a bare name (no suffix, no folder) names."""
    if argument.exists() or argument.suffix or argument.parent != Path("."):
        if not argument.exists():
            close = _close_names(argument.stem)
            hint = f"; or a shipped config: {', '.join(close)}?" if close else ""
            raise UserError(f"{argument}: cannot read config: no such file{hint}")
        return argument
    return find_config(argument.name).path


def copy_config(name: str, dest: Path | None, force: bool) -> Path:
    """Write the shipped config `name` to `dest` (a file, or a folder to put NAME.yaml in); return the path."""
    config = find_config(name)
    target = Path(config.name + SUFFIX) if dest is None else dest
    if target.is_dir():
        target = target / (config.name + SUFFIX)
    if target.exists() and not force:
        raise UserError(f"{target}: already exists; use --force to overwrite it")
    if not target.parent.is_dir():
        raise UserError(f"{target.parent}: no such folder")
    write_text(target, config.path.read_text(encoding="utf-8"))
    return target
