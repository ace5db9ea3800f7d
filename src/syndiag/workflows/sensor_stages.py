"""The sensor model on FEMTO PRONOSTIA (LLaVA-for-Sensors article, severity on run-to-failure data): the degradation stage of
each snapshot from both accelerometers, the temperature of the same moment and the speed, K shots per stage from the
training bearings, tested on whole held-out bearings; a stage timeline per test bearing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from syndiag.config.sensor_run import SensorRunConfig
from syndiag.data.fewshot import FewShotTask
from syndiag.data.sensor_windows import SensorWindows
from syndiag.data.windowing import POOL, TEST
from syndiag.errors import ConfigError, DataError
from syndiag.evaluation.metrics import append_result, classification_report, run_record
from syndiag.evaluation.severity import severity_report
from syndiag.evaluation.stage_timeline import write_stage_timeline_png
from syndiag.prognostics.femto_stages import femto_stage_set, snapshot_windows
from syndiag.training.common import seed_everything, set_threads
from syndiag.training.sensor import SensorInputs, align, finetune_sensor, predict_sensor
from syndiag.workflows.sensor import SensorSession, new_model


def stages_dir(config: SensorRunConfig) -> Path:
    return Path(config.output_dir) / "sensor-stages"


def femto_root(root: Path | None) -> Path:
    """The FEMTO folder: ``root``/femto, or ``root`` itself when it holds the bearings (``root``: data.data_root or $SYNDIAG_DATA)."""
    if root is None:
        raise ConfigError("FEMTO stages need the data: pass --data-root (a folder holding femto/) or set SYNDIAG_DATA")
    return root / "femto" if (root / "femto").is_dir() else root


def stage_windows(config: SensorRunConfig) -> tuple[SensorWindows, dict]:
    if config.femto is None:
        raise ConfigError("this recipe has no 'femto' block: use a FEMTO stages recipe (sensor/femto)")
    if config.model.use_spectrogram:
        raise ConfigError("model.use_spectrogram: the FEMTO stages recipe reads the sensors only (no Syn-Diag extractor for FEMTO); set it false")
    sensor_set, trajectories = femto_stage_set(femto_root(config.data.resolved_data_root()), config.femto.bearings,
                                                **config.femto.stage_options())
    return snapshot_windows(sensor_set, config.channels, config.femto.test_bearings), trajectories


def stage_task(windows: SensorWindows, k: int, seed: int) -> FewShotTask:
    """K snapshots per stage from the training bearings; every snapshot of the test bearings."""
    rng = np.random.default_rng([seed, 1701])
    chosen = []
    for label, name in enumerate(windows.class_names):
        pool = np.flatnonzero((windows.labels == label) & (windows.split == POOL))
        if pool.size < k:
            raise DataError(f"stage {name!r} has {pool.size} snapshots in the training bearings, {k}-shot asked")
        chosen.append(np.sort(rng.permutation(pool)[:k]))
    return FewShotTask(k=k, seed=seed, source=("femto-train",), target="femto-test", train=np.concatenate(chosen),
                       test=np.flatnonzero(windows.split == TEST), classes=tuple(windows.class_names))


def alignment_pool(windows: SensorWindows, shots: int, seed: int) -> np.ndarray:
    """Stage (a)'s pool, as on CWRU: up to ``shots`` training-bearing snapshots per stage and operating condition."""
    rng = np.random.default_rng([seed, 1702])
    chosen = []
    for label in range(len(windows.class_names)):
        for condition in range(len(windows.condition_names)):
            cell = np.flatnonzero((windows.labels == label) & (windows.conditions == condition) & (windows.split == POOL))
            chosen.append(np.sort(rng.permutation(cell)[:shots]))
    return np.concatenate(chosen)


@dataclass
class StagesOutcome:
    record: dict[str, Any]
    checkpoint: Path
    timeline_png: Path


@dataclass
class TrainedStages:
    """A sensor model fine-tuned on the FEMTO stages, with its windows, trajectories, task and checkpoint."""

    model: Any
    windows: SensorWindows
    inputs: SensorInputs
    trajectories: dict
    task: FewShotTask
    seconds: float
    checkpoint: Path


