import numpy as np
import pytest

from syndiag.config.data import WindowConfig
from syndiag.errors import DataError
from syndiag.serving.diagnosis import window_array


@pytest.mark.parametrize("length, step", [(64, 16), (64, 64), (64, 100), (64, 32)])
def test_a_recording_is_cut_every_window_step(length, step):
    signal = np.arange(2 * 1000, dtype=np.float64).reshape(2, 1000)
    windows = window_array(signal, WindowConfig(length=length, step=step), "rec")
    starts = list(range(0, 1000 - length + 1, step))
    assert windows.shape == (len(starts), 2, length) and windows.dtype == np.float32
    np.testing.assert_array_equal(windows[:, 0, 0], starts)
    np.testing.assert_array_equal(windows[-1], signal[:, starts[-1] : starts[-1] + length])


def test_windows_pass_through_and_short_or_mismatched_input_is_refused():
    windows = np.zeros((3, 1, 64))
    assert window_array(windows, WindowConfig(length=64, step=7), "w").shape == (3, 1, 64)
    with pytest.raises(DataError, match="the model expects 64"):
        window_array(np.zeros((3, 1, 32)), WindowConfig(length=64), "w")
    with pytest.raises(DataError, match="shorter than one window"):
        window_array(np.zeros((1, 63)), WindowConfig(length=64), "w")
