"""The command line: parses arguments and calls into config → data → model → engine.

Kept thin and fast: torch and PyG are imported inside the commands that need them, so `--help`,
`--version` and config errors answer at once. Every command runs under `exit_codes`, which maps
a UserError to status 2, Ctrl-C to 130, SIGTERM to 143 and a reader closing the pipe to 141.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from gnntool import __version__, log
from gnntool.errors import Interrupted, Terminated, UserError
from gnntool.export import EMBED_FORMATS, PREDICT_FORMATS
from gnntool.traits import LOGGERS, SPLITS

app = typer.Typer(
    help="Train GCN and GraphSAGE models from a YAML config; evaluate, embed and predict with them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def exit_codes(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can cause into exit codes, with one message and no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with sigterm_raises():
                return command(*args, **kwargs)
        except UserError as exc:
            log.error(str(exc))
            raise typer.Exit(2) from None
        except Interrupted as exc:
            log.warn(str(exc))
            raise typer.Exit(128 + exc.signum) from None
        except Terminated:
            log.warn("terminated (SIGTERM)")
            raise typer.Exit(143) from None
        except KeyboardInterrupt:
            log.warn("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # The reader left (`| head`): end quietly, as a tool killed by SIGPIPE would.
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):
                pass  # stdout is not a real file (e.g. under a test runner)
            raise typer.Exit(141) from None

    return wrapper


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises `Terminated` (as SIGINT raises KeyboardInterrupt): atomic writes drop their
    temporary files and the command exits 143. Training replaces it with a stop at the next
    consistent point (`gnntool.engine.train.stop_on_signals`)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"gnntool {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """gnntool: graph neural networks from the command line."""


def choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """An Enum of `values` for typer, which lists them in --help and refuses others (exit 2): the
    values come from the tables that own them, never repeated here."""
    return Enum(name, {value: value for value in values}, type=str)  # type: ignore[return-value]


Split = choices("Split", (*SPLITS, "all"))
EmbedFormat = choices("EmbedFormat", EMBED_FORMATS)
PredictFormat = choices("PredictFormat", PREDICT_FORMATS)
LoggerName = choices("LoggerName", tuple(LOGGERS))


ConfigArgument = Annotated[
    Path, typer.Argument(metavar="CONFIG", help="YAML config file, or the name of a shipped one (gnntool configs).")
]

# Options that eval, embed and predict share.
RunDirArgument = Annotated[Path, typer.Argument(help="A finished run directory.")]
GraphOption = Annotated[Path | None, typer.Option(help="An unseen graph (npz or folder) instead of the run's own.")]
OutputOption = Annotated[str, typer.Option("--output", "-o", help="File to write, or - for stdout.")]
HeaderOption = Annotated[bool, typer.Option(help="csv/tsv: write a header row.")]
FORMAT_HELP = "\\[default: from the output's suffix, else tsv]"
DEVICE_HELP = "auto, cpu, cuda or cuda:N (auto: CUDA when there is a GPU)"
# train, sweep, tune: the device overrides the config's; eval, embed, predict: auto unless given.
ConfigDeviceOption = Annotated[str | None, typer.Option(help=f"{DEVICE_HELP} \\[default: the config's device].")]
DeviceOption = Annotated[str, typer.Option(help=f"{DEVICE_HELP}.")]
FoldOption = Annotated[int, typer.Option(min=0, help="Cross-validated runs: the fold whose model to use.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")]
TensorboardOption = Annotated[
    bool,
    typer.Option("--tensorboard", help="Write TensorBoard event files under RUN/tensorboard/ (output.tensorboard)."),
]
LoggerOption = Annotated[
    list[LoggerName] | None,
    typer.Option(
        "--logger",
        metavar="NAME",
        help=f"Also log to this experiment tracker ({', '.join(LOGGERS)}; added to output.loggers); repeatable.",
    ),
]


def with_loggers(config_path: Path, overrides: list[str], loggers: list[Enum] | None) -> list[str]:
    """`overrides` and, for `--logger`, one more: the config's `output.loggers` with those names added."""
    if not loggers:
        return overrides
    from gnntool.config import read_overridden

    output = read_overridden(config_path, overrides).get("output")
    current = output.get("loggers") if isinstance(output, dict) else None
    if not isinstance(current, (list, type(None))):
        return overrides  # not a list: the schema says so
    names = dict.fromkeys([*(str(name) for name in current or []), *(logger.value for logger in loggers)])
    return [*overrides, f"output.loggers=[{', '.join(names)}]"]


