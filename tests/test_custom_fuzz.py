"""Property-based fuzzing of the own-data spec loader: whatever the YAML text, the spec values or the bytes of a
referenced file, ``load_custom`` returns a RecordingSet or raises a SyndiagError, and writes nothing outside tmp_path."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndiag.data.custom import load_custom
from syndiag.data.recording import RecordingSet
from syndiag.errors import SyndiagError

FUZZ = settings(max_examples=int(os.environ.get("SYNDIAG_FUZZ_EXAMPLES", "60")), deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
MUTATING_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.truncate", "os.symlink",
                   "os.link", "shutil.rmtree", "shutil.move", "shutil.copyfile"}


class WriteGuard:
    """An audit hook (installed once; hooks cannot be removed) that records writes outside ``allowed`` while armed."""

    installed: "WriteGuard | None" = None

    def __init__(self) -> None:
        self.allowed: Path | None = None
        self.violations: list[str] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.allowed is None:
            return
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and flags & WRITE_FLAGS)
        elif event in MUTATING_EVENTS:
            path, writes = args[0] if args else None, True
        else:
            return
        if writes and isinstance(path, (str, bytes, os.PathLike)):
            target = Path(os.fsdecode(path)).absolute()
            if not target.is_relative_to(self.allowed):
                self.violations.append(f"{event} {target}")

    @classmethod
    def get(cls) -> "WriteGuard":
        if cls.installed is None:
            cls.installed = cls()
        return cls.installed


@pytest.fixture
def guarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Call ``load_custom`` with writes outside tmp_path recorded; fail on any."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    guard = WriteGuard.get()
    _warm_up(tmp_path / "warm-up")

    def run(spec: Path) -> Any:
        guard.allowed, guard.violations = tmp_path.resolve(), []
        try:
            return load_custom(spec)
        finally:
            guard.allowed = None
            assert guard.violations == [], guard.violations

    return run


def _warm_up(folder: Path) -> None:
    """Import every reader once (imports are not what is fuzzed)."""
    import scipy.io

    folder.mkdir(exist_ok=True)
    scipy.io.savemat(folder / "a.mat", {"x": np.arange(4.0)})
    np.save(folder / "a.npy", np.arange(4.0))
    np.savez(folder / "a.npz", x=np.arange(4.0))
    (folder / "a.csv").write_text("1\n2\n3\n")
    spec = {"name": "w", "fs": 1, "classes": [{"name": "a", "prompt": "a"}],
            "recordings": [{"files": f"a.{ext}", "label": "a", "condition": "c"} for ext in ("mat", "npy", "npz", "csv")]}
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    load_custom(folder / "spec.yaml")


def check(outcome_of: Any, spec: Path) -> None:
    try:
        result = outcome_of(spec)
    except SyndiagError:
        return
    assert isinstance(result, RecordingSet)


SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                      max_leaves=12)
FILE_NAMES = st.sampled_from(["data.mat", "data.npy", "data.npz", "data.csv", "data.txt", "*.csv", "data.*", "d[a]ta.npy",
                              "missing.mat", "sub/../data.mat", "."])


def maybe(valid: Any) -> st.SearchStrategy[Any]:
    return st.just(valid) | VALUES


SPEC_VALUES = st.fixed_dictionaries(
    {
        "name": maybe("fuzz"),
        "classes": maybe([{"name": "a", "prompt": "fault a"}, {"name": "b", "prompt": "fault b"}]),
        "recordings": st.lists(
            st.fixed_dictionaries(
                {"files": FILE_NAMES | VALUES, "label": maybe("a"), "condition": maybe("c")},
                optional={"channels": VALUES | st.sampled_from(["x", "X*_DE_time", "re:^x$", "re:(", 0, [0, 1], "x:1"]),
                          "fs": maybe(1000), "format": st.sampled_from(["auto", "mat", "csv", "npy", "npz", "xls"])},
            ),
            min_size=1, max_size=3,
        ) | VALUES,
    },
    optional={"fs": maybe(1000), "extra": VALUES},
)

MAGIC = {
    "mat": b"MATLAB 5.0 MAT-file, Platform: GLNXA64".ljust(116, b" ") + b"\x00" * 8 + b"\x00\x01IM",
    "npy": b"\x93NUMPY\x01\x00",
    "npz": b"PK\x03\x04",
    "csv": b"a,b\n",
}


@FUZZ
@given(text=st.text(max_size=300))
def test_arbitrary_yaml_text(guarded, tmp_path: Path, text: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    check(guarded, spec)


@FUZZ
@given(values=SPEC_VALUES, content=st.binary(max_size=400), prefix=st.sampled_from(["", *MAGIC]))
def test_arbitrary_spec_values_and_file_bytes(guarded, tmp_path: Path, values: dict[str, Any], content: bytes, prefix: str) -> None:
    for name in ("data.mat", "data.npy", "data.npz", "data.csv", "data.txt", "d[a]ta.npy"):
        suffix = name.rsplit(".", 1)[1]
        (tmp_path / name).write_bytes((MAGIC.get(suffix, b"") if prefix == suffix else b"") + content)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(values), encoding="utf-8")
    check(guarded, spec)


@FUZZ
@given(
    arrays=st.dictionaries(
        st.sampled_from(["x", "fs", "X105_DE_time", "X098_DE_time", "y"]),
        st.one_of(
            st.lists(st.floats(width=32), max_size=20).map(lambda v: np.asarray(v, dtype=np.float64)),
            st.integers(-5, 5).map(np.int64),
            st.lists(st.lists(st.integers(-3, 3), min_size=2, max_size=2), max_size=6).map(np.asarray),
        ),
        max_size=4,
    ),
    channels=st.none() | st.sampled_from(["x", "X*_DE_time", "re:^X\\d+_DE_time$", "x:1", 0, [0, "y"]]),
    fs=st.none() | st.sampled_from([1000, -1]),
)
def test_arbitrary_arrays_in_a_well_formed_file(guarded, tmp_path: Path, arrays: dict[str, np.ndarray], channels: Any, fs: Any) -> None:
    with open(tmp_path / "arrays.npz", "wb") as handle:
        np.savez(handle, **arrays)
    entry: dict[str, Any] = {"files": "arrays.npz", "label": "a", "condition": "c"}
    if channels is not None:
        entry["channels"] = channels
    if fs is not None:
        entry["fs"] = fs
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "n", "classes": [{"name": "a", "prompt": "p"}], "recordings": [entry]}))
    check(guarded, spec)
