"""``syndiag diagnose | export``: a recording's diagnosis, and ONNX exports that run without PyTorch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from syndiag.cli.common import fail, out, setup_logging
from syndiag.errors import SyndiagError


def diagnose(
    file: Annotated[Path, typer.Argument(help="a recording (.mat, .csv, .npy, .npz) or windows (.npy, shape (n, channels, length))")],
    checkpoint: Annotated[Path, typer.Option(help="fine-tuned cloud or edge checkpoint, or an ONNX export folder")] = Path("runs/cloud-cpu/finetuned"),
    fs: Annotated[Optional[float], typer.Option(help="sampling rate of FILE in Hz, if the file does not say")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k")] = 3,
    device: Annotated[str, typer.Option(help="device of a PyTorch checkpoint: cpu | auto | cuda | cuda:N | mps")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Diagnose a recording: predicted fault, its description and the top-k class probabilities."""
    setup_logging()
    from syndiag.workflows.inference import diagnose_file

    try:
        result = diagnose_file(file, checkpoint, fs, top_k, device)
    except SyndiagError as exc:
        fail(exc)
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
        return
    out.print(f"[bold]{escape(result.label)}[/]: {escape(result.description)} (p = {result.probability:.3f}, {result.windows} windows)")
    table = Table("class", "description", "probability")
    for name, description, probability in result.top:
        table.add_row(escape(name), escape(description), f"{probability:.4f}")
    out.print(table)


def export(
    checkpoint: Annotated[Path, typer.Option(help="fine-tuned cloud or distilled edge checkpoint folder")] = Path("runs/cloud-cpu/edge"),
    output: Annotated[Optional[Path], typer.Option("--out", help="ONNX folder to write (default: CHECKPOINT-onnx)")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset")] = 18,
) -> None:
    """Export a checkpoint to ONNX: `diagnose --checkpoint` then runs it with ONNX Runtime, without PyTorch."""
    setup_logging()
    from syndiag.workflows.inference import export_checkpoint

    try:
        with out.status(f"exporting {escape(str(checkpoint))} to ONNX"):
            folder, difference = export_checkpoint(checkpoint, output, opset)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"wrote {escape(str(folder))} (max |Δp| vs PyTorch {difference:.1e}); "
              f"run it with: syndiag diagnose FILE --checkpoint {escape(str(folder))}")
