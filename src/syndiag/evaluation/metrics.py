"""Accuracy, macro precision and macro F1 (paper §5.2), confusion matrices and a JSON-lines results file."""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from syndiag.errors import DataError
from syndiag.evaluation.figure_files import save_figure_png  # noqa: F401 (re-exported: the figures' callers import it from here)
from syndiag.evaluation.provenance import command_line, current_commit, machine
from syndiag.ranks import is_main_process, wait_for_everyone

log = logging.getLogger(__name__)


@dataclass
class ClassificationReport:
    """Summary scores, confusion counts (rows: true class, columns: predicted class) and per-class scores."""

    accuracy: float
    macro_precision: float
    macro_f1: float
    confusion: list[list[int]]
    per_class: list[dict[str, Any]]
    class_names: list[str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


def _class_indices(values: Sequence[int] | np.ndarray, role: str, n_classes: int) -> np.ndarray:
    labels = np.asarray(values)
    if labels.ndim != 1:
        raise DataError(f"{role} must be a flat sequence of class indices, got shape {labels.shape}")
    if labels.dtype.kind in "iu":
        valid = (labels >= 0) & (labels < n_classes)
    elif labels.dtype.kind == "f":
        valid = np.isfinite(labels) & (labels == np.round(labels)) & (labels >= 0) & (labels < n_classes)
    else:
        valid = np.zeros(labels.shape, dtype=bool)
    bad = np.flatnonzero(~valid)
    if bad.size:
        value = labels[bad[0]]
        shown = value.item() if isinstance(value, np.generic) else value
        raise DataError(
            f"{role}[{bad[0]}] = {shown!r} is not a class index "
            f"in 0..{n_classes - 1} ({n_classes} classes)"
        )
    return labels.astype(np.int64)


def classification_report(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, class_names: Sequence[str]
) -> ClassificationReport:
    """Score predicted class indices against true ones; every class in ``class_names`` gets a row.

    Macro precision and F1 average over the classes that occur in ``y_true`` or ``y_pred`` (scikit-learn's
    default); a class never predicted counts with precision 0.
    """
    names = [str(name) for name in class_names]
    if not names:
        raise DataError("class_names is empty")
    n_classes = len(names)
    n_true, n_pred = len(y_true), len(y_pred)
    if n_true != n_pred:
        raise DataError(f"y_true has {n_true} labels but y_pred has {n_pred}")
    if n_true == 0:
        raise DataError("y_true and y_pred are empty: nothing to score")
    truth = _class_indices(y_true, "y_true", n_classes)
    predicted = _class_indices(y_pred, "y_pred", n_classes)
    every_class = list(range(n_classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=every_class, average=None, zero_division=0
    )
    macro_precision, _, macro_f1, _ = precision_recall_fscore_support(
        truth, predicted, average="macro", zero_division=0
    )
    per_class = [
        {
            "name": name,
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
        }
        for k, name in enumerate(names)
    ]
    return ClassificationReport(
        accuracy=float(accuracy_score(truth, predicted)),
        macro_precision=float(macro_precision),
        macro_f1=float(macro_f1),
        confusion=confusion_matrix(truth, predicted, labels=every_class).astype(int).tolist(),
        per_class=per_class,
        class_names=names,
    )


def write_confusion_png(report: ClassificationReport, path: str | Path, title: str) -> Path:
    """Heat map of the confusion matrix: counts in the cells, colour by share of the true class."""
    counts = np.asarray(report.confusion, dtype=np.int64)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    n_classes = len(report.class_names)
    many = n_classes > 10
    figure = Figure(figsize=(9, 8), layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n_classes), report.class_names, rotation=60, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n_classes), report.class_names)
    ax.tick_params(labelsize=7 if many else 9)
    for (row, column), count in np.ndenumerate(counts):
        if count:
            ax.text(
                column,
                row,
                str(count),
                ha="center",
                va="center",
                fontsize=6 if many else 8,
                color="white" if share[row, column] > 0.5 else "black",
            )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(
        f"{title}\naccuracy {report.accuracy:.2%}, macro precision {report.macro_precision:.2%}, "
        f"macro F1 {report.macro_f1:.2%}",
        fontsize=10,
    )
    figure.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    return save_figure_png(figure, path)


