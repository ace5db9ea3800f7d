"""Shared fixtures: the real data beside the checkout and small, fast data configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syndiag.config.data import DataConfig

REPO = Path(__file__).resolve().parents[1]


def in_ci() -> bool:
    """True under a CI runner (CI=true), where nothing may be skipped for want of data."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def shared_data_root() -> Path:
    """The folder holding cwru/: $SYNDIAG_SHARED_DATA when set (and then only it), else shared/data beside the checkout.

    Missing data skips the tests that need it on a developer's machine, but fails them in CI.
    """
    env = os.environ.get("SYNDIAG_SHARED_DATA")
    candidates = [Path(env)] if env else [REPO.parent / "shared" / "data", REPO.parents[1] / "shared" / "data"]
    for candidate in candidates:
        if (candidate / "cwru").is_dir():
            return candidate
    looked = " or ".join(str(c) for c in candidates)
    message = f"shared data not found at {looked} (no cwru/ folder): set SYNDIAG_SHARED_DATA"
    if in_ci():
        pytest.fail(f"{message}; CI=true, so missing data is a failure, not a skip", pytrace=False)
    pytest.skip(message)


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
