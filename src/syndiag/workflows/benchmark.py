"""Benchmark harness for the paper's Tables 1-3 (§5.2-5.3): every method on identical splits, resumable cells, noise robustness."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
from safetensors.torch import load_file

from safetensors import safe_open
from safetensors.torch import save
from syndiag.config.runtime import RuntimeConfig, ScalingConfig
from syndiag.evaluation.predict import predict
from syndiag.models.backbones import load_backbone
from syndiag.models.cloud import SynDiagCloud
from syndiag.models.quantize import int8_language_model
from syndiag.training.engine import configure_training
from syndiag.training.finetune import finetune
from syndiag.training.pretrain import pretrain
from syndiag.workflows.session import setup
from syndiag.atomic import atomic_write_bytes
from syndiag.config.benchmark import (
    IMAGE_BASELINES,
    SENSOR_METHODS,
    SPECTRAL_METHODS,
    SYNDIAG_VARIANTS,
    BenchmarkConfig,
    base_method,
)
from syndiag.config.data import DataConfig
from syndiag.config.run import RunConfig
from syndiag.data.fewshot import (
    FewShotTask,
    cross_condition_tasks,
    few_shot_task,
    pretraining_pool,
)
from syndiag.data.noise import noise_augmented, noisy_subset
from syndiag.data.prepare import PreparedDataset, prepare
from syndiag.errors import ConfigError
from syndiag.evaluation.metrics import (
    append_result,
    classification_report,
    run_record,
)
from syndiag.evaluation.provenance import (
    check_committed_code,
    current_commit,
    provenance,
)
from syndiag.models.baselines import (
    EnvelopeSpectrumClassifier,
    LogSpectrumNearestNeighbour,
    VisualPrototypes,
    build_image_baseline,
)
from syndiag.models.checkpoint import verify_checkpoint
from syndiag.models.device import place
from syndiag.training.baselines import predict_images, train_image_baseline
from syndiag.training.common import seed_everything
from syndiag.workflows.bench_sensor import train_sensor_model
from syndiag.workflows.bench_spectral import train_spectral
from syndiag.workflows.cells import (
    Cell,
    Trained,
    cell_hash,
    data_identity,
    digest,
    finished_cells,
    mismatch_error,
)

log = logging.getLogger(__name__)

class Benchmark:
    """Runs cells in order, appending one JSON line per finished cell; cells already in the results file are skipped."""
    def __init__(self, settings: BenchmarkConfig, overrides: dict[str, str] | None = None, data: DataConfig | None = None) -> None:
        self.settings = settings
        self.recipe = RunConfig.from_yaml(settings.recipe, overrides or {})
        if data is not None:
            self.recipe = self.recipe.model_copy(update={"data": data})
        self.profile = settings.profile or self.recipe.profile
        self.dataset = prepare(self.recipe.data)
        unknown = [c for c in settings.conditions or [] if c not in self.dataset.condition_names] if data is None else []
        if unknown:
            raise ConfigError(f"conditions: unknown {unknown}; this dataset has {self.dataset.condition_names}")
        self.identity = data_identity(self.dataset)
        self._noisy: dict[tuple, PreparedDataset] = {}
        self._pretraining_seconds = 0.0

    @classmethod
    def for_suite(cls, settings: BenchmarkConfig, suite: str, overrides: dict[str, str] | None = None) -> "Benchmark":
        """The harness on the suite's dataset: Table 2 swaps the recipe's data for ``table2_data`` (same data.* overrides)."""
        if suite != "table2":
            return cls(settings, overrides)
        data_overrides = {k[len("data."):]: v for k, v in (overrides or {}).items() if k.startswith("data.")}
        return cls(settings, overrides, DataConfig.from_yaml(settings.table2_data, data_overrides))

    @property
    def data_name(self) -> str:
        """The prepared data's own name (``cwru``, ``simulated-cwru``, a spec's name): results of different data stay apart."""
        return self.dataset.meta["dataset"]

    def seed_dir(self, seed: int) -> Path:
        """Pretrained models of ``seed``, kept apart by the data's identity and the recipe's model and pretraining."""
        key = digest({"data": self.identity, "model": self.recipe.model.model_dump(mode="json"),
                      "pretrain": self.recipe.pretrain.model_dump(mode="json"), "edge": [self.recipe.edge.backbone, self.recipe.edge.num_layers]}, 8)
        return self.settings.work_dir / f"{self.data_name}-{key}" / f"seed{seed}"

    def collaboration_dir(self, seed: int) -> Path:
        if self.settings.collaboration_dir is None:
            return self.seed_dir(seed) / "collaboration"
        return Path(self.settings.collaboration_dir.format(seed=seed))

    def resources_file(self) -> Path:
        return self.settings.out_dir / f"resources_{self.data_name}_{self.profile}.json"

    def results_file(self, suite: str) -> Path:
        return self.settings.out_dir / f"{suite}_{self.data_name}_{self.profile}.jsonl"

    def cells(self, suite: str) -> Iterator[Cell]:
        s = self.settings
        if suite in ("table1", "table2"):
            conditions = (s.conditions if suite == "table1" else None) or self.dataset.condition_names
            for condition in conditions:
                for seed in s.seeds:
                    for k in s.shots:
                        for method in s.methods:
                            if k in s.method_shots.get(method, s.shots):
                                yield Cell(suite, method, seed, k, condition, condition)
        elif suite == "sensor":
            pairs = [(c, c) for c in s.sensor_conditions] + [tuple(pair) for pair in s.sensor_pairs]
            for source, target in pairs:
                for seed in s.seeds:
                    for k in s.sensor_shots:
                        for method in s.sensor_methods:
                            yield Cell("sensor", method, seed, k, source, target)
        elif suite == "table3":
            for seed in s.seeds:
                for task in cross_condition_tasks(self.dataset, s.cross_shots, seed):
                    for method in s.cross_methods:
                        yield Cell("table3", method, seed, s.cross_shots, task.source[0], task.target)
        else:
            raise ConfigError(f"suite: unknown {suite!r}; known: table1, table2, table3, sensor")

    def cell_hash(self, cell: Cell) -> str:
        return cell_hash(cell, self.identity, self.recipe, self.settings, self.settings.noise_snr_db if self.noise_applies(cell) else [])

    def run(self, suite: str, budget_minutes: float | None = None, progress: Callable[[str], None] | None = None,
            allow_dirty: bool = False, rerun_mismatched: bool = False) -> tuple[int, int]:
        """Run every unfinished cell of ``suite`` until the budget is spent; returns (cells run, cells left).

        A cell is finished when its line holds the same cell hash; one made by other data, recipe or method config is
        refused, or run again with ``rerun_mismatched``. A committed results file only takes lines from committed code,
        unless ``allow_dirty``.
        """
        deadline = time.monotonic() + budget_minutes * 60 if budget_minutes else None
        cells = list(self.cells(suite))
        hashes = {c.key: self.cell_hash(c) for c in cells}
        finished, mismatched = finished_cells(self.results_file(suite), hashes)
        if mismatched and not rerun_mismatched:
            raise mismatch_error(self.results_file(suite), mismatched)
        pending = [c for c in cells if c.key not in finished]
        if pending:
            check_committed_code(self.results_file(suite), allow_dirty)
        ran = 0
        for cell in pending:
            if deadline is not None and time.monotonic() >= deadline:
                break
            record = self.run_cell(cell)
            append_result(self.results_file(suite), record)
            ran += 1
            if progress:
                progress(f"{cell.suite} {cell.source}->{cell.target} {cell.k}-shot seed {cell.seed} {cell.method}: "
                         f"{record['metrics']['accuracy']:.4f} ({record['train_seconds']:.0f} s)")
        return ran, len(pending) - ran

    def task(self, cell: Cell) -> FewShotTask:
        return few_shot_task(self.dataset, cell.k, cell.seed, cell.source, cell.target)

    def noisy(self, task: FewShotTask, snr_db: float, seed: int) -> PreparedDataset:
        key = (task.target, snr_db, seed)
        if key not in self._noisy:
            self._noisy = {k: v for k, v in self._noisy.items() if k[0] == task.target and k[2] == seed}
            self._noisy[key] = noisy_subset(self.dataset, task.test, snr_db, seed)
        return self._noisy[key]

    def run_cell(self, cell: Cell) -> dict:
        cell_started = time.perf_counter()
        self._pretraining_seconds = 0.0
        task = self.task(cell)
        trained = self.train(cell.method, task, cell.seed)
        started = time.perf_counter()
        predicted = trained.predict(self.dataset, task.test)
        eval_seconds = time.perf_counter() - started
        truth = self.dataset.labels[task.test]
        report = classification_report(truth, predicted, self.dataset.class_names)
        noise = {}
        for snr in self.settings.noise_snr_db if self.noise_applies(cell) else []:
            view = self.noisy(task, snr, cell.seed)
            noise[f"{snr:g}"] = float((trained.predict(view, np.arange(len(view))) == view.labels).mean())
        return {
            **provenance(),
            **run_record(
                method=cell.method, backbone=trained.extra.pop("backbone", None), dataset=self.dataset.meta["dataset"],
                conditions={"source": [cell.source], "target": cell.target}, k=cell.k, seed=cell.seed, profile=self.profile,
                config_hash=self.recipe.config_hash(),
                metrics={"accuracy": report.accuracy, "macro_precision": report.macro_precision, "macro_f1": report.macro_f1},
                train_seconds=round(trained.train_seconds, 2), eval_seconds=round(eval_seconds, 2),
            ),
            "suite": cell.suite,
            "cell_hash": self.cell_hash(cell),
            "data_identity": self.identity,
            "cell_seconds": round(time.perf_counter() - cell_started, 2),
            "pretraining_in_cell_seconds": round(self._pretraining_seconds, 2),
            "accuracy_under_noise": noise,
            "correct": np.packbits(predicted == truth).tobytes().hex(),
            "confusion": report.confusion,
            "class_names": list(self.dataset.class_names),
            "test_samples": int(len(truth)),
            "data": self.dataset.meta["source"],
            **trained.extra,
        }

    def noise_applies(self, cell: Cell) -> bool:
        if cell.suite == "table3":
            return self.settings.cross_noise
        return self.settings.noise_shots is None or cell.k in self.settings.noise_shots

    def train(self, method: str, task: FewShotTask, seed: int) -> Trained:
        """Train ``method`` on the task's support set (with its noisy copies for a "+noise" method); pretraining stays clean."""
        dataset = self.dataset
        if method != base_method(method):
            method = base_method(method)
            dataset = noise_augmented(self.dataset, task.train, self.settings.train_noise_snr_db, seed)
            task = replace(task, train=np.arange(len(dataset)))
        if method in SYNDIAG_VARIANTS:
            trained = self.train_syndiag(SYNDIAG_VARIANTS[method], dataset, task, seed)
        elif method == "prototypes":
            trained = self.train_prototypes(dataset, task, seed)
        elif method in IMAGE_BASELINES:
            trained = self.train_image_baseline(method, dataset, task, seed)
        elif method in SENSOR_METHODS:
            trained = train_sensor_model(self, method, dataset, task, seed)
        elif method in SPECTRAL_METHODS:
            trained = train_spectral(self, method, dataset, task, seed)
        else:
            trained = self.train_window_baseline(method, dataset, task)
        trained.extra["train_windows"] = int(len(task.train))
        return trained

    def pretrained_checkpoint(self, seed: int, edge_backbone: bool = False) -> Path:
        """The alignment-pretrained cloud model of ``seed`` (its 7-shot pool depends on the seed), trained once."""
        recipe = self.recipe_for(seed, edge_backbone)
        folder = self.seed_dir(seed) / ("pretrained-edge-backbone" if edge_backbone else "pretrained")
        if not (folder / "model.safetensors").is_file():
            session = setup(recipe)
            result = pretrain(session.model, self.dataset, recipe)
            self._pretraining_seconds += result.seconds
            session.model.save_pretrained(folder, extra={"stage": "pretrained", "seed": seed, "seconds": round(result.seconds, 1),
                                                         "commit": current_commit()})
        return folder

    def recipe_for(self, seed: int, edge_backbone: bool = False) -> RunConfig:
        recipe = self.recipe.model_copy(update={"seed": seed})
        if edge_backbone:
            model = recipe.model.model_copy(update={"backbone": recipe.edge.backbone, "num_layers": recipe.edge.num_layers})
            recipe = recipe.model_copy(update={"model": model})
        return recipe

    def train_syndiag(self, variant: dict, dataset: PreparedDataset, task: FewShotTask, seed: int) -> Trained:
        edge_backbone = variant.get("edge_backbone", False)
        recipe = self.recipe_for(seed, edge_backbone)
        pretrain_seconds, pretrained_commit = 0.0, None
        if variant.get("pretrained", True):
            checkpoint = self.pretrained_checkpoint(seed, edge_backbone)
            meta = json.loads((checkpoint / "config.json").read_text())
            pretrain_seconds, pretrained_commit = meta.get("seconds", 0.0), meta.get("commit", "not recorded")
        if not variant.get("model") and variant.get("pretrained", True):
            model = SynDiagCloud.from_pretrained(checkpoint)
        else:
            config = recipe.model.model_copy(update=variant.get("model", {}))
            seed_everything(seed)
            backbone = load_backbone(config.backbone, config.allow_download, config.num_layers)
            model = SynDiagCloud(config, backbone, self.dataset.class_names, self.dataset.prompts)
            if variant.get("pretrained", True):
                verify_checkpoint(checkpoint)
                aligned = {k: v for k, v in load_file(str(checkpoint / "model.safetensors")).items() if k.startswith("extractor.") or k == "logit_scale"}
                model.load_state_dict(aligned, strict=False)
        scaling = ScalingConfig(grad_accumulation=variant.get("grad_accumulation", 1), gradient_checkpointing=variant.get("gradient_checkpointing", False))
        runtime = RuntimeConfig(device=recipe.device, dtype=variant.get("dtype", recipe.dtype), scaling=scaling, output_dir=self.settings.work_dir)
        place(model, runtime)
        scale = variant.get("steps_scale", 1)
        schedule = recipe.finetune.model_copy(update={"epochs": recipe.finetune.epochs * scale, "min_steps": recipe.finetune.min_steps * scale})
        configure_training(runtime, model)
        try:
            result = finetune(model, dataset, task, schedule, seed)
        finally:
            configure_training(RuntimeConfig(dtype=recipe.dtype))
        if variant.get("int8_inference"):
            int8_language_model(model, per_channel=variant["int8_inference"] == "per-channel")
        batch = recipe.finetune.eval_batch_size
        return Trained(lambda dataset, indices: predict(model, dataset, indices, batch)[1], result.seconds,
                       {"backbone": recipe.model.backbone, "pretrain_seconds": pretrain_seconds, "pretrained_commit": pretrained_commit,
                        "train_steps": result.steps, "seconds_per_train_step": round(result.seconds_per_step, 4)})

    def train_prototypes(self, dataset: PreparedDataset, task: FewShotTask, seed: int) -> Trained:
        started = time.perf_counter()
        checkpoint = self.pretrained_checkpoint(seed)
        extractor = SynDiagCloud.from_pretrained(checkpoint).extractor
        prototypes = place(VisualPrototypes(extractor).eval(), self.recipe)
        prototypes.fit(dataset.rgb(task.train), dataset.labels[task.train], n_classes=len(dataset.class_names))
        batch = self.recipe.finetune.eval_batch_size
        return Trained(lambda dataset, indices: predict_images(prototypes, dataset, indices, batch), time.perf_counter() - started,
                       {"backbone": "aligned extractor",
                        "pretrained_commit": json.loads((checkpoint / "config.json").read_text()).get("commit", "not recorded")})

    def train_image_baseline(self, method: str, dataset: PreparedDataset, task: FewShotTask, seed: int) -> Trained:
        """Pool pretraining (independent of K, trained once per seed and kept), then fine-tuning on the K-shot set."""
        config = self.settings.image_baselines[method]
        training = self.settings.baseline_training
        seed_everything(seed)  # the initial weights are the seed's, whatever ran before in this process
        model = place(build_image_baseline(config, len(self.dataset.class_names)), self.recipe)
        key = digest({"model": config.model_dump(mode="json"), "training": training.model_dump(mode="json"), "pool_shots": self.recipe.pretrain.shots}, 12)
        cached = self.seed_dir(seed) / f"{config.name}-{key}-pool.safetensors"
        pretrain_seconds = 0.0
        if not cached.is_file():
            pool = pretraining_pool(self.dataset, seed, k=self.recipe.pretrain.shots)
            pretrained = train_image_baseline(model, self.dataset, pool, np.empty(0, dtype=np.int64), training, seed)
            pretrain_seconds = pretrained.pretrain_seconds
            self._pretraining_seconds += pretrain_seconds
            tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            atomic_write_bytes(cached, save(tensors, metadata={"seconds": f"{pretrain_seconds:.3f}"}))
        else:
            with safe_open(str(cached), "pt") as handle:
                pretrain_seconds = float((handle.metadata() or {}).get("seconds", 0.0))
        model.load_state_dict(load_file(str(cached)))
        result = train_image_baseline(model, dataset, np.empty(0, dtype=np.int64), task.train, training, seed)
        batch = training.eval_batch_size
        return Trained(lambda dataset, indices: predict_images(model, dataset, indices, batch), result.finetune_seconds,
                       {"backbone": config.name, "pretrain_seconds": round(pretrain_seconds, 3), "parameters": sum(p.numel() for p in model.parameters())})

    def train_window_baseline(self, method: str, dataset: PreparedDataset, task: FewShotTask) -> Trained:
        started = time.perf_counter()
        if method == "log-spectrum-1NN":
            classifier = LogSpectrumNearestNeighbour()
        else:
            classifier = EnvelopeSpectrumClassifier("knn" if method == "envelope-kNN" else "svm", fs=dataset.fs)
        classifier.fit(np.asarray(dataset.windows[task.train]), dataset.labels[task.train])
        return Trained(lambda dataset, indices: classifier.predict(np.asarray(dataset.windows[indices])), time.perf_counter() - started,
                       {"backbone": "none"})
