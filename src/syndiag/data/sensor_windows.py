"""Windows of multi-rate recordings: every channel's window ends at the same instant (time alignment).

A window is an end instant on a recording's clock; channel ``c`` of the layout gets the ``length_c`` samples just
before it (times in ``[end - length_c / fs_c, end)``, :func:`~syndiag.data.windowing.take_ending`). A channel the
recording lacks, or with no sample in that span, is marked absent in ``present`` (and zero-filled); one with only part
of the span is edge-padded (counted in ``meta["padded"]``). A slow channel thus holds its latest values: a constant
speed at 1 Hz gives its value at the window's end.

* :func:`sensor_windows_for`: CWRU windows aligned 1:1 with a :class:`~syndiag.data.prepare.PreparedDataset` (same
  recordings, starts, labels, conditions and split), so the few-shot tasks of :mod:`syndiag.data.fewshot` index both.
* :func:`sensor_windows`: windows of any :class:`~syndiag.data.recording.RecordingSet` (e.g. FEMTO) planned by
  :func:`~syndiag.data.windowing.plan_set` on the layout's fastest channel, the same leak-free ranges as the prepared
  dataset's. Slow channels span longer than a window: samples that a recording's pool and test windows
  share on them are counted in ``meta["shared_slow_samples"]`` (a FEMTO snapshot is 0.1 s; its temperature is one
  reading for both halves). For run-to-failure data prefer splits by ``groups`` (bearing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from syndiag.config.data import WindowConfig
from syndiag.data.recording import Recording, RecordingSet
from syndiag.data.sensor_images import images_meta, window_images
from syndiag.data.windowing import TEST, end_index, plan_set, take_ending
from syndiag.errors import ConfigError, DataError


@dataclass
class SensorWindows:
    """A prepared sensor dataset: per window, each layout channel's samples ending at one instant.

    ``recording`` indexes ``meta["recordings"]``; ``starts`` is the first sample of the window on the clock channel
    (``meta["clock_channel"]``); ``end_s`` is the window's end on that recording's clock;
    ``extra`` holds per-window numbers from the recordings (FEMTO ``rul_s``, ``life_fraction``...; NaN where absent).
    ``images`` (N, H, W, 3) uint8: each window's latest frame at or before its end, ``image_present`` (N,) False where there
    is none yet, ``image_labels`` (N,) what a frame states it shows ('' if nothing); all None when the recordings have no images.
    """

    layout: list[Any]
    signals: dict[str, np.ndarray]
    present: np.ndarray
    labels: np.ndarray
    conditions: np.ndarray
    split: np.ndarray
    severity: np.ndarray
    class_names: list[str]
    prompts: list[str]
    condition_names: list[str]
    images: np.ndarray | None
    meta: dict[str, Any]
    recording: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    end_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    image_present: np.ndarray | None = None
    image_labels: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.labels.size)

    @property
    def channel_names(self) -> list[str]:
        return [spec.name for spec in self.layout]

    @property
    def groups(self) -> np.ndarray:
        """Per window, the ``group`` of its recording (CWRU file number, FEMTO bearing)."""
        names = np.array([r["group"] for r in self.meta["recordings"]], dtype=object)
        return names[self.recording]

    def subset(self, indices: np.ndarray | Sequence[int]) -> SensorWindows:
        """The windows at ``indices`` (same layout, classes and meta)."""
        i = np.asarray(indices)
        return SensorWindows(
            layout=self.layout,
            signals={k: v[i] for k, v in self.signals.items()},
            present=self.present[i],
            labels=self.labels[i],
            conditions=self.conditions[i],
            split=self.split[i],
            severity=self.severity[i],
            class_names=self.class_names,
            prompts=self.prompts,
            condition_names=self.condition_names,
            images=None if self.images is None else self.images[i],
            meta=self.meta,
            recording=self.recording[i],
            starts=self.starts[i],
            end_s=self.end_s[i],
            extra={k: v[i] for k, v in self.extra.items()},
            image_present=None if self.image_present is None else self.image_present[i],
            image_labels=None if self.image_labels is None else self.image_labels[i],
        )


def check_layout(layout: Sequence[Any]) -> None:
    """Every layout entry has a name (unique), a kind, a positive rate and a window length of at least 1."""
    if not layout:
        raise ConfigError("sensor layout: no channels")
    names = [getattr(spec, "name", None) for spec in layout]
    if len(set(names)) != len(names):
        raise ConfigError(f"sensor layout: duplicate channel names in {names}")
    for spec in layout:
        fs, length = getattr(spec, "fs", None), getattr(spec, "length", None)
        if not isinstance(fs, (int, float)) or not np.isfinite(fs) or fs <= 0:
            raise ConfigError(f"sensor layout: channel {spec.name!r}: fs must be a positive number of Hz, got {fs!r}")
        if not isinstance(length, (int, np.integer)) or length < 1:
            raise ConfigError(f"sensor layout: channel {spec.name!r}: length must be an integer >= 1, got {length!r}")


def windows_ending_at(
    recordings: list[Recording], rec_of_window: np.ndarray, ends: np.ndarray, layout: Sequence[Any]
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, int], dict[str, int]]:
    """Every layout channel's window ending at ``ends`` (window ``i`` of recording ``recordings[rec_of_window[i]]``):
    signals, present mask and per-channel counts of padded and absent windows."""
    n = rec_of_window.size
    signals = {spec.name: np.zeros((n, spec.length), dtype=np.float32) for spec in layout}
    present = np.zeros((n, len(layout)), dtype=bool)
    padded = {spec.name: 0 for spec in layout}
    for rec_id in np.unique(rec_of_window):
        rec = recordings[int(rec_id)]
        rows = np.flatnonzero(rec_of_window == rec_id)
        for c, spec in enumerate(layout):
            if spec.name not in rec.channels:
                continue
            own = rec.specs[spec.name]
            if float(own.fs) != float(spec.fs) or own.kind != spec.kind:
                raise DataError(
                    f"{rec.source}: channel {spec.name!r} is {own.kind} at {own.fs:g} Hz, the layout wants {spec.kind} "
                    f"at {spec.fs:g} Hz"
                )
            values, ok, part = take_ending(rec.channels[spec.name], float(spec.fs), rec.start_s[spec.name], ends[rows], spec.length)
            signals[spec.name][rows] = values
            present[rows, c] = ok
            padded[spec.name] += int(part.sum())
    absent = {spec.name: int((~present[:, c]).sum()) for c, spec in enumerate(layout)}
    return signals, present, padded, absent


def severity_and_extra(recordings: list[Recording], rec_of_window: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each window's severity (NaN where its recording has none) and extra numbers, from its recording."""
    severity = np.array([np.nan if r.severity is None else r.severity for r in recordings], dtype=np.float64)
    keys = sorted({k for r in recordings for k in r.extra})
    extra = {k: np.array([r.extra.get(k, np.nan) for r in recordings], dtype=np.float64)[rec_of_window] for k in keys}
    return severity[rec_of_window] if recordings else np.zeros(0), extra


