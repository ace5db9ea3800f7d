"""Camera / thermal frames of a sensor recording (LLaVA-for-Sensors article, 'thermal imaging'), and each window's latest frame.

A :class:`~syndiag.data.recording.Recording` holds ``images``: a list of ``(time_s, image)`` on the recording's
clock, ``image`` an (H, W, 3) uint8 array or an :class:`ImageFrame` (the array plus what the image itself shows,
e.g. a crack the vibration does not reveal). A window sees the latest frame taken at or before its end instant, none
when every frame comes later (:func:`window_images`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from syndiag.errors import DataError

TIME_SLACK_S = 1e-9
"""A frame stamped this little after a window's end still counts as taken at its end (float rounding of the clock)."""


@dataclass(frozen=True)
class ImageFrame:
    """An image with its own label: what the picture shows (``"crack"``), which may differ from the recording's label."""

    pixels: np.ndarray
    label: str = ""
    note: str = ""


def image_pixels(image: Any) -> np.ndarray:
    """The (H, W, 3) uint8 array of an image entry (a plain array or an :class:`ImageFrame`)."""
    return np.asarray(image.pixels if isinstance(image, ImageFrame) else image)


def image_label(image: Any) -> str:
    """The label an image entry states about itself ('' for a plain array)."""
    return image.label if isinstance(image, ImageFrame) else ""


def check_images(images: Sequence[Any], source: str) -> None:
    """Every entry is (finite time_s, (H, W, 3) uint8 image), all of one size."""
    shapes = set()
    for i, entry in enumerate(images):
        if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
            raise DataError(f"{source}: image {i} must be a (time_s, image) pair, got {type(entry).__name__}")
        time_s, image = entry
        if not isinstance(time_s, (int, float, np.floating, np.integer)) or not math.isfinite(float(time_s)):
            raise DataError(f"{source}: image {i}: time {time_s!r} is not a finite number of seconds")
        pixels = image_pixels(image)
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise DataError(f"{source}: image {i} at {float(time_s):g} s must be (H, W, 3) uint8, got {pixels.shape} {pixels.dtype}")
        shapes.add(pixels.shape)
    if len(shapes) > 1:
        raise DataError(f"{source}: images of different sizes {sorted(shapes)}")


def window_images(recordings: Sequence[Any], rec_of_window: np.ndarray, ends: np.ndarray) -> dict[str, Any] | None:
    """Per window, the latest frame at or before its end: images (N, H, W, 3) uint8, present (N,), labels (N,) str.

    None when no recording has images. Windows with no frame yet (every frame after their end, or a recording
    without images) get zeros and ``present`` False.
    """
    used = [int(r) for r in np.unique(rec_of_window)]
    shapes = {image_pixels(image).shape for r in used for _, image in recordings[r].images}
    if not shapes:
        return None
    if len(shapes) > 1:
        raise DataError(f"recordings have images of different sizes {sorted(shapes)}: one size is needed per set of windows")
    n = int(np.asarray(rec_of_window).size)
    images = np.zeros((n, *shapes.pop()), dtype=np.uint8)
    present = np.zeros(n, dtype=bool)
    labels = np.full(n, "", dtype=object)
    for rec_id in used:
        frames = recordings[rec_id].images
        if not frames:
            continue
        times = np.array([float(t) for t, _ in frames])
        order = np.argsort(times, kind="stable")
        rows = np.flatnonzero(rec_of_window == rec_id)
        latest = np.searchsorted(times[order], np.asarray(ends)[rows] + TIME_SLACK_S, side="right") - 1
        for row, k in zip(rows, latest):
            if k < 0:
                continue
            image = frames[int(order[k])][1]
            images[row], present[row], labels[row] = image_pixels(image), True, image_label(image)
    return {"images": images, "present": present, "labels": labels}


def images_meta(found: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the windows' meta says about their images: size, how many windows have one, the image labels seen."""
    if found is None:
        return None
    present = found["present"]
    return {"size": list(found["images"].shape[1:3]), "windows_with_image": int(present.sum()), "windows_without": int((~present).sum()),
            "image_labels": sorted({str(x) for x in found["labels"][present] if x})}
