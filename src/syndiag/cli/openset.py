"""``syndiag openset calibrate``: store a checkpoint's open-set threshold; calls one workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from syndiag.cli.common import DataRootOpt, guarded, out
from syndiag.errors import ConfigError

openset_app = typer.Typer(help="Unknown faults: the open-set threshold that lets `diagnose` answer \"unknown fault\".", no_args_is_help=True)


@openset_app.command("calibrate")
@guarded
def calibrate(checkpoint: Annotated[Path, typer.Option(help="a fine-tuned cloud, distilled edge, sensor-model or ONNX export folder")],
              false_alarm: Annotated[float, typer.Option(help="share of known windows allowed above the threshold")] = 0.01,
              data_root: DataRootOpt = None,
              device: Annotated[str, typer.Option(help="device of a PyTorch checkpoint: cpu | auto | cuda | cuda:N | mps")] = "cpu",
              detector: Annotated[str, typer.Option(help="spectral: the spectrum path's novelty score chosen by validation (default); "
                                                    "msp: 1 - max p of the model")] = "spectral",
              healthy: Annotated[Optional[list[Path]], typer.Option(help="recordings of the machine running healthy in its new "
                                                                   "condition (repeat the option): recalibrate the stored detector on them")] = None,
              recalibrate: Annotated[str, typer.Option(help="with --healthy: threshold (raise it to the healthy windows' quantile) | "
                                                       "recentre (move every window by the healthy offset)")] = "threshold") -> None:
    """Fit the checkpoint's open-set detector on held-in windows of its own training data (never trained on) and store
    its threshold at FALSE_ALARM in CHECKPOINT/openset.json, bound to its weights; `diagnose` then flags unknown faults.
    With --healthy, recalibrate it on a few minutes of the machine running healthy in a new condition."""
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.openset_calibrate import calibrate_checkpoint

    if detector not in ("spectral", "msp"):
        raise ConfigError(f"--detector must be spectral or msp, got {detector!r}")
    with out.status(f"calibrating {escape(str(checkpoint))}"):
        found = calibrate_checkpoint(checkpoint, false_alarm, data_root, device, detector=detector, healthy=healthy or (),
                                     recalibrate=recalibrate)
    t = found.threshold
    score = "the score 1 - max p" if t.method == "msp" else f"the spectrum path's {t.method} score (validation AUROC " \
        f"{(t.validation or {}).get(t.method, float('nan')):.3f})"
    again = f"; recalibrated ({t.recalibration['how']}) on {t.recalibration['windows']} healthy windows" if t.recalibration else ""
    out.print(f"wrote {escape(str(found.path))}: threshold {t.threshold:.4f} on {score}, {t.windows} held-in windows of "
              f"{found.classes} classes, {t.false_alarm:.1%} false alarms{again}; `syndiag diagnose FILE --checkpoint "
              f"{escape(str(checkpoint))}` now answers \"unknown fault\" when most windows score above it")
