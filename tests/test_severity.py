import numpy as np
import pytest

from syndiag.errors import DataError
from syndiag.evaluation.severity import nearest_level, severity_report


def test_severity_scores_on_known_values():
    true = np.array([0.007, 0.014, 0.021, 0.0, np.nan])
    mean = np.array([0.008, 0.019, 0.021, 0.002, 0.5])
    std = np.array([0.001, 0.001, 0.001, 0.001, 0.1])
    report = severity_report(true, mean, std, levels=np.array([0.0, 0.007, 0.014, 0.021]))
    assert report["windows"] == 4
    assert report["mae"] == pytest.approx((0.001 + 0.005 + 0.0 + 0.002) / 4)
    assert report["ordinal_accuracy"] == pytest.approx(3 / 4)  # 0.019 snaps to 0.021
    assert report["interval_90_coverage"] == pytest.approx(2 / 4)  # 0.008 and 0.021 within 1.645 std
    assert list(nearest_level(np.array([0.0106, 0.0104]), np.array([0.007, 0.014]))) == [0.014, 0.007]


def test_bad_severity_input_is_named():
    with pytest.raises(DataError, match="one length"):
        severity_report(np.zeros(3), np.zeros(2), np.zeros(3))
    with pytest.raises(DataError, match="NaN"):
        severity_report(np.zeros(2), np.array([0.0, np.nan]), np.ones(2))
