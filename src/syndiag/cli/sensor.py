"""``syndiag sensor pretrain | finetune | evaluate``: the sensor model (LLaVA-for-Sensors); each calls one workflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from syndiag.cli.common import (
    DataRootOpt,
    DeviceOpt,
    SeedOpt,
    SetOpt,
    ShotsOpt,
    VerboseOpt,
    fail,
    guarded,
    load_run_config,
    out,
    setup_logging,
    step_bar,
    tracked,
)
from syndiag.config.sensor_run import SensorRunConfig
from syndiag.errors import SyndiagError

sensor_app = typer.Typer(help="The sensor model: several sensors at their own rates, fused by an adapter on a frozen language model; "
                              "fault type and severity.", no_args_is_help=True)
SensorConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="sensor recipe, a file or a shipped profile (sensor/cpu, sensor/paper)")]
DropOpt = Annotated[Optional[list[str]], typer.Option("--drop", help="remove a channel at test time (a failed sensor), e.g. --drop FE")]


def load_sensor_config(config: Path, data_root: Path | None, sets: list[str] | None, **fields):
    return load_run_config(config, data_root, sets, recipe=SensorRunConfig, **fields)


def run_with_bar(label: str, workflow, config: Path, data_root: Path | None, sets: list[str] | None, device: str | None):
    """``workflow(recipe, progress=...)`` on the loaded recipe behind a progress bar; a SyndiagError exits 2 naming the problem."""
    try:
        cfg = load_sensor_config(config, data_root, sets, device=device)
        with step_bar(label) as bar:
            return workflow(cfg, progress=tracked(bar, label))
    except SyndiagError as exc:
        fail(exc)


@sensor_app.command("ssl")
@guarded
def sensor_ssl(config: SensorConfigOpt, data_root: DataRootOpt = None, sets: SetOpt = None, device: DeviceOpt = None,
               verbose: VerboseOpt = False) -> None:
    """Self-supervised pretraining of the time-series encoder: masked tokens rebuilt on every pool-half window, no labels
    (cached in OUTPUT_DIR/sensor-ssl, resumable; `pretrain` starts from it with model.encoder_pretraining: masked-tokens)."""
    setup_logging(verbose)
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.sensor import run_sensor_ssl

    result = run_with_bar("ssl", run_sensor_ssl, config, data_root, sets, device)
    losses = result.get("losses") or []
    trained = f"{result['steps']} steps in {result['seconds']:.0f} s; loss {losses[0]:.3f} -> {losses[-1]:.3f}" if losses else "cached"
    out.print(f"encoder pretrained on {result['identity']['n_windows']} unlabelled windows ({trained})\n"
              f"encoder {escape(result['folder'])}")


@sensor_app.command("pretrain")
@guarded
def sensor_pretrain(config: SensorConfigOpt, data_root: DataRootOpt = None, sets: SetOpt = None, device: DeviceOpt = None,
                    verbose: VerboseOpt = False) -> None:
    """Stage (a): align the sensor tokens with the class descriptions on the multi-condition pool, with modality dropout."""
    setup_logging(verbose)
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.sensor import run_sensor_align

    result = run_with_bar("align", run_sensor_align, config, data_root, sets, device)
    counts = result.parameters
    losses = f"; loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}" if result.losses else ""
    out.print(f"aligned on {result.windows} windows in {result.seconds:.0f} s{losses}\n"
              f"trained parameters (encoder, adapter, heads) {counts.get('adapter_and_heads', 0):,} vs frozen language model "
              f"{counts.get('frozen_lm', 0):,} ({counts.get('adapter_and_heads', 0) / max(counts.get('frozen_lm', 1), 1):.2%})\n"
              f"checkpoint {escape(str(result.checkpoint))}")


@sensor_app.command("finetune")
@guarded
def sensor_finetune(
    config: SensorConfigOpt,
    checkpoint: Annotated[Optional[Path], typer.Option(help="aligned checkpoint (default: OUTPUT_DIR/sensor-aligned; 'none' for no alignment)")] = None,
    shots: ShotsOpt = None,
    seed: SeedOpt = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Stage (b): the fault and severity heads on the K-shot set (noisy copies and modality dropout by default)."""
    setup_logging(verbose)
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.sensor import run_sensor_finetune

    try:
        cfg = load_sensor_config(config, data_root, sets, device=device)
        aligned = not (checkpoint is not None and str(checkpoint) == "none")
        with step_bar("finetune") as bar:
            result = run_sensor_finetune(cfg, checkpoint if aligned else None, aligned=aligned, shots=shots, seed=seed,
                                         progress=tracked(bar, "finetune"))
    except SyndiagError as exc:
        fail(exc)
    out.print(f"fine-tuned on {escape(result.task.name)} ({result.windows} windows) in {result.seconds:.0f} s "
              f"({result.seconds_per_step * 1e3:.0f} ms/step); loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}\n"
              f"checkpoint {escape(str(result.checkpoint))}")