def describe_recordings(recordings: list[Recording]) -> list[dict[str, Any]]:
    """Source, label, condition and group of each recording (the ``recordings`` of a windows' meta)."""
    return [{"source": r.source, "label": r.label, "condition": r.condition, "group": r.group} for r in recordings]


def _matching(dataset: Any, sensor_set: RecordingSet) -> list[Recording]:
    """The sensor recording of each prepared recording (same source, label and condition and length); the dataset's
    classes are the sensor set's, or some of them in the same order (a class view, data/openset_splits.py). A prepared dataset
    from the cache keeps the paths of the run that made it, so a source not found as written is matched by its file name
    when exactly one sensor recording has that name, label and condition (the data read from another folder)."""
    if [c for c in sensor_set.class_names if c in dataset.class_names] != list(dataset.class_names):  # a class view may drop some
        raise DataError(f"sensor set {sensor_set.name} has classes {sensor_set.class_names}, the dataset {dataset.class_names}")
    by_key = {(r.source, r.label, r.condition): r for r in sensor_set.recordings}
    by_name: dict[tuple, list[Recording]] = {}
    for r in sensor_set.recordings:
        by_name.setdefault((Path(r.source).name, r.label, r.condition), []).append(r)
    chosen = []
    for entry in dataset.meta["recordings"]:
        rec = by_key.get((entry["source"], entry["label"], entry["condition"]))
        if rec is None:
            named = by_name.get((Path(entry["source"]).name, entry["label"], entry["condition"]), [])
            rec = named[0] if len(named) == 1 else None
        if rec is None:
            raise DataError(
                f"prepared recording {entry['source']} ({entry['label']}, {entry['condition']}) is not in sensor set "
                f"{sensor_set.name}: build both from the same files, loads, missing_normal and target_fs"
            )
        lacking = [ch for ch in dataset.meta["channels"] if ch not in rec.channels or rec.n_samples_of(ch) != entry["samples"]]
        if lacking:
            raise DataError(f"{rec.source}: channel(s) {lacking} missing or of another length than the prepared {entry['samples']} samples")
        chosen.append(rec)
    return chosen


