"""Classification scores, confusion plots and the JSON-lines results file."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from figures import cell_counts, drawn, image_data, record_figures

from syndiag.errors import DataError
from syndiag.evaluation.metrics import (
    ClassificationReport,
    append_result,
    classification_report,
    format_report,
    read_results,
    run_record,
    write_confusion_png,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_scores_match_hand_computed_values():
    report = classification_report([0, 0, 1, 1], [0, 1, 1, 1], ["normal", "fault"])
    assert report.accuracy == pytest.approx(0.75)
    assert report.macro_precision == pytest.approx((1.0 + 2 / 3) / 2)
    assert report.macro_f1 == pytest.approx((2 / 3 + 0.8) / 2)
    assert [row["precision"] for row in report.per_class] == pytest.approx([1.0, 2 / 3])
    assert [row["recall"] for row in report.per_class] == pytest.approx([0.5, 1.0])
    assert [row["f1"] for row in report.per_class] == pytest.approx([2 / 3, 0.8])
    assert [row["support"] for row in report.per_class] == [2, 2]
    assert report.confusion == [[1, 1], [0, 2]]
    assert report.class_names == ["normal", "fault"]


def test_confusion_counts_rows_true_columns_predicted():
    report = classification_report(np.array([0, 1, 2, 2, 2, 1]), np.array([0, 2, 2, 1, 2, 1]), ["a", "b", "c"])
    assert report.confusion == [[1, 0, 0], [0, 1, 1], [0, 1, 2]]
    assert report.accuracy == pytest.approx(4 / 6)
    assert all(type(count) is int for row in report.confusion for count in row)


def test_class_missing_from_predictions_scores_zero():
    report = classification_report([0, 1, 2, 2], [0, 1, 1, 1], ["a", "b", "c"])
    missing = report.per_class[2]
    assert missing["name"] == "c"
    assert (missing["precision"], missing["recall"], missing["f1"], missing["support"]) == (0.0, 0.0, 0.0, 2)
    assert report.macro_precision == pytest.approx((1.0 + 1 / 3 + 0.0) / 3)
    assert report.macro_f1 == pytest.approx((1.0 + 0.5 + 0.0) / 3)


def test_class_absent_from_both_still_gets_a_row():
    report = classification_report([0, 1], [0, 1], ["a", "b", "c"])
    assert report.confusion == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert report.per_class[2]["support"] == 0
    assert report.accuracy == 1.0


def test_to_dict_is_json_ready():
    report = classification_report([0, 1], [1, 1], ["a", "b"])
    restored = ClassificationReport(**json.loads(json.dumps(report.to_dict())))
    assert restored == report


@pytest.mark.parametrize(
    ("y_true", "y_pred", "fragment"),
    [
        ([0, 1], [0], "2 labels"),
        ([], [], "empty"),
        ([0, 5], [0, 1], "5"),
        ([0, 1], [0, -1], "-1"),
        ([0, 1], [0, 1.5], "1.5"),
    ],
)
def test_bad_labels_raise_data_error(y_true, y_pred, fragment):
    with pytest.raises(DataError, match=fragment.replace(".", r"\.")):
        classification_report(y_true, y_pred, ["a", "b", "c"])


def test_format_report_lists_classes_and_summary():
    text = format_report(classification_report([0, 0, 1, 1], [0, 1, 1, 1], ["normal", "fault"]))
    assert "normal" in text and "fault" in text
    assert "0.7500" in text and "0.8333" in text and "0.7333" in text


def test_confusion_png_is_written_atomically(tmp_path: Path, monkeypatch):
    saved = record_figures(monkeypatch)
    names = [f"class_{k:02d}" for k in range(19)]
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(19), 5)
    predicted = np.where(rng.random(truth.size) < 0.8, truth, rng.integers(0, 19, truth.size))
    path = tmp_path / "plots" / "confusion.png"
    report = classification_report(truth, predicted, names)
    written = write_confusion_png(report, path, "CWRU 1-shot")
    assert written == path
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in path.parent.iterdir()] == ["confusion.png"]
    ax = drawn(saved, "confusion.png").axes[0]
    counts = np.zeros((19, 19), int)
    np.add.at(counts, (truth, predicted), 1)
    assert np.allclose(image_data(ax), counts / 5)  # rows: the true class, each with 5 windows
    assert np.array_equal(cell_counts(ax, 19), counts) and len(ax.texts) == np.count_nonzero(counts)
    assert [t.get_text() for t in ax.get_yticklabels()] == names and f"accuracy {report.accuracy:.2%}" in ax.get_title()


def test_results_round_trip(tmp_path: Path):
    path = tmp_path / "nested" / "results.jsonl"
    first = {"method": "syn-diag", "metrics": {"accuracy": 0.98}, "k": 1}
    second = {"method": "cnn", "metrics": {"accuracy": np.float32(0.5)}, "k": np.int64(3)}
    append_result(path, first)
    append_result(path, second)
    assert read_results(path) == [first, {"method": "cnn", "metrics": {"accuracy": 0.5}, "k": 3}]
    lines = path.read_text().splitlines()
    assert lines[0] == json.dumps(first, sort_keys=True)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_are_refused(tmp_path: Path, bad: float):
    path = tmp_path / "results.jsonl"
    append_result(path, {"k": 1})
    with pytest.raises(ValueError):
        append_result(path, {"metrics": {"accuracy": bad}})
    assert read_results(path) == [{"k": 1}]


def test_trailing_partial_line_is_skipped_and_repaired(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    append_result(path, {"k": 1})
    with open(path, "ab") as handle:
        handle.write(b'{"k": 2, "metri')
    assert read_results(path) == [{"k": 1}]
    append_result(path, {"k": 3})
    assert read_results(path) == [{"k": 1}, {"k": 3}]


def test_unterminated_complete_last_line_is_kept(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"k": 1}\n{"k": 2}')
    assert read_results(path) == [{"k": 1}, {"k": 2}]
    append_result(path, {"k": 3})
    assert read_results(path) == [{"k": 1}, {"k": 2}, {"k": 3}]


def test_corrupt_middle_line_raises_with_line_number(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"k": 1}\n{"k": oops}\n{"k": 3}\n')
    with pytest.raises(DataError, match="line 2"):
        read_results(path)


def test_missing_results_file_raises(tmp_path: Path):
    with pytest.raises(DataError, match="does not exist"):
        read_results(tmp_path / "absent.jsonl")


def test_run_record_has_standard_fields_commit_and_time():
    record = run_record(
        method="syn-diag-cloud",
        backbone="qwen",
        dataset="cwru",
        conditions=("1730rpm",),
        k=1,
        seed=0,
        profile="smoke",
        config_hash="abc123",
        metrics={"accuracy": 0.9},
        train_seconds=1.5,
        eval_seconds=0.25,
        note="extra field",
    )
    assert record["git_commit"]
    assert record["utc"].endswith("+00:00") and "T" in record["utc"]
    assert record["conditions"] == ["1730rpm"] and record["note"] == "extra field"
    assert {"method", "backbone", "dataset", "k", "seed", "profile", "config_hash", "metrics"} <= record.keys()
    assert run_record(**{**record, "git_commit": "given"})["git_commit"] == "given"