def draw_curves(run_dir: Path) -> list[Path]:
    """A finished run's curves.png for the trackers (`gnntool plot RUN`), where gnntool[plot] is installed."""
    from gnntool.plot import plot_curves

    try:
        return [plot_curves(run_dir)]
    except UserError:  # no matplotlib: the trackers go without the picture
        return []


def config_overrides(set_: list[str] | None, device: str | None, tensorboard: bool = False) -> list[str]:
    """`--set` assignments, then those the options stand for (`--device`, `--tensorboard`)."""
    overrides = list(set_ or [])
    if device is not None:
        overrides.append(f"device={device}")
    if tensorboard:
        overrides.append("output.tensorboard=true")
    return overrides


@app.command()
@exit_codes
def train(
    config_path: ConfigArgument,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a config key (YAML value); repeatable."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run directory \\[default: output.dir, else runs/<config stem>].")
    ] = None,
    device: ConfigDeviceOption = None,
    seed: Annotated[int | None, typer.Option(help="Seed \\[default: the config's seed].")] = None,
    seeds: Annotated[
        int, typer.Option(min=1, help="Train N models with seeds seed..seed+N-1; report mean and std.")
    ] = 1,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its checkpoint.")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite a finished run in the directory.")] = False,
    tensorboard: TensorboardOption = False,
    logger: LoggerOption = None,
    quiet: QuietOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the config, the dataset files and the model; train nothing.")
    ] = False,
) -> None:
    """Train a model; print the run directory on stdout."""
    from gnntool.config import load_config
    from gnntool.shipped import resolve_config

    log.set_quiet(quiet)
    if resume and force:
        raise UserError("--resume and --force contradict each other: choose one")
    overrides = config_overrides(set_, device, tensorboard)
    if seed is not None:
        overrides.append(f"seed={seed}")
    config_path = resolve_config(config_path)
    config = load_config(config_path, with_loggers(config_path, overrides, logger))
    run_dir = out or Path(config.output.dir or Path("runs") / config_path.stem)
    if dry_run:
        from gnntool.engine.dryrun import dry_run as check

        typer.echo(check(config, run_dir))
        return

    from gnntool.engine.runs.tracking.loggers import check_loggers
    from gnntool.launcher import launched_by_torchrun
    from gnntool.rundir.lock import hold_run_lock

    check_loggers(config.output.active_loggers)  # a missing extra is refused before the run directory is made
    with ExitStack() as lock:
        # One process: the lock first (torch-free), so that a busy directory is refused at once,
        # not after importing torch and loading the data. Under torchrun rank 0 takes it itself
        # and tells the other ranks, which must not wait on a rank that has left.
        locked = not launched_by_torchrun()
        if locked:
            lock.enter_context(hold_run_lock(run_dir))
        from gnntool.engine.runs.tracking.training import Scope, open_tracking
        from gnntool.engine.runs.train_run import train_run

        scope = Scope(lock.enter_context(open_tracking(config, config_path.stem, draw=draw_curves)))
        if train_run(config, run_dir, seeds, resume=resume, force=force, locked=locked, scope=scope) is not None:
            typer.echo(str(run_dir))


