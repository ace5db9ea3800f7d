"""Recordings -> leak-free windows -> CWT spectrogram images, cached on disk keyed by the full config."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from syndiag.atomic import atomic_folder, pid_running
from syndiag.config.data import DataConfig
from syndiag.data.recording import RecordingSet
from syndiag.data.sources import recordings_digest, resolve_source
from syndiag.data.spectrogram import cwt_frequencies, spectrogram_images, to_rgb
from syndiag.data.windowing import POOL, TEST, cut_windows, plan_set
from syndiag.errors import DataError

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
CHUNK = 32
Progress = Callable[[int, int], None]


@dataclass
class PreparedDataset:
    """Windows and spectrogram images of one data config, memory-mapped from the cache.

    ``colormap_indices`` holds each window's spectrogram as uint8 colormap indices (N, H, W), stored in the
    cache as ``images.npy``; :meth:`rgb` turns them into the RGB images the models take.
    """

    path: Path
    colormap_indices: np.ndarray
    windows: np.ndarray
    labels: np.ndarray
    conditions: np.ndarray
    split: np.ndarray
    recording: np.ndarray
    starts: np.ndarray
    meta: dict[str, Any]
    from_cache: bool = False
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        return [c["name"] for c in self.meta["classes"]]

    @property
    def prompts(self) -> list[str]:
        return [c["prompt"] for c in self.meta["classes"]]

    @property
    def condition_names(self) -> list[str]:
        return list(self.meta["conditions"])

    @property
    def fs(self) -> float:
        return float(self.meta["fs"])

    def __len__(self) -> int:
        return int(self.labels.size)

    def rgb(self, indices: np.ndarray | list[int] | slice) -> np.ndarray:
        """The paper's 224x224x3 uint8 images of the windows at ``indices``."""
        return to_rgb(np.asarray(self.colormap_indices[indices]), self.meta["config"]["spectrogram"]["colormap"])

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """Windows per condition, class and split."""
        table: dict[str, dict[str, dict[str, int]]] = {}
        for c, cond in enumerate(self.condition_names):
            table[cond] = {}
            for k, name in enumerate(self.class_names):
                cell = (self.conditions == c) & (self.labels == k)
                table[cond][name] = {"pool": int((cell & (self.split == POOL)).sum()), "test": int((cell & (self.split == TEST)).sum())}
        return table

    @classmethod
    def load(cls, path: Path) -> "PreparedDataset":
        path = Path(path)
        try:
            meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
            index = np.load(path / "index.npz")
            colormap_indices = np.load(path / "images.npy", mmap_mode="r")
            windows = np.load(path / "windows.npy", mmap_mode="r")
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{path}: unreadable prepared-data cache ({exc}); delete the folder to rebuild it") from None
        if meta.get("format") != CACHE_FORMAT or colormap_indices.shape[0] != index["labels"].size:
            raise DataError(f"{path}: prepared-data cache of another format or incomplete; delete the folder to rebuild it")
        return cls(path=path, colormap_indices=colormap_indices, windows=windows, meta=meta, **{k: index[k] for k in index.files})


_STAGING = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)-[0-9a-f]+$|^\.tmp-(?P<legacy>.+)-(?P<legacy_pid>\d+)$")
STALE_AFTER_S = 6 * 3600.0
"""A staging folder untouched for this long is stale even if a process of its pid is running (pids are reused)."""


def clean_stale_staging(cache_dir: Path, now: float | None = None) -> list[Path]:
    """Remove the staging folders that killed runs left in ``cache_dir``; return them.

    A staging (``.<entry>.tmp-<pid>-<hex>``, as :mod:`syndiag.atomic` names it, or the older
    ``.tmp-<entry>-<pid>``) is stale when no process ``pid`` runs on this machine, or when nothing in it
    changed for :data:`STALE_AFTER_S`. Each removal is logged; one that fails is logged and left.
    """
    try:
        entries = list(os.scandir(cache_dir))
    except OSError:
        return []
    now = time.time() if now is None else now
    removed: list[Path] = []
    for entry in entries:
        match = _STAGING.match(entry.name)
        if not match:
            continue
        path = Path(entry.path)
        pid = int(match.group("pid") or match.group("legacy_pid"))
        alive = pid_running(pid)
        try:
            age = now - _last_change(path)
            if alive and age < STALE_AFTER_S:
                continue
            folder = path.is_dir() and not path.is_symlink()
            size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if folder else path.lstat().st_size
        except OSError:  # gone meanwhile: its writer finished or another run cleaned it
            continue
        why = f"untouched for {age / 3600:.1f} h" if alive else f"pid {pid} is not running"
        try:
            shutil.rmtree(path) if folder else path.unlink()
        except OSError as exc:
            log.warning("stale staging %s (%s) could not be removed: %s", path, why, exc)
            continue
        log.warning("removed stale staging %s left by an interrupted run (%s; %.1f MB freed)", path, why, size / 1e6)
        removed.append(path)
    return removed


def _last_change(path: Path) -> float:
    times = [path.lstat().st_mtime]
    if path.is_dir() and not path.is_symlink():
        times.extend(child.lstat().st_mtime for child in path.iterdir())
    return max(times)


