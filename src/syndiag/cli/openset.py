"""``syndiag openset calibrate``: store a checkpoint's open-set threshold; calls one workflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from syndiag.cli.common import DataRootOpt, guarded, out

openset_app = typer.Typer(help="Unknown faults: the open-set threshold that lets `diagnose` answer \"unknown fault\".", no_args_is_help=True)


@openset_app.command("calibrate")
@guarded
def calibrate(checkpoint: Annotated[Path, typer.Option(help="a fine-tuned cloud, distilled edge, sensor-model or ONNX export folder")],
              false_alarm: Annotated[float, typer.Option(help="share of known windows allowed above the threshold")] = 0.01,
              data_root: DataRootOpt = None,
              device: Annotated[str, typer.Option(help="device of a PyTorch checkpoint: cpu | auto | cuda | cuda:N | mps")] = "cpu") -> None:
    """Score held-in windows of the checkpoint's own training condition (never trained on) and store the threshold at
    FALSE_ALARM in CHECKPOINT/openset.json, bound to its weights; `diagnose` then flags unknown faults."""
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.openset_calibrate import calibrate_checkpoint

    with out.status(f"calibrating {escape(str(checkpoint))}"):
        found = calibrate_checkpoint(checkpoint, false_alarm, data_root, device)
    t = found.threshold
    out.print(f"wrote {escape(str(found.path))}: threshold {t.threshold:.4f} on the score 1 - max p, {t.windows} held-in windows of "
              f"{found.classes} classes, {t.false_alarm:.1%} false alarms; `syndiag diagnose FILE --checkpoint "
              f"{escape(str(checkpoint))}` now answers \"unknown fault\" when most windows score above it")
