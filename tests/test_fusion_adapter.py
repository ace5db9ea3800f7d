"""The fusion adapter: learned queries over every modality, soft tokens of any LM width, masked keys ignored, attention kept."""

import pytest
import torch

from syndiag.config.sensor import FusionAdapterConfig
from syndiag.errors import DataError
from syndiag.models.fusion_adapter import FusionAdapter


def adapter(hidden=32, **kwargs) -> FusionAdapter:
    torch.manual_seed(0)
    return FusionAdapter(FusionAdapterConfig(queries=5, heads=4, layers=2), 16, hidden, **kwargs).eval()


@pytest.mark.parametrize("hidden", [24, 48, 576])
def test_soft_tokens_take_the_width_of_the_language_model(hidden):
    model = adapter(hidden, d_spectrogram=hidden, n_spectrogram=4)
    soft, mask, attention = model(torch.randn(2, 7, 16), torch.ones(2, 7, dtype=torch.bool), torch.randn(2, 4, hidden))
    assert soft.shape == (2, 5, hidden) and mask.shape == (2, 11)
    assert attention.shape == (2, 4, 5, 11)
    assert torch.allclose(attention.sum(-1), torch.ones(2, 4, 5), atol=1e-5)
    assert model.last_attention is not None and torch.equal(model.last_attention, attention.detach())


def test_masked_keys_get_no_attention_and_change_nothing():
    model = adapter(d_spectrogram=32, n_spectrogram=4)
    series = torch.randn(2, 7, 16)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[0, 3:] = False
    spectrogram = torch.randn(2, 4, 32)
    spectrogram_present = torch.tensor([False, True])
    soft, keys, attention = model(series, mask, spectrogram, spectrogram_present)
    assert keys[0].tolist() == [True] * 3 + [False] * 8 and keys[1].all()
    assert torch.all(attention[0][..., ~keys[0]] == 0)
    other = series.clone()
    other[0, 3:] = 1e4
    other_spectrogram = spectrogram.clone()
    other_spectrogram[0] = -1e4
    soft2, _, _ = model(other, mask, other_spectrogram, spectrogram_present)
    assert torch.equal(soft[0], soft2[0]) and torch.equal(soft[1], soft2[1])


def test_spectrogram_tokens_alone_carry_a_window_without_channels():
    model = adapter(d_spectrogram=32, n_spectrogram=4)
    mask = torch.zeros(2, 7, dtype=torch.bool)
    soft, _, attention = model(torch.randn(2, 7, 16), mask, torch.randn(2, 4, 32))
    assert torch.isfinite(soft).all() and torch.allclose(attention[..., 7:].sum(-1), torch.ones(2, 4, 5), atol=1e-5)
    with pytest.raises(DataError, match=r"windows \[1\]"):
        model(torch.randn(2, 7, 16), mask, torch.randn(2, 4, 32), torch.tensor([True, False]))
    with pytest.raises(DataError, match=r"windows \[0, 1\]"):
        model(torch.randn(2, 7, 16), mask)


def test_an_adapter_refuses_a_modality_it_was_not_built_for():
    with pytest.raises(ValueError, match="image"):
        adapter()(torch.randn(1, 3, 16), torch.ones(1, 3, dtype=torch.bool), images=torch.randn(1, 4, 16))
    with pytest.raises(ValueError, match="4"):
        adapter(d_spectrogram=32, n_spectrogram=4)(torch.randn(1, 3, 16), torch.ones(1, 3, dtype=torch.bool), torch.randn(1, 9, 32))
