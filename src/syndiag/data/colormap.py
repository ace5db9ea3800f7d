"""Colormap lookup tables: a matplotlib colormap as 256 RGB rows, through which the spectrogram images and the thermal
frames are coloured."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=8)
def colormap_lut(name: str) -> np.ndarray:
    """256 x 3 uint8 RGB table of the matplotlib colormap ``name`` (no pyplot)."""
    import matplotlib  # defers matplotlib: a colormap is read once, on the first image coloured through it

    return np.rint(matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).astype(np.uint8)
