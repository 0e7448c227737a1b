"""Loading Planetoid datasets: splits, normalisation, roots, the mirror, offline errors, safety."""

from __future__ import annotations

import os
import pickle
import shutil
import time
from pathlib import Path

import pytest
import torch
import torch_geometric.io.planetoid as pyg_planetoid_io
from conftest import TouchesFile
from torch_geometric.datasets import Planetoid

from gnntool import shipped
from gnntool.config import DatasetConfig
from gnntool.data import LOADER_OF, load_dataset, planetoid
from gnntool.data.planetoid import load_planetoid, raw_file_names
from gnntool.errors import UserError

SHIPPED = shipped.data_dir() / "Planetoid"
CORA_FILES = raw_file_names("Cora")
PUBMED_FILES = raw_file_names("PubMed")


def copy_cora(root: Path) -> Path:
    """A writable data root holding the shipped Cora raw files; returns its raw folder."""
    raw = root / "Planetoid" / "Cora" / "raw"
    shutil.copytree(SHIPPED / "Cora" / "raw", raw)
    return raw


class RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))




@pytest.fixture(scope="module")
def cora_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One processed copy of Cora shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("cora-root")
    copy_cora(root)
    return root


def cora(root: Path, **settings) -> DatasetConfig:
    return DatasetConfig(name="Cora", root=str(root), **settings)


def test_registry() -> None:
    assert {"Cora", "CiteSeer", "PubMed"} <= set(LOADER_OF)
    assert all(LOADER_OF[name] is planetoid for name in ("Cora", "CiteSeer", "PubMed"))
    assert load_dataset(DatasetConfig(name="Cora"), seed=0).graphs[0].num_nodes == 2708


def test_cora_public_split(cora_root: Path) -> None:
    data = load_planetoid(cora(cora_root), seed=0)
    assert data.num_nodes == 2708
    assert data.x.shape == (2708, 1433) and data.x.dtype == torch.float32 and not data.x.is_sparse
    assert data.edge_index.shape[0] == 2 and data.edge_index.dtype == torch.long
    assert int(data.y.max()) + 1 == 7
    assert [int(m.sum()) for m in (data.train_mask, data.val_mask, data.test_mask)] == [140, 500, 1000]
    assert torch.bincount(data.y[data.train_mask], minlength=7).tolist() == [20] * 7
    # normalised: each row sums to 1 (or 0 for an all-zero row)
    sums = data.x.sum(dim=1)
    assert torch.all(torch.isclose(sums, torch.ones_like(sums)) | (sums == 0))


def test_features_not_normalised(cora_root: Path) -> None:
    data = load_planetoid(cora(cora_root, normalize_features=False), seed=0)
    assert set(data.x.unique().tolist()) <= {0.0, 1.0}  # Cora's bag-of-words
    assert data.x.sum(dim=1).max() > 1


def test_same_data_as_pyg(cora_root: Path, tmp_path: Path) -> None:
    ours = load_planetoid(cora(cora_root, normalize_features=False), seed=0)
    copy_cora(tmp_path)
    theirs = Planetoid(str(tmp_path / "Planetoid"), "Cora")[0]
    for key in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(ours[key], theirs[key]), key


def test_full_split(cora_root: Path) -> None:
    data = load_planetoid(cora(cora_root, split="full"), seed=0)
    assert [int(m.sum()) for m in (data.val_mask, data.test_mask)] == [500, 1000]
    assert torch.equal(data.train_mask, ~(data.val_mask | data.test_mask))


def test_random_split_is_seeded(cora_root: Path) -> None:
    rng_before = torch.get_rng_state()
    a = load_planetoid(cora(cora_root, split="random"), seed=1)
    b = load_planetoid(cora(cora_root, split="random"), seed=1)
    c = load_planetoid(cora(cora_root, split="random"), seed=2)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the global RNG is not used
    for key in ("train_mask", "val_mask", "test_mask"):
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a.train_mask, c.train_mask)
    assert not torch.equal(a.test_mask, c.test_mask)
    for data in (a, c):
        assert torch.bincount(data.y[data.train_mask], minlength=7).tolist() == [20] * 7
        assert [int(data.val_mask.sum()), int(data.test_mask.sum())] == [500, 1000]
        assert not (data.train_mask & data.val_mask).any()
        assert not (data.train_mask & data.test_mask).any()
        assert not (data.val_mask & data.test_mask).any()


