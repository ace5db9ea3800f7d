"""``syndiag diagnose | export``: a recording's diagnosis, and ONNX exports that run without PyTorch."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from syndiag.cli.common import err, fail, out, setup_logging, step_bar
from syndiag.config.run import default_checkpoint
from syndiag.errors import SyndiagError

PROGRESS_EVERY_S = 10.0
"""Seconds between progress lines on stderr when it is not a terminal (a terminal gets a progress bar)."""
SEGMENTS_SHOWN = 20
"""Segments listed by the text output (--json and --per-window-out give all)."""


RecipeOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="run recipe whose OUTPUT_DIR holds the checkpoint, when --checkpoint is not given (default: syndiag/cpu)")]


def diagnose(
    file: Annotated[Path, typer.Argument(help="a recording (.mat, .csv, .npy, .npz) or windows (.npy, shape (n, channels, length))")],
    checkpoint: Annotated[Optional[Path], typer.Option(help="fine-tuned cloud, edge or sensor-model checkpoint, or an ONNX export folder (default: the recipe's OUTPUT_DIR/finetuned; without a recipe, the sensor/spectral model when trained, else syndiag/cpu's)")] = None,
    config: RecipeOpt = None,
    fs: Annotated[Optional[float], typer.Option(help="sampling rate of FILE in Hz, if the file does not say; refused if it contradicts the file or the CWRU catalogue")] = None,
    channels: Annotated[Optional[str], typer.Option(help="FILE's channels to read for the model's, in its order: DE,FE (CWRU), variable/key/column names, globs (X*_DE_time) or column indices; for a sensor model one per layout channel, '-' for one the file lacks, NAME@RATE for its own rate")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k")] = 3,
    device: Annotated[str, typer.Option(help="device of a PyTorch checkpoint: cpu | auto | cuda | cuda:N | mps")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    per_window: Annotated[bool, typer.Option("--per-window", help="also print every window's class and probability (in --json: 'per_window')")] = False,
    per_window_out: Annotated[Optional[Path], typer.Option("--per-window-out", help="write every window's row to FILE (.csv or .jsonl)")] = None,
) -> None:
    """Diagnose a recording: predicted fault, top-k class probabilities, and the class over time as segments.

    A long recording is streamed in blocks of windows (memory stays bounded) with a progress bar on stderr.
    """
    setup_logging()
    # defers numpy, scipy and the model runtime: imported when the command runs
    from syndiag.workflows.inference import diagnose_file

    try:
        checkpoint = checkpoint or default_checkpoint(config, "finetuned")
        with progress_reporter(str(file)) as progress:
            result = diagnose_file(file, checkpoint, fs, top_k, device, channels=channels, progress=progress, per_window_out=per_window_out)
    except SyndiagError as exc:
        fail(exc)
    if per_window_out is not None:
        err.print(f"wrote {result.windows} window rows to {escape(str(per_window_out))}")
    if as_json:
        try:
            text = json.dumps(result.to_dict(per_window), indent=2, allow_nan=False)
        except ValueError as exc:  # NaN/Inf: strict JSON parsers reject them, so never print them
            fail(SyndiagError(f"{file}: the diagnosis holds a non-finite number, not printed as JSON ({exc})"))
        if out.is_terminal:
            out.print_json(text)
        else:
            typer.echo(text)
        return
    out.print(f"[bold]{escape(result.label)}[/]: {escape(result.description)} (p = {result.probability:.3f}, {result.windows} windows)")
    print_unknown(result)
    print_sensor_findings(result)
    table = Table("class", "description", "probability")
    for name, description, probability in result.top:
        table.add_row(escape(name), escape(description), f"{probability:.4f}")
    out.print(table)
    label, count, share = result.majority
    out.print(f"majority: [bold]{escape(label)}[/] in {count} of {result.windows} windows ({share:.1%}); {len(result.segments)} segment(s)")
    print_segments(result)
    if per_window:
        typer.echo("window\tstart_s\tend_s\tclass\tprobability")
        for row in result.window_rows():
            typer.echo("\t".join("" if v is None else str(v) for v in row.values()))


def print_unknown(result) -> None:
    """The open-set verdict of a checkpoint with a threshold: "unknown fault (score, threshold)" or within the known classes."""
    found = result.unknown
    if found is None:
        return
    numbers = (f"{found.get('method', 'msp')} score {found['score']:.3f}, threshold {found['threshold']:.3f}; {found['windows_above']} of {result.windows} "
               f"windows above it")
    if found["unknown"]:
        out.print(f"[bold red]unknown fault[/] ({numbers}): unlike every class the model was trained on; "
                  f"the closest known class is {escape(result.label)}")
    else:
        out.print(f"known fault classes ({numbers})")


def print_sensor_findings(result) -> None:
    """A sensor model's severity and the layout channels the file lacked (nothing for a cloud or edge model)."""
    severity = getattr(result, "severity", None)
    if severity is not None:
        out.print(f"severity: [bold]{escape(severity.describe())}[/], over {severity.windows} window(s) of {escape(severity.label)}")
    missing = getattr(result, "missing_channels", None)
    if missing:
        out.print(f"missing channels: {escape(', '.join(missing))} (marked absent; the model was trained with modality dropout)")