def cache_key(config: DataConfig, fingerprint: dict[str, Any]) -> str:
    """Hash of everything that decides the prepared windows and images."""
    material = {
        "format": CACHE_FORMAT,
        "dataset": config.dataset,
        "window": config.window.model_dump(),
        "spectrogram": config.spectrogram.model_dump(),
        "inputs": fingerprint,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def check_complete(recordings: RecordingSet) -> None:
    """Every class must have at least one recording in every condition."""
    empty = [
        f"{name} at {cond}"
        for cond in recordings.conditions
        for name in recordings.class_names
        if not recordings.cell(cond, name)
    ]
    if empty:
        missing = f" Missing files: {'; '.join(recordings.missing)}." if recordings.missing else ""
        raise DataError(f"{recordings.name}: no recording for {', '.join(empty)}.{missing}")
    rates = sorted({r.fs for r in recordings.recordings})
    if len(rates) > 1:
        by_rate = []
        for rate in rates:
            sources = [r.source for r in recordings.recordings if r.fs == rate]
            more = f" and {len(sources) - 3} more" if len(sources) > 3 else ""
            by_rate.append(f"{rate:g} Hz: {', '.join(sources[:3])}{more}")
        raise DataError(
            f"{recordings.name}: recordings at different sampling rates {rates} Hz ({'; '.join(by_rate)}); a window "
            "of fixed length would span different durations. Resample them to one rate first."
        )


def prepare(config: DataConfig, progress: Progress | None = None) -> PreparedDataset:
    """Windows and spectrograms of ``config``, from the cache when an identical config was prepared before."""
    started = time.perf_counter()
    clean_stale_staging(config.resolved_cache_dir())
    source = resolve_source(config)
    recordings = None
    fingerprint = dict(source.fingerprint)
    if fingerprint.get("content") == "loaded":
        recordings = source.load()
        fingerprint["content"] = recordings_digest(recordings)
    key = cache_key(config, fingerprint)
    cache_dir = config.resolved_cache_dir()
    final = cache_dir / f"{source.name}-{key[:16]}"
    if (final / "meta.json").is_file():
        dataset = PreparedDataset.load(final)
        dataset.from_cache = True
        dataset.seconds = time.perf_counter() - started
        return dataset

    recordings = recordings if recordings is not None else source.load()
    check_complete(recordings)
    for note in recordings.notes:
        log.info(note)
    plans, planned = plan_set(recordings, config.window)
    for note in planned:
        log.warning(note)
    notes = [*recordings.notes, *planned]

    total = sum(plan.starts.size for _, plan in plans)
    size = config.spectrogram.image_size
    n_channels = recordings.recordings[0].signal.shape[0]
    try:
        with atomic_folder(final, replace=False) as staging:
            colormap_indices = np.lib.format.open_memmap(staging / "images.npy", mode="w+", dtype=np.uint8, shape=(total, size, size))
            windows = np.lib.format.open_memmap(
                staging / "windows.npy", mode="w+", dtype=np.float32, shape=(total, n_channels, config.window.length)
            )
            index = {k: np.empty(total, dtype=np.int64) for k in ("labels", "conditions", "split", "recording", "starts")}
            done = 0
            for rec_id, (rec, plan) in enumerate(plans):
                block = cut_windows(rec, plan.starts, config.window.length)
                end = done + block.shape[0]
                windows[done:end] = block
                for first in range(0, block.shape[0], CHUNK):
                    part = block[first : first + CHUNK]
                    colormap_indices[done + first : done + first + part.shape[0]] = spectrogram_images(part, config.spectrogram)
                    if progress:
                        progress(done + first + part.shape[0], total)
                index["labels"][done:end] = recordings.class_names.index(rec.label)
                index["conditions"][done:end] = recordings.conditions.index(rec.condition)
                index["split"][done:end] = plan.split
                index["recording"][done:end] = rec_id
                index["starts"][done:end] = plan.starts
                done = end
            colormap_indices.flush()
            windows.flush()
            del colormap_indices, windows
            np.savez(staging / "index.npz", **index)
            meta = {
                "format": CACHE_FORMAT,
                "key": key,
                "dataset": recordings.name,
                "source": source.description,
                "fs": recordings.recordings[0].fs,
                "channels": list(recordings.recordings[0].channels),
                "classes": [{"name": c.name, "prompt": c.prompt} for c in recordings.classes],
                "conditions": recordings.conditions,
                "recordings": [
                    {"source": rec.source, "label": rec.label, "condition": rec.condition, "samples": rec.n_samples, "boundary": plan.boundary}
                    for rec, plan in plans
                ],
                "frequencies_hz": cwt_frequencies(config.spectrogram.wavelet, config.spectrogram.n_scales, recordings.recordings[0].fs).tolist(),
                "missing": recordings.missing,
                "notes": notes,
                "config": json.loads(config.model_dump_json()),
                "fingerprint": fingerprint,
                "seconds_to_build": round(time.perf_counter() - started, 3),
            }
            (staging / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    except FileExistsError:
        if not (final / "meta.json").is_file():  # else another process finished the same cache first
            raise
    dataset = PreparedDataset.load(final)
    dataset.seconds = time.perf_counter() - started
    return dataset