def sensor_windows_for(dataset: Any, sensor_set: RecordingSet | None, layout: Sequence[Any]) -> SensorWindows:
    """Sensor windows aligned 1:1 with a prepared (CWRU) dataset: window ``i`` ends where ``dataset.windows[i]`` ends.

    ``sensor_set`` must hold the dataset's recordings (same source, label and condition: build both with the same
    loads, ``missing_normal`` and ``target_fs``). A layout channel that is one of the dataset's own channels at its
    rate and window length is taken from ``dataset.windows`` (so the noisy copies of :mod:`syndiag.data.noise` stay
    noisy); the others come from the sensor set. For a dataset as prepared (``dataset.extra`` empty) the sensor set's
    copy of those channels is checked sample for sample against the first window of each recording.
    ``sensor_set=None`` (e.g. the simulator): only the dataset's own channels, the others absent, severity NaN.
    """
    check_layout(layout)
    channels = list(dataset.meta["channels"])
    fs, length = float(dataset.fs), int(dataset.windows.shape[-1])
    rec_of_window = np.asarray(dataset.recording, dtype=np.int64)
    starts = np.asarray(dataset.starts, dtype=np.int64)
    if sensor_set is not None:
        chosen = _matching(dataset, sensor_set)
        origin = np.array([r.start_s[channels[0]] for r in chosen])
        ends = origin[rec_of_window] + (starts + length) / fs
        signals, present, padded, absent = windows_ending_at(chosen, rec_of_window, ends, layout)
        severity, extra = severity_and_extra(chosen, rec_of_window)
        described, notes = describe_recordings(chosen), list(sensor_set.notes)
        images = window_images(chosen, rec_of_window, ends)
    else:
        ends = (starts + length) / fs
        signals = {spec.name: np.zeros((starts.size, spec.length), dtype=np.float32) for spec in layout}
        present = np.zeros((starts.size, len(layout)), dtype=bool)
        padded, severity, extra = {spec.name: 0 for spec in layout}, np.full(starts.size, np.nan), {}
        described = [{**{k: e[k] for k in ("source", "label", "condition")}, "group": ""} for e in dataset.meta["recordings"]]
        notes = ["no sensor set: only the prepared dataset's own channels"]
        images = None
    firsts = np.unique(rec_of_window, return_index=True)[1]
    verified = []
    for c, spec in enumerate(layout):
        if spec.name not in channels or spec.length != length or float(spec.fs) != fs:
            continue
        own = np.asarray(dataset.windows[:, channels.index(spec.name)], dtype=np.float32)
        if sensor_set is not None and not dataset.extra:
            if not np.array_equal(signals[spec.name][firsts], own[firsts]):
                raise DataError(f"{dataset.path}: channel {spec.name!r} of the sensor set does not match the prepared windows")
            verified.append(spec.name)
        signals[spec.name], present[:, c] = own, True
    if sensor_set is None:
        absent = {spec.name: int((~present[:, c]).sum()) for c, spec in enumerate(layout)}
    meta = {
        "dataset": dataset.meta.get("dataset", "") if sensor_set is None else sensor_set.name,
        "aligned_with": str(dataset.path),
        "clock_channel": channels[0],
        "clock_fs": fs,
        "window_length": length,
        "recordings": described,
        "from_prepared_windows": [s.name for s in layout if s.name in channels and s.length == length and float(s.fs) == fs],
        "verified": verified,
        "padded": padded,
        "absent": absent,
        "images": images_meta(images),
        "notes": notes,
    }
    return SensorWindows(
        layout=list(layout),
        signals=signals,
        present=present,
        labels=np.asarray(dataset.labels).copy(),
        conditions=np.asarray(dataset.conditions).copy(),
        split=np.asarray(dataset.split).copy(),
        severity=severity,
        class_names=list(dataset.class_names),
        prompts=list(dataset.prompts),
        condition_names=list(dataset.condition_names),
        images=None if images is None else images["images"],
        meta=meta,
        recording=rec_of_window.copy(),
        starts=starts.copy(),
        end_s=ends,
        extra=extra,
        image_present=None if images is None else images["present"],
        image_labels=None if images is None else images["labels"],
    )