@app.command("eval")
@exit_codes
def eval_(
    run_dir: RunDirArgument,
    split: Annotated[Split, typer.Option(help="Which split to score.")] = Split("all"),
    graph: Annotated[
        Path | None, typer.Option(help="Score every node of this unseen labelled graph (npz or folder) instead.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics.json's shape as one JSON object.")] = False,
    device: DeviceOption = "auto",
    fold: FoldOption = 0,
) -> None:
    """Reload a run's model and recompute its metrics (or score it on an unseen graph)."""
    from gnntool.config import check_device
    from gnntool.engine.runs.loaded import evaluate_run

    check_device(device)
    if graph is not None and split.value != "all":
        raise UserError("--split chooses a split of the run's dataset; with --graph the graph is scored")
    if graph is not None:
        splits: tuple[str, ...] = ("graph",)
    else:
        splits = SPLITS if split.value == "all" else (split.value,)
    metrics = evaluate_run(run_dir, splits, graph, device, fold)
    if as_json:
        typer.echo(json.dumps(metrics))
    else:
        print_metrics_table(metrics, splits)


def print_metrics_table(metrics: dict[str, Any], splits: tuple[str, ...]) -> None:
    """A readable table of metrics per split (mean ± std for a multi-seed run) on stdout."""
    from rich.console import Console
    from rich.table import Table

    # Every split's metrics (a knowledge graph's filtered ranking is not computed on train)
    names = list(dict.fromkeys(name for split in splits for name in metrics[split]))
    table = Table("split", *names)
    for split in splits:
        cells = []
        for name in names:
            if name not in metrics[split]:
                cells.append("")
                continue
            cell = f"{metrics[split][name]:.4f}"
            if "std" in metrics:
                cell += f" ± {metrics['std'][split][name]:.4f}"
            cells.append(cell)
        table.add_row(split, *cells)
    Console().print(table)


@app.command()
@exit_codes
def embed(
    run_dir: RunDirArgument,
    graph: GraphOption = None,
    output: OutputOption = "-",
    format: Annotated[EmbedFormat | None, typer.Option(help=FORMAT_HELP)] = None,
    header: HeaderOption = False,
    device: DeviceOption = "auto",
    node_type: Annotated[
        str | None, typer.Option("--type", help="Typed graphs: the node type to embed \\[default: the target type].")
    ] = None,
    fold: FoldOption = 0,
) -> None:
    """Write node embeddings of the run's graph, or of an unseen one (first column: node id)."""
    from gnntool.config import check_device
    from gnntool.export import resolve_format

    check_device(device)
    resolved = resolve_format(output, format.value if format else None, EMBED_FORMATS)

    from gnntool.engine.runs.loaded import embed_run
    from gnntool.export import write_embeddings

    embeddings, node_id = embed_run(run_dir, graph, device, node_type, fold)
    write_embeddings(embeddings, node_id, output, resolved, header)


@app.command()
@exit_codes
def sweep(
    config_path: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="YAML config file or shipped config name (the base of every cell).")
    ],
    grid: Annotated[
        list[str],
        typer.Option(
            "--grid",
            metavar="KEY=V1,V2,...",
            help="Values of one config key (YAML, split on commas outside brackets: "
            "train.fanout=[25,10],[10,5]); repeatable, the cells are the cartesian product.",
        ),
    ],
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per cell (seed..seed+N-1); report mean and std.")] = 1,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="KEY=VALUE", help="Override a config key for every cell (before the grid); repeatable."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Sweep directory, one run directory per cell \\[default: runs/<config stem>-sweep]."),
    ] = None,
    device: ConfigDeviceOption = None,
    tensorboard: TensorboardOption = False,
    logger: LoggerOption = None,
    quiet: QuietOption = False,
) -> None:
    """Train one run per cell of a grid of config values; print the results table on stdout.

    Writes OUT/sweep.csv, OUT/sweep.json and one run directory per cell.

    Run it again with the same --out to continue: finished cells are skipped, an interrupted cell resumes.
    """
    from gnntool.engine.studies.sweep import display_table, run_sweep
    from gnntool.shipped import resolve_config

    log.set_quiet(quiet)
    config_path = resolve_config(config_path)
    overrides = with_loggers(config_path, config_overrides(set_, device, tensorboard), logger)
    rows = run_sweep(config_path, grid, overrides, seeds=seeds, out=out, draw=draw_curves)
    print_sweep_table(*display_table(rows))


