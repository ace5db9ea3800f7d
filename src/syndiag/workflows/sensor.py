"""The sensor model's stages as library functions (LLaVA-for-Sensors article): align -> finetune -> evaluate, on CWRU windows
aligned 1:1 with the Syn-Diag windows, so both systems are scored on the same few-shot tasks."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from syndiag.evaluation.attention_plot import write_attention_png
from syndiag.models.edge import TeacherParts
from syndiag.config.sensor_run import SensorRunConfig
from syndiag.data.fewshot import FewShotTask, few_shot_task, pretraining_pool
from syndiag.data.noise import noise_augmented
from syndiag.data.prepare import PreparedDataset, prepare
from syndiag.data.sensor_windows import SensorWindows, sensor_windows_for
from syndiag.data.sources import sensor_recordings
from syndiag.errors import ConfigError
from syndiag.evaluation.metrics import (
    append_result,
    classification_report,
    run_record,
    write_confusion_png,
)
from syndiag.evaluation.severity import severity_report
from syndiag.models.backbones import load_backbone
from syndiag.models.device import place
from syndiag.models.sensor import KIND, SensorModel
from syndiag.training.common import seed_everything, set_threads
from syndiag.training.engine import configure_training
from syndiag.training.sensor import SensorInputs, align, finetune_sensor, predict_sensor
from syndiag.training.self_supervised import pretrain_encoder
from syndiag.training.sensor_spectral import fit_spectral_head, fit_spectral_support
from syndiag.workflows.session import check_draw, require_checkpoint, require_finetuned

StepProgress = Callable[[int, int, float], None]


def aligned_dir(config: SensorRunConfig) -> Path:
    return Path(config.output_dir) / "sensor-aligned"


def finetuned_dir(config: SensorRunConfig) -> Path:
    return Path(config.output_dir) / "sensor-finetuned"


def ssl_dir(config: SensorRunConfig) -> Path:
    return Path(config.output_dir) / "sensor-ssl"


@dataclass
class SensorSession:
    config: SensorRunConfig
    dataset: PreparedDataset
    windows: SensorWindows
    inputs: SensorInputs
    sensor_set: Any = None


def sensor_session(config: SensorRunConfig) -> SensorSession:
    """Threads and seed, the prepared windows (CWRU, its simulator, or a custom spec) and their sensor channels aligned to them."""
    set_threads(config.threads)
    configure_training(config)  # ranks meet here, before any cache is looked for
    seed_everything(config.seed)
    sensor_set = sensor_recordings(config.data, config.model.use_images)
    dataset = prepare(config.data)
    windows = sensor_windows_for(dataset, sensor_set, config.channels)
    inputs = SensorInputs(windows, dataset if config.model.use_spectrogram else None)
    return SensorSession(config, dataset, windows, inputs, sensor_set)


def new_model(config: SensorRunConfig, session: SensorSession, ssl_folder: Path | None = None) -> SensorModel:
    """A fresh sensor model on the recipe's backbone; spectrogram tokens from the aligned Syn-Diag extractor when one is named;
    its encoder from the masked-token pretraining in ``ssl_folder`` (default OUTPUT_DIR/sensor-ssl, trained there first
    when absent) when the recipe asks for it."""
    extractor = None
    if config.model.use_spectrogram:
        if config.visual_extractor is None:
            raise ConfigError("model.use_spectrogram needs visual_extractor: a Syn-Diag checkpoint (syndiag pretrain) whose aligned "
                              "extractor gives the spectrogram tokens, or set model.use_spectrogram: false")
        if not (Path(config.visual_extractor) / "model.safetensors").is_file():
            raise ConfigError(f"visual_extractor {config.visual_extractor}: no Syn-Diag checkpoint there; run `syndiag pretrain -c "
                              "syndiag/cpu` first (its OUTPUT_DIR/pretrained), point visual_extractor at one, or set "
                              "model.use_spectrogram: false")
        extractor = TeacherParts.from_checkpoint(config.visual_extractor).extractor
    backbone = load_backbone(config.model.backbone, config.model.allow_download, config.model.num_layers)
    severity = session.windows.severity[np.isfinite(session.windows.severity)]
    severity_range = (float(severity.min()), float(severity.max())) if severity.size and severity.max() > severity.min() else None
    model = SensorModel(config.model, backbone, list(config.channels), session.windows.class_names, session.windows.prompts,
                        severity_range, extractor)
    if config.model.encoder_pretraining == "masked-tokens":
        state, _ = pretrain_encoder([session.windows], config.model.encoder, config.channels, config.ssl, config.seed,
                                    ssl_folder or ssl_dir(config))
        model.encoder.load_state_dict(state)
    place(model, config)
    configure_training(config, model)
    return model


def run_sensor_ssl(config: SensorRunConfig, progress: StepProgress | None = None) -> dict:
    """The encoder's masked-token pretraining on every pool-half window of the recipe's data, into OUTPUT_DIR/sensor-ssl."""
    session = sensor_session(config)
    _, description = pretrain_encoder([session.windows], config.model.encoder, config.channels, config.ssl, config.seed,
                                      ssl_dir(config), progress)
    return {**description, "folder": str(ssl_dir(config))}


def spectrogram_grid(model: SensorModel) -> int | None:
    """The side of the extractor's token grid (its tokens are masked band by band when a stacked channel is missing)."""
    if model.extractor is None:
        return None
    size = model.extractor.pool.output_size
    return int(size if isinstance(size, int) else size[0])