@sensor_app.command("evaluate")
@guarded
def sensor_evaluate(
    config: SensorConfigOpt,
    checkpoint: Annotated[Optional[Path], typer.Option(help="fine-tuned sensor checkpoint (default: OUTPUT_DIR/sensor-finetuned)")] = None,
    target: Annotated[Optional[str], typer.Option(help="test condition (default: the fine-tuning one)")] = None,
    drop: DropOpt = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Fault type (accuracy, macro precision, F1) and severity (MAE, ordinal accuracy, 90 % interval coverage); one results line."""
    setup_logging()
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.sensor import run_sensor_evaluate

    try:
        cfg = load_sensor_config(config, data_root, sets, device=device)
        result = run_sensor_evaluate(cfg, checkpoint, target, drop)
    except SyndiagError as exc:
        fail(exc)
    record = result.record
    if as_json:
        typer.echo(json.dumps(record, allow_nan=False, default=str))
        return
    m = record["metrics"]
    table = Table("", "accuracy", "macro F1", "severity MAE", "ordinal accuracy", "90 % coverage",
                  title=escape(f"{result.task.name} ({len(result.task.test)} test windows){' without ' + ', '.join(drop) if drop else ''}"))
    table.add_row("sensor model", f"{m['accuracy']:.4f}", f"{m['macro_f1']:.4f}", f"{m['severity_mae']:.4f}",
                  f"{m['severity_ordinal_accuracy']:.4f}", f"{m['severity_interval_90_coverage']:.3f}")
    out.print(table)
    if "severity_holdout_mae" in m:
        out.print(f"held-out severity levels {cfg.finetune.severity_holdout}: MAE {m['severity_holdout_mae']:.4f}, "
                  f"ordinal accuracy {m['severity_holdout_ordinal_accuracy']:.4f} ({m['severity_holdout_windows']} windows)")
    out.print(f"confusion matrix {escape(str(result.confusion_png))}\nattention {escape(str(result.attention_png))}\n"
              f"record appended to {escape(str(cfg.results_file))}")


@sensor_app.command("stages")
@guarded
def sensor_stages(
    config: SensorConfigOpt = Path("sensor/femto"),
    drop: DropOpt = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
    device: DeviceOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """FEMTO degradation stages: fine-tune on K snapshots per stage of the training bearings, test on whole held-out bearings."""
    setup_logging()
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.sensor_stages import run_sensor_stages

    try:
        cfg = load_sensor_config(config, data_root, sets, device=device)
        result = run_sensor_stages(cfg, drop)
    except SyndiagError as exc:
        fail(exc)
    record = result.record
    if as_json:
        typer.echo(json.dumps(record, allow_nan=False, default=str))
        return
    m = record["metrics"]
    table = Table("", "accuracy", "macro F1", "stage MAE", "90 % coverage",
                  title=escape(f"FEMTO stages, {record['k']}-shot, test bearings {', '.join(record['test_bearings'])} "
                               f"({record['test_samples']} snapshots){' without ' + ', '.join(drop) if drop else ''}"))
    table.add_row("sensor model", f"{m['accuracy']:.4f}", f"{m['macro_f1']:.4f}", f"{m['severity_mae']:.3f}", f"{m['severity_interval_90_coverage']:.3f}")
    out.print(table)
    out.print(f"test snapshots per stage {record['stage_counts']}; onsets (snapshot index) {record['onsets']}\n"
              f"timeline {escape(str(result.timeline_png))}\ncheckpoint {escape(str(result.checkpoint))}\n"
              f"record appended to {escape(str(cfg.results_file))}")
