"""What every command shares: options, config loading with overrides, error printing, progress bars."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from syndiag.config.base import parse_overrides, read_yaml, set_dotted
from syndiag.config.data import DataConfig
from syndiag.config.profiles import profile_path
from syndiag.config.run import RunConfig
from syndiag.errors import SyndiagError
from syndiag.ranks import is_main_process

err = Console(stderr=True, soft_wrap=True, emoji=False)
out = Console(emoji=False, quiet=not is_main_process())

ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML data config (configs/data/*.yaml) or run recipe (its data section)")]
RunConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="YAML run recipe, a file or a shipped profile (syndiag/cpu, syndiag/paper)")]
DataRootOpt = Annotated[Optional[Path], typer.Option("--data-root", help="folder of real recordings (else $SYNDIAG_DATA)")]
CacheOpt = Annotated[Optional[Path], typer.Option("--cache-dir", help="spectrogram cache folder (else $SYNDIAG_CACHE)")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="override a config key, e.g. --set window.per_class=100")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v")]
ShotsOpt = Annotated[Optional[int], typer.Option("--shots", "-k", help="K (default: finetune.shots)")]
SeedOpt = Annotated[Optional[int], typer.Option(help="seed of the K-shot draw (default: the recipe's)")]
DeviceOpt = Annotated[Optional[str], typer.Option(help="device: auto | cpu | cuda | cuda:N | mps (default: the recipe's)")]


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False, markup=False)],
        force=True,
    )


def fail(exc: Exception) -> NoReturn:
    """Print the error (user text escaped, never read as markup) and exit with status 2."""
    err.print(f"[bold red]error:[/] {escape(str(exc))}")
    raise typer.Exit(code=2)


def load_data_config(config: Path | None, data_root: Path | None, cache_dir: Path | None, sets: list[str] | None) -> DataConfig:
    """A data config from a data YAML, or from a run recipe's ``data:`` section, with ``--set`` overrides.

    Keys take the ``data.`` prefix or not; given a run recipe, its other settings (``seed``, ``device``, ...) are
    validated with the recipe, so the same ``--set`` works for ``data`` and for the model commands.
    """
    overrides = parse_overrides(sets)
    if data_root is not None:
        overrides["data_root"] = str(data_root)
    if cache_dir is not None:
        overrides["cache_dir"] = str(cache_dir)
    raw: dict[str, Any] = {}
    if config is not None:
        config = profile_path(config)
        raw = read_yaml(config)
    source = str(config) if config else "command line"
    if isinstance(raw.get("data"), dict) and "model" in raw:
        for key, value in overrides.items():
            set_dotted(raw, key if key.split(".")[0] in RunConfig.model_fields else f"data.{key}", value)
        return RunConfig.from_dict(raw, source=source).data
    for key, value in overrides.items():
        set_dotted(raw, key.removeprefix("data."), value)
    return DataConfig.from_dict(raw, source=source)


def load_run_config(config: Path, data_root: Path | None, sets: list[str] | None, recipe: type | None = None, **fields: Any):
    """The run recipe (``RunConfig`` unless ``recipe`` names another) with ``--set`` overrides, ``--data-root``, and command
    options given as ``fields`` (None: not given)."""
    overrides = parse_overrides(sets)
    if data_root is not None:
        overrides["data.data_root"] = str(data_root)
    overrides.update({key: value for key, value in fields.items() if value is not None})
    return (recipe or RunConfig).from_yaml(config, overrides)


class ProgressLines:
    """Progress as plain lines on stderr, at most one every ``every`` seconds (logs, pipes, job schedulers)."""

    def __init__(self, label: str, every: float = 30.0, clock: Callable[[], float] = time.monotonic, unit: str = "windows") -> None:
        self.label, self.every, self.clock, self.unit = label, every, clock, unit
        self.started = self.last = clock()

    def __call__(self, done: int, total: int, loss: float | None = None) -> None:
        now = self.clock()
        if now - self.last < self.every or done >= total or not is_main_process():
            return
        self.last = now
        elapsed = now - self.started
        left = elapsed * (total - done) / max(done, 1)
        shown = f", loss {loss:.4f}" if loss is not None else ""
        err.print(f"{escape(self.label)}: {done}/{total} {self.unit} ({done / max(total, 1):.0%}), {elapsed:.0f} s, "
                  f"about {left:.0f} s left{shown}", highlight=False)


class StepBar:
    """A rich progress bar on a terminal; without one (a log file, a job scheduler), :class:`ProgressLines`."""

    def __init__(self, label: str, every_s: float = 30.0, loss: bool = True, unit: str = "steps") -> None:
        self.label, self.every_s, self.loss, self.unit = label, every_s, loss, unit
        columns = [TextColumn(f"[bold]{escape(label)}"), BarColumn(), MofNCompleteColumn()]
        if loss:
            columns.append(TextColumn("loss {task.fields[loss]:.4f}"))
        self.bar = Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal or not is_main_process())

    def __enter__(self) -> "StepBar":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def callback(self):
        if not err.is_terminal:
            lines = ProgressLines(self.label, self.every_s, unit=self.unit)
            return lambda step, total, loss=None: lines(step, total, loss if self.loss else None)
        task = self.bar.add_task(self.label, total=None, loss=float("nan"))
        return lambda step, total, loss=float("nan"): self.bar.update(task, completed=step, total=total, loss=loss)


def step_bar(label: str, loss: bool = True, unit: str = "steps", every_s: float = 30.0) -> StepBar:
    return StepBar(label, every_s, loss=loss, unit=unit)


def tracked(bar: StepBar, label: str):
    return bar.callback()


def guarded(command: Callable) -> Callable:
    """``command`` with every expected failure (bad input, unreadable files, a full disk) printed as one named error, exit 2."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (SyndiagError, OSError) as exc:
            if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
                exc = SyndiagError(f"{exc.filename}: {exc.strerror.lower()}")
            fail(exc)

    return run