def load_model(folder: Path, config: SensorRunConfig) -> SensorModel:
    """A sensor checkpoint on the recipe's device; a checkpoint of another channel layout is a ConfigError naming the channels."""
    model = SensorModel.from_pretrained(folder, layout=list(config.channels))
    return place(model, config)


@dataclass
class StageOutcome:
    checkpoint: Path
    windows: int
    seconds: float
    seconds_per_step: float
    losses: list[float] = field(default_factory=list)
    task: FewShotTask | None = None
    parameters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Pools:
    """Windows of the labelled pool: stage (a) is trained on ``alignment``, the discriminant fitted on ``discriminant``,
    the head/prototype mix chosen on ``mix``."""

    alignment: np.ndarray
    discriminant: np.ndarray
    mix: np.ndarray


def alignment_pools(config: SensorRunConfig, dataset: PreparedDataset, seed: int) -> Pools:
    """The whole pool for each, or ``spectral.mix_holdout`` windows per class and condition kept out of stage (a) (and of
    the discriminant, as ``spectral.mix_holdout_of`` says) to choose the mix on (a larger K extends a smaller one)."""
    shots, held = config.align.shots, config.spectral.mix_holdout if config.model.spectral_path else 0
    pool = pretraining_pool(dataset, seed, k=shots)
    if not held:
        return Pools(pool, pool, pool)
    if shots - held < 2:
        raise ConfigError(f"spectral.mix_holdout: {held} windows per class and condition leave {max(shots - held, 0)} of align.shots = "
                          f"{shots} to train on; the spectrum path needs 2 (one half scores the other's components)")
    fitted = pretraining_pool(dataset, seed, k=shots - held)
    kept_out = np.setdiff1d(pool, fitted)
    return Pools(fitted, pool if config.spectral.mix_holdout_of == "alignment" else fitted, kept_out)


def run_sensor_align(config: SensorRunConfig, progress: StepProgress | None = None) -> StageOutcome:
    """Stage (a): align the sensor tokens with the class descriptions on the multi-condition K-shot pool."""
    session = sensor_session(config)
    model = new_model(config, session)
    session.inputs.token_grid = spectrogram_grid(model)
    pools = alignment_pools(config, session.dataset, config.seed)
    result = align(model, session.inputs, pools.alignment, config.align, config.seed, progress)
    spectral = (fit_spectral_head(model, session.inputs.windows, pools.discriminant, config.spectral, config.seed)
                if model.spectral is not None else None)
    folder = model.save_pretrained(aligned_dir(config), extra={"stage": "aligned", "seed": config.seed, "seconds": round(result.seconds, 1),
                                                               "losses": result.losses, "spectral_path": spectral, **sensor_meta(config, session)})
    return StageOutcome(folder, len(pools.alignment), result.seconds, result.seconds_per_step, result.losses, parameters=model.parameter_counts())