def print_segments(result) -> None:
    """The first :data:`SEGMENTS_SHOWN` segments as a table."""
    timed = result.window_seconds is not None
    table = Table(*(("start s", "end s") if timed else ("first window", "last window")), "class", "mean confidence", "windows")
    for segment in result.segments[:SEGMENTS_SHOWN]:
        where = (f"{segment.start_s:.3f}", f"{segment.end_s:.3f}") if timed else (str(segment.first_window), str(segment.last_window))
        table.add_row(*where, escape(segment.label), f"{segment.mean_confidence:.3f}", str(segment.windows))
    out.print(table)
    if len(result.segments) > SEGMENTS_SHOWN:
        out.print(f"... {len(result.segments) - SEGMENTS_SHOWN} more segment(s): --json or --per-window-out give them all")


@contextmanager
def progress_reporter(label: str) -> Iterator[Callable[[int, int], None]]:
    """``progress(done, total)`` for :func:`diagnose_file`: a rich bar on a terminal stderr, else a line every
    :data:`PROGRESS_EVERY_S` seconds on stderr."""
    with step_bar(label, loss=False, unit="windows", every_s=PROGRESS_EVERY_S) as bar:
        yield bar.callback()


def export(
    checkpoint: Annotated[Optional[Path], typer.Option(help="fine-tuned cloud or distilled edge checkpoint folder (default: the recipe's OUTPUT_DIR/edge)")] = None,
    config: RecipeOpt = None,
    output: Annotated[Optional[Path], typer.Option("--out", help="ONNX folder to write (default: CHECKPOINT-onnx)")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset")] = 18,
    int8: Annotated[bool, typer.Option("--int8", help="also write OUT-int8: weights quantised to int8 (dynamic), checked against the float graph")] = False,
) -> None:
    """Export a checkpoint to ONNX: `diagnose --checkpoint` then runs it with ONNX Runtime, without PyTorch."""
    setup_logging()
    # defers numpy, scipy and the model runtime: imported when the command runs
    from syndiag.workflows.inference import export_checkpoint, quantize_export

    try:
        checkpoint = checkpoint or default_checkpoint(config, "edge")
        with out.status(f"exporting {escape(str(checkpoint))} to ONNX"):
            folder, difference = export_checkpoint(checkpoint, output, opset)
        quantized = quantize_export(folder) if int8 else None
    except SyndiagError as exc:
        fail(exc)
    out.print(f"wrote {escape(str(folder))} (max |Δp| vs PyTorch {difference:.1e}); "
              f"run it with: syndiag diagnose FILE --checkpoint {escape(str(folder))}")
    if quantized is not None:
        out.print(f"wrote {escape(str(quantized[0]))} (int8; max |Δp| vs the float graph {quantized[1]:.3f})")
