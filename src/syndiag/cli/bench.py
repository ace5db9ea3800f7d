"""``syndiag benchmark``: the paper's tables and figures as resumable cells, then BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from syndiag.cli.common import DataRootOpt, SetOpt, fail, out, setup_logging
from syndiag.config.base import parse_overrides
from syndiag.config.benchmark import BenchmarkConfig
from syndiag.errors import ConfigError, SyndiagError


def benchmark(
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML benchmark config, a file or a shipped profile (default: benchmark/PROFILE)")] = None,
    profile: Annotated[str, typer.Option(help="cpu | paper: picks the shipped benchmark/PROFILE.yaml when --config is not given")] = "cpu",
    suite: Annotated[str, typer.Option(help="table1 | table2 | table3 | sensor | rul | openset | zeroshot | reports | updates | resources | all | report (only regenerate BENCHMARKS.md)")] = "table1",
    budget_minutes: Annotated[Optional[float], typer.Option(help="stop cleanly between cells after this many minutes")] = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
    report: Annotated[Optional[Path], typer.Option(help="report to regenerate (default: BENCHMARKS.md, or OUT_DIR/BENCHMARKS.md when out_dir is not benchmarks/results)")] = None,
    allow_dirty: Annotated[bool, typer.Option("--allow-dirty", help="append to committed results files from a tree with uncommitted changes")] = False,
    rerun_mismatched: Annotated[bool, typer.Option("--rerun-mismatched", help="run again the cells whose lines other data or settings made")] = False,
) -> None:
    """Methods on identical splits, several seeds: one JSON line per finished cell (re-runs skip them), then BENCHMARKS.md."""
    setup_logging()
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.suites import run_benchmark

    try:
        if config is None:
            if profile not in ("cpu", "paper"):
                raise ConfigError(f"--profile: unknown {profile!r}; choose cpu or paper (or give --config)")
            config = Path("benchmark") / f"{profile}.yaml"
        overrides = parse_overrides(sets)
        settings = BenchmarkConfig.from_yaml(config, {k: v for k, v in overrides.items() if not k.startswith("recipe.")})
        recipe_overrides = {k.removeprefix("recipe."): v for k, v in overrides.items() if k.startswith("recipe.")}
        if report is None:
            default = BenchmarkConfig.model_fields["out_dir"].default
            report = Path("BENCHMARKS.md") if Path(settings.out_dir) == default else Path(settings.out_dir) / "BENCHMARKS.md"
        if data_root is not None:
            recipe_overrides["data.data_root"] = str(data_root)
        result = run_benchmark(settings, suite, recipe_overrides, budget_minutes, report, say=lambda line: out.print(escape(line)),
                               allow_dirty=allow_dirty, rerun_mismatched=rerun_mismatched)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"wrote {escape(str(result.report))}"
              + (f"; budget spent with {result.left} cell(s) left: run the same command again to go on" if result.left else ""))
