"""gnntool in shell pipelines: a reader that closes early ends the tool quietly (status 141)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gnntool.cli import app

# Wide embeddings: ~15 MB of text, far more than any pipe buffers, so the writer must see EPIPE.
WIDE = {"model": {"hidden": 512}, "train": {"epochs": 1}}


def test_embed_into_a_pipe_closed_early(runner, write_config, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert runner.invoke(app, ["train", str(write_config(WIDE)), "--out", str(run_dir), "-q"]).exit_code == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "gnntool", "embed", str(run_dir), "--format", "tsv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = process.stdout.readline()
    process.stdout.close()  # like `| head -1`
    stderr = process.stderr.read().decode()
    process.wait(timeout=60)
    assert first.startswith(b"0\t")
    assert process.returncode == 141, stderr
    assert stderr == ""


def test_shell_pipeline_with_head(runner, write_config, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert runner.invoke(app, ["train", str(write_config(WIDE)), "--out", str(run_dir), "-q"]).exit_code == 0
    result = subprocess.run(
        f"set -o pipefail; {sys.executable} -m gnntool embed {run_dir} --format csv | head -3",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.count("\n") == 3 and result.stdout.startswith("0,")
    assert result.stderr == ""
    assert result.returncode == 141
