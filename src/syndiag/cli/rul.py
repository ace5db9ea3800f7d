"""``syndiag rul fit | predict``: remaining useful life of run-to-failure units; each calls one workflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from syndiag.cli.common import DataRootOpt, SetOpt, guarded, out
from syndiag.config.base import parse_overrides
from syndiag.config.rul import RulConfig

rul_app = typer.Typer(help="Remaining useful life: health indicators, RUL models chosen by leave-one-bearing-out, intervals.",
                      no_args_is_help=True)
RulConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="RUL recipe, a file or a shipped profile (rul/femto)")]


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h ({seconds:,.0f} s)"


@rul_app.command("fit")
@guarded
def rul_fit(config: RulConfigOpt = Path("rul/femto"), data_root: DataRootOpt = None, sets: SetOpt = None,
            model: Annotated[Optional[str], typer.Option(help="mean-residual-life | exponential-trend | linear-trend | history-regression | sensor-regression | similarity | bayesian-exponential | survival (default: the recipe's)")] = None,
            json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Choose the model's settings by leave-one-bearing-out on the learning units, fit on all of them, save OUTPUT_DIR/rul-model."""
    # defers matplotlib, scipy and sklearn: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.rul import run_rul_fit

    overrides = parse_overrides(sets)
    if data_root is not None:
        overrides["data_root"] = str(data_root)
    if model is not None:
        overrides["model"] = model
    cfg = RulConfig.from_yaml(config, overrides)
    outcome = run_rul_fit(cfg, say=None if json_out else (lambda line: out.print(escape(line), highlight=False)))
    lobo = {k: v for k, v in outcome.lobo.items() if k != "per_unit"}
    if json_out:
        out.print_json(json.dumps({"checkpoint": str(outcome.checkpoint), "settings": outcome.selection.settings, "lobo": outcome.lobo}))
        return
    table = Table(title=f"{cfg.model}, leave-one-bearing-out ({lobo['count']} predictions)")
    for name in ("held-out unit", "score", "RMSE (s)", "MAE (s)", "late > 50 %"):
        table.add_column(name)
    for unit, errors in outcome.lobo["per_unit"].items():
        table.add_row(unit, f"{errors['score']:.3f}", f"{errors['rmse_s']:,.0f}", f"{errors['mae_s']:,.0f}", str(errors["late_over_50pct"]))
    table.add_row("all", f"{lobo['score']:.3f}", f"{lobo['rmse_s']:,.0f}", f"{lobo['mae_s']:,.0f}", str(lobo["late_over_50pct"]))
    out.print(table)
    coverage = ", ".join(f"{k.split('_')[1]}: {v:.2f} (median upper/lower {lobo[f'interval_ratio_{k.split(chr(95))[1]}_median']:.1f})"
                         for k, v in lobo.items() if k.startswith("coverage_"))
    out.print(f"settings {outcome.selection.settings}; interval coverage (LOBO) {coverage}; {outcome.seconds:.1f} s\n"
              f"checkpoint {escape(str(outcome.checkpoint))}")


@rul_app.command("predict")
@guarded
def rul_predict(folder: Annotated[Path, typer.Argument(help="one unit's folder of snapshots (FEMTO layout: acc_NNNNN.csv, temp_NNNNN.csv)")],
                checkpoint: Annotated[Path, typer.Option(help="a `syndiag rul fit` checkpoint")] = Path("runs/rul-femto/rul-model"),
                png: Annotated[Optional[Path], typer.Option(help="health-indicator plot (default: FOLDER name + -rul.png in the current folder)")] = None,
                spec: Annotated[Optional[Path], typer.Option(help="your own units' YAML spec (run_to_failure: fs, channels, snapshots, period_s)")] = None,
                rpm: Annotated[Optional[float], typer.Option(help="the unit's shaft speed (rpm): its operating condition, never read from the folder name")] = None,
                load: Annotated[Optional[float], typer.Option(help="the unit's radial load (N)")] = None,
                json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """RUL at the unit's last snapshot, its intervals and onset, and a health-indicator plot with the interval drawn."""
    # defers matplotlib, scipy and sklearn: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.rul import run_rul_predict

    prediction, written = run_rul_predict(checkpoint, folder, png or Path(f"{folder.name}-rul.png"), spec, rpm, load)
    if json_out:
        out.print_json(json.dumps({**prediction.to_dict(), "png": str(written)}))
        return
    lines = [f"{prediction.unit}: remaining useful life {_hours(prediction.rul_s)} after {_hours(prediction.time_s)} of snapshots"]
    if prediction.degrading:
        lines += [f"  {level:.0%} interval {_hours(low)} to {_hours(high)}" for level, (low, high) in sorted(prediction.intervals.items())]
    else:
        lines += [f"  no degradation yet: at least {_hours(bound)} with {level:.0%} confidence (before the onset the vibration does not "
                  "tell how long is left)" if bound > 0 else f"  no degradation yet (too few calibration residuals for a {level:.0%} bound)"
                  for level, bound in sorted(prediction.at_least_s.items())]
    lines.append(f"  onset (first predicting time): {_hours(prediction.onset_s) if prediction.onset_s is not None else 'none yet'}")
    lines.append(f"  how: {prediction.how}")
    lines.append(f"  operating condition: {prediction.condition}")
    if prediction.official is not None and prediction.actual_rul_s is not None:
        lines.append(f"  official actual RUL of FEMTO test bearing {prediction.official} (this folder's last snapshot is its truncation "
                     f"snapshot, by sha256; scoring only): {_hours(prediction.actual_rul_s)}")
    lines.append(f"plot {written}")
    out.print(escape("\n".join(lines)), highlight=False)