def print_sweep_table(header: list[str], rows: list[list[str]]) -> None:
    """A rich table on a terminal; else tab-separated lines under a header, for sort/cut/awk."""
    from rich.console import Console

    console = Console()
    if console.is_terminal:
        from rich.table import Table
        from rich.text import Text

        table = Table()
        for name in header:
            table.add_column(Text(name), overflow="fold")
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))  # Text: values like [a, b] are not markup
        console.print(table)
    else:
        for line in [header, *rows]:
            typer.echo("\t".join(line))


@app.command()
@exit_codes
def tune(
    config_path: Annotated[Path, typer.Argument(metavar="CONFIG", help="YAML config file (the base of every trial).")],
    space: Annotated[
        list[str],
        typer.Option(
            "--space",
            metavar="KEY=LOW:HIGH[:log]|KEY=A,B,...",
            help="A range (exactly NUM:NUM or NUM:NUM:log; integers for integer keys) or a list of choices "
            "(parsed as --grid values); repeatable.",
        ),
    ],
    trials: Annotated[int, typer.Option(min=1, help="Trials of the study in all (a rerun adds the difference).")],
    timeout: Annotated[
        float | None, typer.Option(min=0, help="Start no new trial after this many seconds.")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage: an RDB URL, or journal:PATH (a journal file: for workers sharing a network "
            "filesystem) \\[default: the study file under OUT, else sqlite:///OUT/tune.db, with --workers "
            "journal:OUT/tune.journal]."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes on this machine, each taking trials until there are N.")
    ] = 1,
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per trial; the score is their mean.")] = 1,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a config key for every trial; repeatable."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Study directory, one run directory per trial \\[default: runs/<config stem>-tune]."),
    ] = None,
    device: ConfigDeviceOption = None,
    tensorboard: TensorboardOption = False,
    logger: LoggerOption = None,
    quiet: QuietOption = False,
) -> None:
    """Search config values with Optuna (TPE, median pruning), scored on validation by train.monitor.

    Prints the best trials on stdout; writes OUT/trials.csv, OUT/best.yaml (a config `gnntool train`
    runs as it is) and one run directory per trial.

    Run it again to continue the study: finished trials stay, an interrupted one resumes. Several
    tune processes (--workers, or started by hand with the same --out and --storage) share the study.
    """
    from gnntool.engine.studies.tune import display_table, plan_tune, run_tune, tune_results
    from gnntool.shipped import resolve_config

    log.set_quiet(quiet)
    config_path = resolve_config(config_path)
    overrides = with_loggers(config_path, config_overrides(set_, device, tensorboard), logger)
    tuning = plan_tune(config_path, space, overrides, seeds=seeds, out=out, storage=storage, workers=workers)
    if workers == 1:
        rows = run_tune(tuning, trials, timeout=timeout, quiet=quiet, draw=draw_curves)
    else:
        from gnntool.engine.studies.workers import run_workers

        args = [str(config_path), *(f"--space={spec}" for spec in space), f"--trials={trials}", f"--seeds={seeds}"]
        args += [f"--set={item}" for item in overrides] + [f"--out={tuning.out}", f"--storage={tuning.storage}"]
        args += [f"--timeout={timeout}"] * (timeout is not None) + ["--quiet"] * quiet
        status = run_workers(args, workers)
        if status:
            raise typer.Exit(status)
        rows = tune_results(tuning, quiet=quiet)
    print_sweep_table(*display_table(rows, tuning))


@app.command()
@exit_codes
def runs(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="Where to look, nested folders too.")] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of objects instead.")] = False,
    sort: Annotated[
        str | None, typer.Option(metavar="FIELD", help="Sort by a --json field (-FIELD: descending) \\[default: path].")
    ] = None,
) -> None:
    """List the runs under DIR, one line each (a sweep or a tuning study: its best cell)."""
    from gnntool.runs_table import as_json as json_rows
    from gnntool.runs_table import collect, sort_rows, table

    rows = collect(folder)
    if sort is not None:
        rows = sort_rows(rows, sort)
    if as_json:
        typer.echo(json.dumps(json_rows(rows)))
    else:
        print_sweep_table(*table(rows, folder))


class ProjectionMethod(str, Enum):
    pca = "pca"
    tsne = "tsne"