def format_report(report: ClassificationReport) -> str:
    """A plain-text table of per-class precision, recall, F1 and support, then the three summary scores."""
    width = max([len("class"), *(len(name) for name in report.class_names)])
    lines = [f"{'class':<{width}}  {'precision':>9}  {'recall':>9}  {'f1':>9}  {'support':>7}"]
    for row in report.per_class:
        lines.append(
            f"{row['name']:<{width}}  {row['precision']:>9.4f}  {row['recall']:>9.4f}  {row['f1']:>9.4f}  "
            f"{row['support']:>7d}"
        )
    total = sum(int(row["support"]) for row in report.per_class)
    lines += [
        "",
        f"accuracy         {report.accuracy:.4f}  ({total} samples)",
        f"macro precision  {report.macro_precision:.4f}",
        f"macro F1         {report.macro_f1:.4f}",
    ]
    return "\n".join(lines)


def _plain_json(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be written to a results file")


def _drop_partial_tail(descriptor: int, path: Path) -> None:
    size = os.fstat(descriptor).st_size
    if size == 0 or os.pread(descriptor, 1, size - 1) == b"\n":
        return
    content = os.pread(descriptor, size, 0)
    keep = content.rfind(b"\n") + 1
    try:
        json.loads(content[keep:].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        log.warning("%s ends in a partial line of %d bytes (an interrupted write); dropping it", path, size - keep)
        os.ftruncate(descriptor, keep)
    else:
        os.write(descriptor, b"\n")


def append_result(path: str | Path, record: Mapping[str, Any]) -> None:
    """Append one record as a JSON line; the whole line goes down in one write, then is synced to disk.

    Writers hold an exclusive lock while appending; a partial last line left by an interrupted writer is
    dropped first, so a new record never merges into it. Raises ValueError for NaN or infinite numbers.
    In a distributed run only rank 0 appends, then every rank waits for it.
    """
    try:
        if is_main_process():
            _append_line(Path(path), record)
    finally:
        wait_for_everyone()


def _append_line(path: Path, record: Mapping[str, Any]) -> None:
    try:
        line = json.dumps(dict(record), sort_keys=True, allow_nan=False, default=_plain_json)
    except ValueError as exc:
        raise ValueError(f"record for {path} is not strict JSON (NaN and infinite numbers are refused): {exc}") from exc
    data = (line + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        _drop_partial_tail(descriptor, path)
        written = os.write(descriptor, data)
        if written != len(data):
            os.ftruncate(descriptor, os.fstat(descriptor).st_size - written)
            raise OSError(f"short write to {path}: {written} of {len(data)} bytes; the record was not added")
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines results file; a trailing line that does not parse (an interrupted write) is skipped."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(f"results file {path} does not exist") from exc
    raw_lines = content.split(b"\n")
    last = max((number for number, raw in enumerate(raw_lines) if raw.strip()), default=-1)
    records: list[dict[str, Any]] = []
    for number, raw in enumerate(raw_lines):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if number == last:
                log.warning("%s: skipping partial last line %d (%s)", path, number + 1, exc)
                break
            raise DataError(f"{path}: line {number + 1} is not valid JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {number + 1} holds a {type(record).__name__}, not a JSON object")
        records.append(record)
    return records


def run_record(
    *,
    method: str,
    backbone: str | None,
    dataset: str,
    conditions: str | Sequence[str] | Mapping[str, Any],
    k: int,
    seed: int,
    profile: str,
    config_hash: str,
    metrics: Mapping[str, Any],
    train_seconds: float,
    eval_seconds: float,
    git_commit: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The standard results-file record of one run, with the command and machine; extra keyword fields are kept as they are."""
    for name, seconds in (("train_seconds", train_seconds), ("eval_seconds", eval_seconds)):
        if not math.isfinite(float(seconds)) or seconds < 0:
            raise ValueError(f"{name} must be a finite, non-negative number of seconds, got {seconds!r}")
    return {
        "method": method,
        "backbone": backbone,
        "dataset": dataset,
        "conditions": conditions if isinstance(conditions, (str, Mapping)) else list(conditions),
        "k": k,
        "seed": seed,
        "profile": profile,
        "config_hash": config_hash,
        "git_commit": git_commit if git_commit is not None else current_commit(),
        "metrics": dict(metrics),
        "train_seconds": float(train_seconds),
        "eval_seconds": float(eval_seconds),
        "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "machine": machine(),
        **extra,
    }
