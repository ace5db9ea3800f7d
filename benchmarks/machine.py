"""Shared by the benchmark scripts: provenance (command, commit, machine, time; see syndiag.evaluation.provenance) and
the mean ± 95 % t interval over seeds their tables print."""

import numpy as np
from scipy import stats

from syndiag.evaluation.provenance import provenance

__all__ = ["mean_interval", "provenance"]


def mean_interval(values, digits: int = 3) -> str:
    """``mean ± half-width`` of the 95 % Student-t interval of the mean; the mean alone for a single value."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return f"{values.mean():.{digits}f}"
    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return f"{values.mean():.{digits}f} ± {half:.{digits}f}"