def train_stages(config: SensorRunConfig, prepared: tuple[SensorWindows, dict] | None = None) -> TrainedStages:
    """Align (optional, on ``align.shots`` snapshots per stage and condition) and fine-tune on K snapshots per stage of the training
    bearings; saved to OUTPUT_DIR/sensor-stages. ``prepared``: windows and trajectories already built (else from the recipe)."""
    if config.model.encoder_pretraining != "none":
        raise ConfigError("model.encoder_pretraining: the FEMTO stages split by bearing, and the encoder's pretraining reads "
                          "every pool-half window, test bearings' included; set it to none for `sensor stages`")
    set_threads(config.threads)
    seed_everything(config.seed)
    windows, trajectories = prepared if prepared is not None else stage_windows(config)
    inputs = SensorInputs(windows, None)
    model = new_model(config, SensorSession(config, None, windows, inputs))
    task = stage_task(windows, config.finetune.shots, config.seed)
    seconds = 0.0
    if config.align.epochs:
        seconds += align(model, inputs, alignment_pool(windows, config.align.shots, config.seed), config.align, config.seed).seconds
    seconds += finetune_sensor(model, inputs, task, config.finetune, config.seed).seconds
    folder = model.save_pretrained(stages_dir(config), extra={
        "stage": "finetuned", "task": {"k": task.k, "seed": task.seed, "source": "femto-train", "target": "femto-test"},
        "femto": config.femto.model_dump(mode="json"), "layout": [c.model_dump(mode="json") for c in config.channels],
        "data": config.data.model_dump(mode="json"), "fs": max(float(c.fs) for c in config.channels), "data_source": "femto-stages",
        "modality_dropout": {"align": config.align.modality_dropout, "finetune": config.finetune.modality_dropout},
        "train_seconds": round(seconds, 2), "config_hash": config.config_hash()})
    return TrainedStages(model, windows, inputs, trajectories, task, seconds, folder)


def evaluate_stages(config: SensorRunConfig, trained: TrainedStages, drop: list[str] | None = None, results: bool = True) -> StagesOutcome:
    """Stage accuracy, macro F1 and stage MAE on the test bearings (``drop``: channels removed at test), a timeline PNG, one record."""
    windows, task = trained.windows, trained.task
    prediction = predict_sensor(trained.model, trained.inputs, task.test, config.finetune.eval_batch_size, drop)
    truth = windows.labels[task.test]
    report = classification_report(truth, prediction.predicted, windows.class_names)
    severity = severity_report(windows.severity[task.test], prediction.severity_mean, prediction.severity_std, np.arange(len(windows.class_names)))
    suffix = f"-without-{'-'.join(drop)}" if drop else ""
    png = write_stage_timeline_png(windows, task.test, prediction.predicted, trained.trajectories,
                                   Path(config.output_dir) / f"stage-timeline{suffix}.png",
                                   f"FEMTO degradation stages, {task.k}-shot, seed {task.seed}{' without ' + ', '.join(drop) if drop else ''}")
    record = run_record(
        method="Sensor-model stages" + (f" without {'+'.join(drop)}" if drop else ""), backbone=config.model.backbone, dataset="femto",
        conditions={"source": ["femto-train"], "target": "femto-test"}, k=task.k, seed=task.seed, profile=config.profile,
        config_hash=config.config_hash(),
        metrics={"accuracy": report.accuracy, "macro_f1": report.macro_f1, **{f"severity_{k}": v for k, v in severity.items()}},
        train_seconds=round(trained.seconds, 2), eval_seconds=round(prediction.seconds, 2), test_samples=int(len(task.test)),
        channels=[c.name for c in config.channels], dropped=list(drop or []), test_bearings=list(config.femto.test_bearings),
        stage_counts={name: int((truth == i).sum()) for i, name in enumerate(windows.class_names)},
        onsets={name: t.onset for name, t in trained.trajectories.items()}, confusion=report.confusion, checkpoint=str(trained.checkpoint),
        parameters=trained.model.parameter_counts())
    if results:
        append_result(Path(config.results_file), record)
    return StagesOutcome(record, trained.checkpoint, png)


def run_sensor_stages(config: SensorRunConfig, drop: list[str] | None = None, results: bool = True) -> StagesOutcome:
    """Train on the training bearings' K-shot stages, test on the held-out bearings (``drop``: channels removed at test)."""
    return evaluate_stages(config, train_stages(config), drop, results)
