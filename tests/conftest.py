"""Shared fixtures: the real data beside the checkout and small, fast data configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syndiag.config.data import DataConfig

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    candidates = [os.environ.get("SYNDIAG_SHARED_DATA"), REPO.parent / "shared" / "data", REPO.parents[1] / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "cwru").is_dir():
            return Path(candidate)
    pytest.fail("the real data (shared/data with cwru/) was not found beside the checkout; set SYNDIAG_SHARED_DATA")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_data_root()


@pytest.fixture(scope="session")
def cwru_dir(shared_data: Path) -> Path:
    return shared_data / "cwru"


@pytest.fixture(autouse=True)
def _no_env_data_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNDIAG_DATA", raising=False)
    monkeypatch.delenv("SYNDIAG_CACHE", raising=False)


def small_config(tmp_path: Path, **overrides) -> DataConfig:
    """A fast config: 1730 rpm only, 10 windows per class, small images."""
    data = {
        "cache_dir": str(tmp_path / "cache"),
        "window": {"per_class": 10},
        "spectrogram": {"image_size": 32, "n_scales": 32},
        "cwru": {"loads": [3]},
        "simulator": {"seconds": 1.0},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return DataConfig.from_dict(data)