@app.command()
@exit_codes
def plot(
    path: Annotated[Path, typer.Argument(metavar="RUN_DIR|SWEEP_DIR", help="A finished run, or a sweep's directory.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="A .png, .svg or .pdf file \\[default: curves.png, sweep.png or embeddings-METHOD.png in it].",
        ),
    ] = None,
    embeddings: Annotated[bool, typer.Option("--embeddings", help="Plot the run's embeddings in 2-D instead.")] = False,
    method: Annotated[ProjectionMethod, typer.Option(help="--embeddings: the 2-D projection.")] = ProjectionMethod.pca,
) -> None:
    """Plot a run's training curves, a sweep's cells, or a run's embeddings; print the file's path."""
    from gnntool.plot import plot as draw

    if method is not ProjectionMethod.pca and not embeddings:
        raise UserError("--method chooses the projection of --embeddings; add --embeddings")
    typer.echo(str(draw(path, output, embeddings, method.value)))


@app.command()
@exit_codes
def predict(
    run_dir: RunDirArgument,
    graph: GraphOption = None,
    output: OutputOption = "-",
    format: Annotated[PredictFormat | None, typer.Option(help=FORMAT_HELP)] = None,
    header: HeaderOption = False,
    device: DeviceOption = "auto",
    pairs: Annotated[
        str | None, typer.Option(metavar="FILE|-", help="Link runs: score these (source id, target id) pairs, csv/tsv.")
    ] = None,
    top_k: Annotated[
        str | None, typer.Option(metavar="K", help="Link runs: the K highest-scoring new targets of every node.")
    ] = None,
    nodes: Annotated[
        Path | None,
        typer.Option(help="Link runs with --top-k: the source node ids (one per line) instead of every node."),
    ] = None,
    fold: FoldOption = 0,
) -> None:
    """Per node: id, predicted class (or label set), and the class probabilities.

    Link runs: `--pairs` writes source, target, score per pair; `--top-k K` writes source,
    target, score, rank for the K best new targets of every node (or of `--nodes`).
    """
    from gnntool.config import check_device
    from gnntool.export import resolve_format

    check_device(device)
    resolved = resolve_format(output, format.value if format else None, PREDICT_FORMATS)
    k = parse_top_k(top_k) if top_k is not None else None

    from gnntool.engine.objectives import PredictOptions
    from gnntool.engine.runs.loaded import predict_run

    options = PredictOptions(output, resolved, header, pairs=pairs, top_k=k, nodes=nodes)
    predict_run(run_dir, graph, device, options, fold)


def parse_top_k(text: str) -> int:
    """`--top-k K`: a positive whole number, else a UserError."""
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"--top-k {text}: K must be a positive whole number of targets per node") from None
    if value < 1:
        raise UserError(f"--top-k {text}: K must be a positive whole number of targets per node")
    return value


configs_app = typer.Typer(help="The configs shipped with gnntool: list them, copy one out to edit.")
app.add_typer(configs_app, name="configs")


@configs_app.callback(invoke_without_command=True)
def configs(ctx: typer.Context) -> None:
    """List the shipped configs, one line each; `gnntool train NAME` runs one as it is."""
    if ctx.invoked_subcommand is not None:
        return
    from gnntool.shipped import shipped_configs

    found = shipped_configs()
    width = max(len(config.name) for config in found)
    for config in found:
        typer.echo(f"{config.name:<{width}}  {config.description}")


@configs_app.command("copy")
@exit_codes
def configs_copy(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A shipped config (gnntool configs lists them).")],
    dest: Annotated[
        Path | None, typer.Argument(metavar="DEST", help="File or folder to write \\[default: ./NAME.yaml].")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a shipped config out for editing; print its path."""
    from gnntool.shipped import copy_config

    typer.echo(str(copy_config(name, dest, force)))


def main() -> None:
    """Console-script entry point."""
    from gnntool.engine.runtime.allocator import retain_freed_memory

    if retain_freed_memory() is False:  # (None: not glibc, which keeps its own policy)
        log.warn("glibc refused gnntool's malloc thresholds: sampled CPU steps page-fault their batch tensors")
    app(prog_name="gnntool")