def sensor_windows(
    sensor_set: RecordingSet,
    layout: Sequence[Any],
    window_seconds: float,
    per_class: int,
    test_fraction: float = 0.5,
    step_seconds: float | None = None,
) -> SensorWindows:
    """Leak-free windows of any sensor set (see the module docstring); the clock is the layout's fastest channel."""
    check_layout(layout)
    clock = max(layout, key=lambda spec: float(spec.fs))
    fs = float(clock.fs)
    length = round(window_seconds * fs)
    step = round(step_seconds * fs) if step_seconds is not None else max(1, length // 2)
    try:
        config = WindowConfig(length=length, step=step, per_class=per_class, test_fraction=test_fraction)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"sensor windows: {'.'.join(map(str, first['loc']))}: {first['msg']} (window of {length} samples at {fs:g} Hz)") from None
    plans, planned = plan_set(sensor_set, config, clock.name)
    if not plans:
        raise DataError(f"{sensor_set.name}: no window could be planned ({per_class} per class, {len(sensor_set.recordings)} recordings)")
    chosen = [rec for rec, _ in plans]
    notes = [*sensor_set.notes, *planned]
    rec_of_window = np.concatenate([np.full(plan.starts.size, i, dtype=np.int64) for i, (_, plan) in enumerate(plans)])
    starts = np.concatenate([plan.starts for _, plan in plans])
    split = np.concatenate([plan.split for _, plan in plans]).astype(np.int64)
    boundaries = [plan.boundary for _, plan in plans]
    origin = np.array([r.start_s[clock.name] for r in chosen])
    ends = origin[rec_of_window] + (starts + length) / fs
    signals, present, padded, absent = windows_ending_at(chosen, rec_of_window, ends, layout)
    severity, extra = severity_and_extra(chosen, rec_of_window)
    described = describe_recordings(chosen)
    images = window_images(chosen, rec_of_window, ends)
    for entry, boundary in zip(described, boundaries):
        entry["boundary"] = int(boundary)
    meta = {
        "dataset": sensor_set.name,
        "clock_channel": clock.name,
        "clock_fs": fs,
        "window_length": length,
        "window_step": step,
        "per_class": per_class,
        "test_fraction": test_fraction,
        "recordings": described,
        "padded": padded,
        "absent": absent,
        "shared_slow_samples": _shared_slow(chosen, rec_of_window, ends, split, layout),
        "images": images_meta(images),
        "notes": notes,
    }
    return SensorWindows(
        layout=list(layout),
        signals=signals,
        present=present,
        labels=np.array([sensor_set.class_names.index(r.label) for r in chosen], dtype=np.int64)[rec_of_window],
        conditions=np.array([sensor_set.conditions.index(r.condition) for r in chosen], dtype=np.int64)[rec_of_window],
        split=split,
        severity=severity,
        class_names=sensor_set.class_names,
        prompts=[c.prompt for c in sensor_set.classes],
        condition_names=list(sensor_set.conditions),
        images=None if images is None else images["images"],
        meta=meta,
        recording=rec_of_window,
        starts=starts,
        end_s=ends,
        extra=extra,
        image_present=None if images is None else images["present"],
        image_labels=None if images is None else images["labels"],
    )


def _shared_slow(recordings: list[Recording], rec_of_window: np.ndarray, ends: np.ndarray, split: np.ndarray, layout: Sequence[Any]) -> dict[str, int]:
    """Per channel, how many samples some pool window and some test window of the same recording both use."""
    shared = {spec.name: 0 for spec in layout}
    for rec_id in np.unique(rec_of_window):
        rec = recordings[int(rec_id)]
        rows = np.flatnonzero(rec_of_window == rec_id)
        for spec in layout:
            if spec.name not in rec.channels:
                continue
            n = rec.n_samples_of(spec.name)
            used = np.zeros((2, n), dtype=bool)
            j = end_index(ends[rows], rec.start_s[spec.name], float(spec.fs))
            for end, s in zip(j, split[rows]):
                used[1 if s == TEST else 0, max(end - spec.length, 0) : min(end, n)] = True
            shared[spec.name] += int((used[0] & used[1]).sum())
    return shared
