"""A user's file read channel by channel for a model's layout (LLaVA-for-Sensors: every channel at its own rate, or missing),
and the reading rules every model's input shares: the file's rate (``--fs`` against what the file or the CWRU catalogue
says) and a MATLAB file's variable names. :func:`syndiag.data.model_input.read_input` is the one entry.

An original CWRU ``.mat`` is read by its own variables: ``DE``/``FE``/``BA`` from ``X<NNN>_<ch>_time`` at the
catalogue's rate, a ``speed`` channel from ``X<NNN>RPM`` as a constant (the load's nominal speed where the file has
none or one far from it, as :func:`syndiag.data.cwru.cwru_sensor_set` does for training). A channel at another
rate than the layout's is resampled to it (polyphase, anti-aliased), as training resampled the 48 kHz normal
baselines (``resample_to``: the checkpoint's ``cwru.target_fs``); the notes say so. Other files (.csv, .npz, .npy, other .mat) give each layout
channel from the column, key or variable that ``--channels`` names in layout order (``-``: the file lacks it;
``NAME@RATE``: its own rate in Hz), else from the one named like the channel; every channel is at the file's rate
(``--fs`` or its own ``fs``) unless given one. A ``--fs`` that contradicts the file or the CWRU catalogue is an error.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from scipy.signal import resample_poly

from syndiag.data.cwru import NOMINAL_RPM_TOLERANCE, catalogue_entry, cwru_numbers, cwru_rpm, own_number, resample
from syndiag.data.cwru_classes import CWRU_LOADS
from syndiag.data.recording import check_signal
from syndiag.data.signal_files import (
    FS_KEY,
    ChannelRef,
    file_format,
    read_channels,
    read_csv_table,
    select_csv_columns,
)
from syndiag.errors import DataError

log = logging.getLogger(__name__)

CWRU_SENSORS = ("DE", "FE", "BA")
CWRU_SPEED_REFS = ("rpm", "speed")
MISSING_REFS = ("-", "none")
RATE_MARK = "@"
RPM_TOLERANCE = NOMINAL_RPM_TOLERANCE
"""rpm between a CWRU file's own X<NNN>RPM and its load's nominal speed beyond which the nominal one is used (as in training)."""


@dataclass
class LayoutChannels:
    """The layout channels found in a file (1-D samples at the layout's rate, first sample at t = 0), those it lacks, notes."""

    channels: dict[str, np.ndarray]
    missing: list[str]
    notes: list[str] = field(default_factory=list)
    recorded_hz: dict[str, float] = field(default_factory=dict)
    """The rate each channel was recorded at, before it was brought to the layout's."""


@dataclass(frozen=True)
class _Ref:
    """Where a layout channel comes from: a file reference (None: missing), its own rate, whether the user named it."""

    ref: ChannelRef | None
    fs: float | None
    explicit: bool


def parse_sensor_channels(value: str | Sequence[str] | None, layout: Sequence[Any], source: str) -> list[_Ref]:
    """``--channels`` in layout order (``DE,-,rpm@1``) -> one reference per layout channel; None: the layout's names."""
    if value is None:
        return [_Ref(spec.name, None, False) for spec in layout]
    items = [str(v).strip() for v in (value.split(",") if isinstance(value, str) else value)]
    if len(items) != len(layout):
        names = ", ".join(spec.name for spec in layout)
        raise DataError(f"{source}: the sensor model's layout has {len(layout)} channels ({names}); --channels names {len(items)} "
                        f"({', '.join(items)}). Give one per layout channel, in that order, '-' for one the file lacks")
    refs = []
    for item in items:
        if item.lower() in MISSING_REFS or not item:
            refs.append(_Ref(None, None, True))
            continue
        name, mark, rate = item.rpartition(RATE_MARK)
        fs = None
        if mark:
            try:
                fs = float(rate)
            except ValueError:
                raise DataError(f"--channels {item!r}: the rate after '{RATE_MARK}' must be a number of Hz") from None
            if not (math.isfinite(fs) and fs > 0):
                raise DataError(f"--channels {item!r}: the rate must be a positive number of Hz")
            item = name
        refs.append(_Ref(int(item) if item.isdigit() else item, fs, True))
    refuse_twice(source, [(spec.name, ref.ref) for spec, ref in zip(layout, refs) if ref.ref is not None])
    return refs


def refuse_twice(source: str, reads: list[tuple[str, ChannelRef]]) -> None:
    """One file channel read for two layout channels (``(layout channel, file channel)`` pairs) is refused, naming it."""
    taken: dict[ChannelRef, str] = {}
    for channel, ref in reads:
        if ref in taken:
            raise DataError(f"{source}: --channels reads {ref} for both the layout's {taken[ref]} and {channel} channels (one channel "
                            "named twice?); give each layout channel its own channel of the file, '-' for one the file lacks")
        taken[ref] = channel


def read_layout(path: Path, layout: Sequence[Any], fs: float | None = None, select: str | Sequence[str] | None = None,
                resample_to: float | None = None) -> LayoutChannels:
    """Every layout channel of ``path`` (an existing file; see the module docstring), checked: finite samples, the layout's
    rates, one vibration channel at least. A channel the file lacks is listed in ``missing``; one that ``--channels`` names
    but the file lacks is an error."""
    refs = parse_sensor_channels(select, layout, str(path))
    fmt = file_format(path)
    names = mat_names(path) if fmt == "mat" else []
    number = own_number(path, names) if fmt == "mat" and cwru_numbers(names) else None
    if number is not None:
        found = _read_cwru(path, number, names, layout, refs, fs, resample_to)
    else:
        found = _read_other(path, fmt, layout, refs, fs)
    vibration = [spec.name for spec in layout if spec.kind == "vibration"]
    if not any(name in found.channels for name in vibration or [spec.name for spec in layout]):
        raise DataError(f"{path}: none of the sensor model's {'vibration ' if vibration else ''}channels "
                        f"({', '.join(vibration or [s.name for s in layout])}) is in the file: nothing to diagnose. Name the "
                        "file's channels with --channels, one per layout channel, in its order")
    return found


def _read_cwru(path: Path, number: int, names: list[str], layout: Sequence[Any], refs: list[_Ref], fs: float | None,
               resample_to: float | None) -> LayoutChannels:
    """The layout channels of an original CWRU file, by its own variables."""
    entry = catalogue_entry(path, number)
    found, missing, notes, recorded = {}, [], [], {}
    wanted: dict[str, str] = {}
    for spec, ref in zip(layout, refs):
        if ref.ref is None:
            missing.append(spec.name)
        elif not isinstance(ref.ref, str) or _is_rpm(spec, ref):
            continue
        else:
            variable = f"X{number:03d}_{ref.ref}_time" if ref.ref in CWRU_SENSORS else ref.ref
            if variable in names:
                wanted[spec.name] = variable
            elif ref.explicit:
                raise DataError(f"{path}: --channels names {ref.ref!r} for channel {spec.name!r}; the file holds {', '.join(names)}")
            else:
                missing.append(spec.name)
    refuse_twice(str(path), list(wanted.items()))
    rate, how = file_rate(path, fs, [(entry.fs_hz, f"the CWRU catalogue ({entry.describe()})")] if entry else [])
    duration = None
    if wanted:
        data = read_channels(path, "mat", list(wanted.values()))
        for row, name in enumerate(wanted):
            spec = layout[[s.name for s in layout].index(name)]
            own = next(r.fs for s, r in zip(layout, refs) if s.name == name)
            found[name] = _at_layout_rate(path, spec, data.signal[row], own or rate, "--channels" if own else how,
                                          resample_to if entry and not own else None, notes)
            recorded[name] = float(own or rate)
            duration = data.signal.shape[1] / (own or rate)
    for spec, ref in zip(layout, refs):
        if ref.ref is None or spec.name in found or spec.name in missing:
            continue
        if not _is_rpm(spec, ref):
            raise DataError(f"{path}: channel {spec.name!r}: {ref.ref!r} is not a variable of this CWRU file ({', '.join(names)})")
        rpm = _cwru_speed(path, number, entry, notes)
        if rpm is None or duration is None:
            if ref.explicit and rpm is None:
                raise DataError(f"{path}: channel {spec.name!r}: the file has no X{number:03d}RPM variable and is not in the "
                                "CWRU catalogue")
            missing.append(spec.name)
            continue
        found[spec.name] = np.full(math.floor(duration * float(spec.fs)) + 1, rpm)
    return LayoutChannels(found, [s.name for s in layout if s.name in missing], notes, recorded)


def _is_rpm(spec: Any, ref: _Ref) -> bool:
    """Whether a speed channel is read from a CWRU file's X<NNN>RPM value (its default, or --channels RPM / speed)."""
    return spec.kind == "speed" and isinstance(ref.ref, str) and (not ref.explicit or ref.ref.lower() in CWRU_SPEED_REFS)


def _cwru_speed(path: Path, number: int, entry, notes: list[str]) -> float | None:
    """The file's own X<NNN>RPM, or its load's nominal speed where it has none or one far from it (None: neither known)."""
    stored = cwru_rpm(path, number)
    if entry is None:
        return stored
    nominal = float(CWRU_LOADS[entry.load_hp])
    if stored is not None and abs(stored - nominal) <= RPM_TOLERANCE:
        return stored
    why = ("the file has no RPM variable" if stored is None
           else f"its X{number:03d}RPM = {stored:g} rpm is more than {RPM_TOLERANCE:g} rpm away")
    notes.append(f"{path.name}: speed set to the nominal {nominal:g} rpm of {entry.load_hp} HP ({why})")
    return nominal


def _read_other(path: Path, fmt: str, layout: Sequence[Any], refs: list[_Ref], fs: float | None) -> LayoutChannels:
    """The layout channels of a .csv, .npz, .npy or non-CWRU .mat file, one column, key or variable each."""
    if fmt == "npy" and any(not r.explicit for r in refs):
        raise DataError(f"{path}: a .npy array names no channels; pass --channels with a column index per layout channel "
                        f"({', '.join(s.name for s in layout)}), '-' for one the file lacks")
    header, table, held = None, None, []
    if fmt == "csv":
        header, table = read_csv_table(path)
        held = header or []
    elif fmt == "npz":
        held = npz_keys(path)
    elif fmt == "mat":
        held = mat_names(path)
    found, missing, notes, recorded = {}, [], [], {}
    for spec, ref in zip(layout, refs):
        if ref.ref is None or (not ref.explicit and ref.ref not in held):
            missing.append(spec.name)
            continue
        if fmt == "csv":
            column, own_fs = select_csv_columns(path, header, table, [ref.ref])[0][1], None
        else:
            data = read_channels(path, fmt, [ref.ref])
            column, own_fs = data.signal[0], data.fs
        rate, how = file_rate(path, fs, [] if own_fs is None else [(own_fs, f"the file's own '{FS_KEY}' value")])
        if ref.fs is not None:
            rate, how = ref.fs, f"--channels {ref.ref}{RATE_MARK}{ref.fs:g}"
        found[spec.name] = _at_layout_rate(path, spec, column, rate, how, None, notes)
        recorded[spec.name] = float(rate)
    return LayoutChannels(found, missing, notes, recorded)


def _at_layout_rate(path: Path, spec: Any, samples: np.ndarray, rate: float | None, how: str, resample_to: float | None,
                    notes: list[str]) -> np.ndarray:
    """A channel's finite samples at the layout's rate: a recording at another declared rate is resampled (polyphase, anti-aliased
    when it is faster; an upsampled channel holds nothing above its own Nyquist frequency, which the notes say)."""
    samples = np.asarray(samples, dtype=np.float64).ravel()
    check_signal(samples, f"{path}: channel {spec.name!r}")
    if rate is None:
        raise DataError(f"{path}: the sampling rate of channel {spec.name!r} is unknown (the file does not say); pass --fs "
                        f"(the layout wants {spec.fs:g} Hz) or give it as --channels NAME{RATE_MARK}RATE")
    if math.isclose(rate, float(spec.fs), rel_tol=1e-6):
        return samples
    as_trained = resample_to is not None and math.isclose(resample_to, float(spec.fs), rel_tol=1e-6)
    note = f"{path.name}: channel {spec.name} resampled from {rate:g} Hz ({how}) to the layout's {spec.fs:g} Hz (polyphase)"
    if as_trained:
        note += ", as in training"
    elif rate < float(spec.fs):
        note += f"; it holds nothing above {rate / 2:g} Hz, where the model was trained on content up to {float(spec.fs) / 2:g} Hz"
    notes.append(note)
    log.warning("%s", note)
    if as_trained:
        return resample(samples, rate, float(spec.fs))
    return change_rate(samples, rate, float(spec.fs), spec.kind, f"{path}: channel {spec.name!r}")


SLOW_KINDS = ("speed", "temperature")
MAX_RATE_ERROR = 1e-3


def change_rate(samples: np.ndarray, rate: float, target: float, kind: str, where: str) -> np.ndarray:
    """Samples at ``target`` Hz: a slow quantity (speed, temperature) or a drop of over 100 x is interpolated linearly at the new
    sample times; a signal polyphase-resampled by the nearest ratio of integers up to 1000 (refused if that misses the rate
    by more than 0.1 %), as the training data were (:func:`syndiag.data.cwru.resample`)."""
    if kind in SLOW_KINDS or rate / target > 100:
        count = max(1, int(math.floor(samples.size * target / rate)))
        return np.interp(np.arange(count) / target, np.arange(samples.size) / rate, samples)
    ratio = Fraction(target / rate).limit_denominator(1000)
    if abs(float(ratio) * rate - target) > MAX_RATE_ERROR * target:
        raise DataError(f"{where}: cannot resample {rate:g} Hz to {target:g} Hz by a ratio of small integers "
                        f"(nearest {ratio.numerator}/{ratio.denominator} gives {float(ratio) * rate:g} Hz)")
    return resample_poly(samples, ratio.numerator, ratio.denominator)


def file_rate(path: Path, fs: float | None, known: list[tuple[float, str]]) -> tuple[float | None, str]:
    """The file's rate and how it is known: ``--fs`` (refused where it contradicts a rate the file or the CWRU catalogue
    gives, ``known``: (Hz, what says so)), else the first known one; None where nothing says."""
    for value, what in known:
        if fs is not None and not math.isclose(fs, value, rel_tol=1e-6):
            raise DataError(f"{path}: --fs {fs:g} Hz contradicts {what}: {value:g} Hz. Drop --fs, or check that this is the file you mean")
    if fs is not None:
        return float(fs), "--fs"
    return (float(known[0][0]), known[0][1]) if known else (None, "")


def check_fs(fs: float | None) -> None:
    """A ``--fs`` that is not a positive number of Hz is refused."""
    if fs is not None and not (math.isfinite(fs) and fs > 0):
        raise DataError(f"--fs must be a positive number of Hz, got {fs}")


def mat_names(path: Path) -> list[str]:
    """The variable names of a MATLAB file; a DataError for v7.3 or unreadable files."""
    try:
        return [name for name, _, _ in scipy.io.whosmat(str(path))]
    except NotImplementedError:
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; re-save it with save(..., '-v7')") from None
    except Exception as exc:  # scipy raises many types for corrupt or truncated files
        raise DataError(f"{path}: not a readable MATLAB file ({type(exc).__name__}: {exc})") from None


def npz_keys(path: Path) -> list[str]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return list(archive.files)
    except Exception as exc:  # numpy raises many types for a damaged file
        raise DataError(f"{path}: not a readable .npz archive: {exc}") from None
