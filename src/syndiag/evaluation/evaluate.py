"""Evaluate a trained classifier on a few-shot task's test set: metrics, confusion PNG, per-class report, one JSON line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from syndiag.atomic import atomic_write_text
from syndiag.data.fewshot import FewShotTask
from syndiag.data.prepare import PreparedDataset
from syndiag.evaluation.metrics import (
    ClassificationReport,
    append_result,
    classification_report,
    format_report,
    run_record,
    write_confusion_png,
)
from syndiag.evaluation.paper_results import PaperResult, paper_result
from syndiag.evaluation.predict import predict


@dataclass
class Evaluation:
    report: ClassificationReport
    record: dict[str, Any]
    confusion_png: Path
    report_txt: Path
    paper: PaperResult | None


def evaluate_task(
    model: nn.Module,
    dataset: PreparedDataset,
    task: FewShotTask,
    out_dir: Path,
    results_file: Path | None,
    *,
    method: str,
    backbone: str,
    profile: str,
    config_hash: str,
    train_seconds: float,
    batch_size: int = 64,
    extra: dict[str, Any] | None = None,
) -> Evaluation:
    """Predict every test window of ``task``, write the artefacts, append the run record to ``results_file``."""
    _, predicted, seconds = predict(model, dataset, task.test, batch_size)
    report = classification_report(dataset.labels[task.test], predicted, dataset.class_names)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"{method} - {dataset.meta['dataset']} {task.name}"
    confusion = write_confusion_png(report, out_dir / f"confusion-{task.name}.png", title)
    text_path = out_dir / f"report-{task.name}.txt"
    atomic_write_text(text_path, f"{title}\n\n{format_report(report)}\n")
    record = run_record(
        method=method,
        backbone=backbone,
        dataset=dataset.meta["dataset"],
        conditions={"source": list(task.source), "target": task.target},
        k=task.k,
        seed=task.seed,
        profile=profile,
        config_hash=config_hash,
        metrics={"accuracy": report.accuracy, "macro_precision": report.macro_precision, "macro_f1": report.macro_f1},
        train_seconds=round(train_seconds, 2),
        eval_seconds=round(seconds, 2),
        test_samples=len(task.test),
        seconds_per_test_sample=round(seconds / max(len(task.test), 1), 5),
        **(extra or {}),
    )
    if results_file is not None:
        append_result(results_file, record)
    paper = paper_result(method, task.target, task.k) if dataset.meta["dataset"] == "cwru" and task.source == (task.target,) else None
    return Evaluation(report, record, confusion, text_path, paper)
