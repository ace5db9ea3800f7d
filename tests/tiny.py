"""Tiny randomly initialised backbones (a Llama-style decoder and a BERT encoder) for fast model tests."""

from __future__ import annotations

from functools import lru_cache

import torch

from syndiag.models.backbones import PACKAGED, Backbone, package_folder


@lru_cache(maxsize=1)
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(package_folder(PACKAGED["minilm-l6"]))


def tiny_backbone(kind: str = "decoder", hidden: int = 32, layers: int = 3, seed: int = 0) -> Backbone:
    from transformers import BertConfig, BertModel, LlamaConfig, LlamaModel

    torch.manual_seed(seed)
    vocab = tokenizer().vocab_size
    if kind == "decoder":
        model = LlamaModel(LlamaConfig(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                                       num_attention_heads=4, num_key_value_heads=2, vocab_size=vocab))
        targets = ("q_proj", "k_proj", "v_proj", "o_proj")
    else:
        model = BertModel(BertConfig(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                                     num_attention_heads=4, vocab_size=vocab), add_pooling_layer=False)
        targets = ("query", "key", "value", "attention.output.dense")
    model.requires_grad_(False)
    model.eval()
    return Backbone(f"tiny-{kind}", model, tokenizer(), hidden, layers, kind == "decoder", targets)


def save_tiny_backbone(folder, kind: str = "decoder", hidden: int = 32, layers: int = 2):
    """Write a tiny random model + tokenizer as a transformers folder, loadable by path like any hub model."""
    backbone = tiny_backbone(kind, hidden, layers)
    backbone.model.save_pretrained(folder)
    backbone.tokenizer.save_pretrained(folder)
    return folder
