"""Dynamic int8 quantisation of the frozen language model: the adapters stay float, the outputs stay close."""

import pytest
import torch
from test_cloud import NAMES, PROMPTS, images, tiny_config
from tiny import tiny_backbone

from syndiag.errors import ConfigError
from syndiag.models.cloud import SynDiagCloud
from syndiag.models.quantize import frozen_linear_names, int8_language_model


def test_the_frozen_linear_layers_become_int8_and_the_trained_ones_stay_float():
    torch.manual_seed(0)
    model = SynDiagCloud(tiny_config(lora_dropout=0.0), tiny_backbone("decoder"), NAMES, PROMPTS).eval()
    trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    names = frozen_linear_names(model.lm.get_base_model())
    assert names and not any("lora" in n or "proj" in n and "mlp" not in n for n in names), names
    with torch.no_grad():
        before = model(images(4)).softmax(-1)
    assert int8_language_model(model) == len(names) == 9  # gate, up and down projections of 3 blocks; q/k/v/o carry LoRA
    with torch.no_grad():
        after = model(images(4)).softmax(-1)
    assert 0 < (before - after).abs().max() < 0.05
    torch.manual_seed(0)
    per_tensor = SynDiagCloud(tiny_config(lora_dropout=0.0), tiny_backbone("decoder"), NAMES, PROMPTS).eval()
    int8_language_model(per_tensor, per_channel=False)
    with torch.no_grad():
        assert (before - per_tensor(images(4)).softmax(-1)).abs().max() >= (before - after).abs().max()
    quantized = [m for m in model.lm.get_base_model().modules() if type(m).__module__.startswith("torch.ao.nn.quantized.dynamic")]
    assert len(quantized) == 9
    assert all(torch.equal(p, trained[n]) for n, p in model.named_parameters() if n in trained)
    with pytest.raises(ConfigError, match="no language model"):
        int8_language_model(torch.nn.Linear(2, 2))