def sensor_task(config: SensorRunConfig, dataset: PreparedDataset, k: int | None = None, seed: int | None = None) -> FewShotTask:
    stage = config.finetune
    check_draw(k, seed)
    source = stage.source or dataset.condition_names[-1]
    return few_shot_task(dataset, stage.shots if k is None else k, config.seed if seed is None else seed, source, stage.target)


def run_sensor_finetune(config: SensorRunConfig, checkpoint: Path | None = None, *, aligned: bool = True, shots: int | None = None,
                        seed: int | None = None, progress: StepProgress | None = None) -> StageOutcome:
    """Stage (b): the heads on the K-shot set (with noisy copies of it by default), from the aligned model or a fresh one."""
    check_draw(shots, seed)
    source = (checkpoint or aligned_dir(config)) if aligned else None
    if source is not None:
        require_checkpoint(source, KIND)
    session = sensor_session(config)
    task = sensor_task(config, session.dataset, shots, seed)
    model = load_model(source, config) if source is not None else new_model(config, session)
    result = finetune_on(config, model, session.dataset, session.sensor_set, task, progress)
    folder = model.save_pretrained(finetuned_dir(config), extra={
        "stage": "finetuned", "task": {"k": task.k, "seed": task.seed, "source": task.source[0], "target": task.target},
        "aligned_from": str(source) if source else None, "train_seconds": round(result.seconds, 2), "train_steps": result.steps,
        "seconds_per_step": round(result.seconds_per_step, 4), "losses": result.losses, "config_hash": config.config_hash(),
        **sensor_meta(config, session)})
    return StageOutcome(folder, result.windows, result.seconds, result.seconds_per_step, result.losses, task, model.parameter_counts())


def inputs_for(config: SensorRunConfig, model: SensorModel, dataset: PreparedDataset, sensor_set) -> SensorInputs:
    """The model's inputs for any prepared dataset (a noisy copy included), channels aligned to its windows."""
    return SensorInputs(sensor_windows_for(dataset, sensor_set, config.channels), dataset if config.model.use_spectrogram else None,
                        spectrogram_grid(model))


def finetune_on(config: SensorRunConfig, model: SensorModel, dataset: PreparedDataset, sensor_set, task: FewShotTask,
                progress: StepProgress | None = None):
    """Stage (b) on ``task``'s support set of ``dataset``, plus one noisy copy of each window when the recipe says so; then
    the spectrum path's prototypes and mix (chosen on the pool's validation windows outside the support set)."""
    train_task, train_data = task, dataset
    if config.finetune.noise_snr_db is not None:
        train_data = noise_augmented(dataset, task.train, config.finetune.noise_snr_db, task.seed)
        train_task = replace(task, train=np.arange(len(train_data.labels)))
    result = finetune_sensor(model, inputs_for(config, model, train_data, sensor_set), train_task, config.finetune, task.seed, progress)
    if model.spectral is not None:
        mix_pool = alignment_pools(config, dataset, task.seed).mix
        result.spectral = fit_spectral_support(model, inputs_for(config, model, dataset, sensor_set), task.train, mix_pool, config.spectral,
                                               task.seed, config.finetune.eval_batch_size)
    return result


@dataclass
class SensorEvaluation:
    record: dict[str, Any]
    task: FewShotTask
    confusion_png: Path
    attention_png: Path