def test_random_split_sizes_follow_config(cora_root: Path) -> None:
    data = load_planetoid(cora(cora_root, split="random", train_per_class=5, num_val=100, num_test=200), seed=0)
    assert torch.bincount(data.y[data.train_mask], minlength=7).tolist() == [5] * 7
    assert [int(data.val_mask.sum()), int(data.test_mask.sum())] == [100, 200]


def test_random_split_impossible_sizes(cora_root: Path) -> None:
    with pytest.raises(UserError, match="dataset.train_per_class"):
        load_planetoid(cora(cora_root, split="random", train_per_class=10_000), seed=0)
    with pytest.raises(UserError, match="dataset.num_val"):
        load_planetoid(cora(cora_root, split="random", num_val=2000, num_test=2000), seed=0)


def test_root_from_env(cora_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNNTOOL_DATA", str(cora_root))
    assert load_planetoid(DatasetConfig(name="Cora"), seed=0).num_nodes == 2708


def test_config_root_beats_env(cora_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNNTOOL_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")
    assert load_planetoid(cora(cora_root), seed=0).num_nodes == 2708


def test_default_root_is_data_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_cora(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    assert load_planetoid(DatasetConfig(name="Cora"), seed=0).num_nodes == 2708
    assert (tmp_path / "data" / "Planetoid" / "Cora" / "processed" / "data.pt").is_file()


def test_processing_prints_nothing_on_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    copy_cora(tmp_path)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)  # PyG stays quiet under pytest
    load_planetoid(cora(tmp_path), seed=0)
    assert capfd.readouterr().out == ""


def test_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "mirror"
    copy_cora(mirror)
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv("GNNTOOL_MIRROR", str(mirror))
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")  # the mirror needs no network
    data = load_planetoid(cora(root), seed=0)
    assert data.num_nodes == 2708
    raw = root / "Planetoid" / "Cora" / "raw"
    assert sorted(os.listdir(raw)) == sorted(CORA_FILES)  # all copied, no partial files left


def test_mirror_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "mirror"
    (copy_cora(mirror) / "ind.cora.graph").unlink()
    root = tmp_path / "root"
    monkeypatch.setenv("GNNTOOL_MIRROR", str(mirror))
    with pytest.raises(UserError, match="GNNTOOL_MIRROR") as info:
        load_planetoid(cora(root), seed=0)
    assert "ind.cora.graph" in str(info.value)
    assert not (root / "Planetoid" / "Cora" / "raw").exists()  # nothing half-copied


def test_missing_dataset_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")
    with pytest.raises(UserError) as info:
        load_planetoid(DatasetConfig(name="PubMed", root=str(tmp_path)), seed=0)
    message = str(info.value)
    raw = tmp_path / "Planetoid" / "PubMed" / "raw"
    assert str(raw) in message
    for file in PUBMED_FILES:
        assert file in message
    assert "GNNTOOL_MIRROR" in message and "network" in message
    assert not raw.exists()


def test_missing_dataset_download_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Hermetic: a closed local port stands in for "no network", so the test neither waits for
    # DNS nor downloads PubMed where a network happens to be there.
    monkeypatch.setattr(Planetoid, "url", "http://127.0.0.1:9/planetoid/data")
    started = time.monotonic()
    with pytest.raises(UserError) as info:
        load_planetoid(DatasetConfig(name="PubMed", root=str(tmp_path)), seed=0)
    assert time.monotonic() - started < 10
    message = str(info.value)
    raw = tmp_path / "Planetoid" / "PubMed" / "raw"
    assert "download failed" in message and str(raw) in message
    assert "ind.pubmed.x" in message and "ind.pubmed.test.index" in message
    assert "GNNTOOL_MIRROR" in message
    assert list(tmp_path.iterdir()) == []  # no partial download, not even the folders, left behind


def test_partial_raw_folder_is_not_taken_for_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, without_shipped_data: None
) -> None:
    raw = copy_cora(tmp_path)
    (raw / "ind.cora.ty").unlink()
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")
    with pytest.raises(UserError, match="ind.cora.ty") as info:
        load_planetoid(cora(tmp_path), seed=0)
    assert "ind.cora.x" not in str(info.value)  # only what is missing is listed


def test_files_missing_from_the_root_come_from_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = copy_cora(tmp_path)
    (raw / "ind.cora.ty").unlink()
    (raw / "ind.cora.graph").write_bytes(b"not replaced: only missing files are copied")
    monkeypatch.setenv("GNNTOOL_OFFLINE", "1")
    with pytest.raises(UserError, match="ind.cora.graph: truncated or corrupt pickle"):
        load_planetoid(cora(tmp_path), seed=0)
    assert (raw / "ind.cora.ty").read_bytes() == (SHIPPED / "Cora" / "raw" / "ind.cora.ty").read_bytes()
    (raw / "ind.cora.graph").unlink()
    assert load_planetoid(DatasetConfig(name="CiteSeer", root=str(tmp_path)), seed=0).num_nodes == 3327
    assert load_planetoid(cora(tmp_path), seed=0).num_nodes == 2708
    assert sorted(os.listdir(raw)) == sorted(CORA_FILES)  # no partial files left


def test_hostile_raw_pickle_is_refused(tmp_path: Path) -> None:
    raw = copy_cora(tmp_path)
    marker = tmp_path / "pwned"
    (raw / "ind.cora.x").write_bytes(pickle.dumps(RunsCommand(f"touch {marker}"), protocol=2))
    with pytest.raises(UserError, match="refusing to unpickle") as info:
        load_planetoid(cora(tmp_path), seed=0)
    assert "ind.cora.x" in str(info.value)
    assert not marker.exists()
    assert not (tmp_path / "Planetoid" / "Cora" / "processed" / "data.pt").exists()
    assert pyg_planetoid_io.pickle is pickle  # PyG's module is restored after the failure


def test_truncated_raw_file(tmp_path: Path) -> None:
    raw = copy_cora(tmp_path)
    graph = raw / "ind.cora.graph"
    graph.write_bytes(graph.read_bytes()[:1000])
    with pytest.raises(UserError, match="truncated or corrupt") as info:
        load_planetoid(cora(tmp_path), seed=0)
    assert str(graph) in str(info.value)


def test_raw_file_of_the_wrong_shape(tmp_path: Path) -> None:
    raw = copy_cora(tmp_path)
    (raw / "ind.cora.x").write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(UserError, match="not in the Planetoid format"):
        load_planetoid(cora(tmp_path), seed=0)


def test_hostile_processed_files_are_not_unpickled(tmp_path: Path) -> None:
    # PyG 2.8.1 would run these: fs.torch_load retries data.pt with weights_only=False, and
    # Dataset._process reads pre_transform.pt / pre_filter.pt with weights_only=False.
    copy_cora(tmp_path)
    processed = tmp_path / "Planetoid" / "Cora" / "processed"
    processed.mkdir()
    markers = []
    for name in ("data.pt", "pre_transform.pt", "pre_filter.pt"):
        marker = tmp_path / f"pwned-{name}"
        markers.append(marker)
        torch.save(TouchesFile(marker), processed / name)
    data = load_planetoid(cora(tmp_path), seed=0)
    assert data.num_nodes == 2708
    assert not any(marker.exists() for marker in markers)
    # data.pt was rebuilt from the raw files and now loads with weights_only=True
    assert isinstance(torch.load(processed / "data.pt", weights_only=True), tuple)


def test_processed_cache_is_reused(tmp_path: Path) -> None:
    copy_cora(tmp_path)
    load_planetoid(cora(tmp_path), seed=0)
    data_pt = tmp_path / "Planetoid" / "Cora" / "processed" / "data.pt"
    stamp = data_pt.stat().st_mtime_ns
    for file in CORA_FILES:  # the cache, not the raw files, is read the second time
        (tmp_path / "Planetoid" / "Cora" / "raw" / file).write_bytes(b"corrupt")
    assert load_planetoid(cora(tmp_path), seed=0).num_nodes == 2708
    assert data_pt.stat().st_mtime_ns == stamp
    assert [p.name for p in data_pt.parent.iterdir()] == ["data.pt"]  # no partial files
