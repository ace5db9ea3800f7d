"""scripts/gpu-check.sh in its CPU dry-run mode: the script a GPU machine runs first, known to work before it does."""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(out: Path, data: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SYNDIAG_SHARED_DATA": str(data), "SYNDIAG_GPU_BACKBONE": "smollm2-135m"}
    return subprocess.run(["bash", str(REPO / "scripts" / "gpu-check.sh"), "--dry-run", str(out)], env=env, capture_output=True,
                          text=True, timeout=600, cwd=REPO)


@pytest.mark.slow
def test_dry_run_goes_through_every_stage_and_writes_a_results_line(tmp_path, shared_data):
    result = run(tmp_path / "out", shared_data)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "device: cpu" in result.stdout and "seconds per step (fine-tuning):" in result.stdout
    (line,) = (tmp_path / "out" / "gpu_check.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["dry_run"] and record["stages_failed"] == [] and len(record["stages_ok"]) == 8
    assert record["seconds_per_step"] > 0 and record["peak_memory_gib"] > 0.1
    report = json.loads((tmp_path / "out" / "gpu_profiles.json").read_text())
    stages = {s["stage"]: s for s in report["stages"]}
    evaluated = stages["syndiag evaluate"]
    right = record["accuracy"] * evaluated["test_samples"]
    assert record["accuracy"] == evaluated["metrics"]["accuracy"] and right == pytest.approx(round(right))
    assert stages["syndiag distill"]["cloud_accuracy"] == record["accuracy"]  # the same cloud model on the same test windows, again
    assert report["cloud_recipe"]["profile"] == "paper" and report["tiny"] is True


def test_without_data_it_stops_with_status_2(tmp_path):
    result = run(tmp_path / "out", tmp_path / "nothing")
    assert result.returncode == 2 and "no CWRU data" in result.stderr
    assert not (tmp_path / "out").exists()