def run_sensor_evaluate(config: SensorRunConfig, checkpoint: Path | None = None, target: str | None = None,
                        drop: list[str] | None = None, results: bool = True) -> SensorEvaluation:
    """Fault type (accuracy, macro precision and F1) and severity (MAE, ordinal accuracy, interval coverage) on the test set;
    ``drop`` removes channels at test time (missing-sensor robustness)."""
    folder = checkpoint or finetuned_dir(config)
    require_finetuned(folder, KIND, "sensor finetune")
    session = sensor_session(config)
    model = load_model(folder, config)
    session.inputs.token_grid = spectrogram_grid(model)
    meta = model.checkpoint_meta
    spec = meta["task"]
    task = few_shot_task(session.dataset, spec["k"], spec["seed"], spec["source"], target or spec["target"])
    prediction = predict_sensor(model, session.inputs, task.test, config.finetune.eval_batch_size, drop)
    truth = session.windows.labels[task.test]
    report = classification_report(truth, prediction.predicted, session.windows.class_names)
    true_severity = session.windows.severity[task.test]
    severity = severity_report(true_severity, prediction.severity_mean, prediction.severity_std)
    held = np.zeros(len(true_severity), bool)
    for level in config.finetune.severity_holdout:
        held |= np.isclose(true_severity, level)
    if held.any():
        levels = np.unique(true_severity[np.isfinite(true_severity)])
        holdout = severity_report(true_severity[held], prediction.severity_mean[held], prediction.severity_std[held], levels)
        severity.update({f"holdout_{k}": v for k, v in holdout.items()})
    name = f"{task.name}{'-without-' + '-'.join(drop) if drop else ''}"
    confusion = write_confusion_png(report, Path(config.output_dir) / f"sensor-confusion-{name}.png", f"sensor model - {name}")
    record = run_record(
        method="Sensor-model" + (f" without {'+'.join(drop)}" if drop else ""), backbone=config.model.backbone,
        dataset=session.dataset.meta["dataset"], conditions={"source": list(task.source), "target": task.target}, k=task.k,
        seed=task.seed, profile=config.profile, config_hash=config.config_hash(),
        metrics={"accuracy": report.accuracy, "macro_precision": report.macro_precision, "macro_f1": report.macro_f1,
                 **{f"severity_{k}": v for k, v in severity.items()}},
        train_seconds=float(meta.get("train_seconds", 0.0)), eval_seconds=round(prediction.seconds, 2),
        test_samples=len(task.test), channels=[c.name for c in config.channels], dropped=list(drop or []),
        parameters=model.parameter_counts(), checkpoint=str(folder),
    )
    attention = write_attention(model, session, task, Path(config.output_dir) / f"sensor-attention-{name}.png", drop)
    if results:
        append_result(Path(config.results_file), record)
    return SensorEvaluation(record, task, confusion, attention)


@torch.inference_mode()
def write_attention(model: SensorModel, session: SensorSession, task: FewShotTask, path: Path, drop: list[str] | None) -> Path:
    """Where the adapter looked (sensor, time patch, spectrogram band), averaged over up to 64 test windows."""
    names = [spec.name for spec in session.windows.layout]
    chunk = task.test[:64]
    present = session.windows.present[chunk].copy()
    for channel in drop or []:
        present[:, names.index(channel)] = False
    output = model(session.inputs.batch(chunk, present))
    return write_attention_png(output.attention.float().cpu(), output.token_channel.cpu(), output.token_time_s.cpu(), names, path,
                               f"sensor model attention, {task.name}, {len(chunk)} test windows", token_freq_hz=output.token_freq_hz.cpu())


def sensor_meta(config: SensorRunConfig, session: SensorSession) -> dict[str, Any]:
    """What a sensor checkpoint carries to read a raw recording as it was trained: data config, channel layout, rate, and the
    modality dropout it was trained with (without it, a recording missing a channel is refused at diagnosis)."""
    return {"data": config.data.model_dump(mode="json"), "layout": [c.model_dump(mode="json") for c in config.channels],
            "fs": session.dataset.fs, "data_source": session.dataset.meta["source"],
            "modality_dropout": {"align": config.align.modality_dropout, "finetune": config.finetune.modality_dropout}}


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
