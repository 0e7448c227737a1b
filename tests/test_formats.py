"""The output-format registry: one table drives the writers and the CLI's choices, and nothing
outside it asks which format it writes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gnntool import export
from gnntool.cli import app

PACKAGE = Path(__file__).resolve().parents[1] / "gnntool"
NAMES = "(npy|pt|parquet|csv|tsv)"
BRANCH_ON_FORMAT = re.compile(rf"format\s*(==|!=)|\bin\s*\(\s*[\"']{NAMES}|[\"']{NAMES}[\"']\s*[:,)]")


def test_no_branch_on_a_format_name_outside_the_table() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if BRANCH_ON_FORMAT.search(line) and not line.lstrip().startswith(("Format(", "#")):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    # Allowed: the payloads a command makes for a binary format, keyed by its name as the table is.
    assert [line for line in offenders if "write_table(table, output, format, header, {" not in line] == []


@pytest.mark.parametrize(("command", "formats"), [("embed", export.EMBED_FORMATS), ("predict", export.PREDICT_FORMATS)])
def test_cli_choices_are_the_table_s(runner, command: str, formats: tuple[str, ...]) -> None:
    assert set(formats) == {name for name, known in export.FORMATS.items() if command in known.commands}
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "400"})
    assert f"<{'|'.join(formats)}>" in result.stdout
    refused = runner.invoke(app, [command, "nowhere", "--format", "xml"])
    assert refused.exit_code == 2 and "xml" in refused.output


def test_binary_formats_refuse_stdout_and_text_ones_take_it() -> None:
    for name, known in export.FORMATS.items():
        if known.text:
            assert export.resolve_format("-", name, tuple(export.FORMATS)) == name
        else:
            with pytest.raises(export.UserError, match="binary and cannot go to stdout"):
                export.resolve_format("-", name, tuple(export.FORMATS))


@pytest.mark.parametrize("name", sorted(export.FORMATS))
def test_every_format_writes_embeddings_that_read_back(tmp_path: Path, name: str) -> None:
    if name not in export.EMBED_FORMATS:
        pytest.skip(f"embed does not offer {name}")
    embeddings = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    node_id = np.array([10, 11, 12, 13])
    path = tmp_path / f"e.{name}"
    export.write_embeddings(embeddings, node_id, str(path), name, header=True)
    if name == "npy":
        np.testing.assert_array_equal(np.load(path), embeddings)
    elif name == "pt":
        import torch

        saved = torch.load(path, weights_only=True)
        np.testing.assert_array_equal(saved["embeddings"].numpy(), embeddings)
        np.testing.assert_array_equal(saved["node_id"].numpy(), node_id)
    elif name == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        assert table.column_names == ["id", "dim_0", "dim_1", "dim_2"]
        np.testing.assert_array_equal(table.column("dim_1").to_numpy(), embeddings[:, 1])
    else:
        sep = export.FORMATS[name].separator
        rows = path.read_text().splitlines()
        assert rows[0] == sep.join(["id", "dim_0", "dim_1", "dim_2"])
        np.testing.assert_allclose(np.array([row.split(sep) for row in rows[1:]], float)[:, 1:], embeddings)
