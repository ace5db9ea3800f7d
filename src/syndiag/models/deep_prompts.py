"""Input-layer prompts P_in and layer-specific deep prompts P_l injected before chosen transformer blocks (§3.2.2)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle


class DeepPrompts(nn.Module):
    """P_in (L_in x D) joins the input sequence; at each layer l in ``layers`` the first L_deep positions are
    set to P_l before the block runs, so every block in ``layers`` sees its own learned prompts (P-tuning v2)."""

    def __init__(self, hidden_size: int, n_input: int, n_deep: int, layers: list[int], scale: float) -> None:
        super().__init__()
        self.n_input, self.n_deep, self.layers = n_input, n_deep, list(layers)
        self.input = nn.Parameter(torch.randn(n_input, hidden_size) * scale)
        self.deep = nn.Parameter(torch.randn(len(self.layers), n_deep, hidden_size) * scale)
        self._handles: list[RemovableHandle] = []

    @property
    def n_slots(self) -> int:
        """Sequence positions reserved in front for the deep prompts."""
        return self.n_deep if self.layers else 0

    def attach(self, blocks: nn.ModuleList) -> None:
        self.detach()
        for index, layer in enumerate(self.layers):
            self._handles.append(blocks[layer].register_forward_pre_hook(self._hook(index), with_kwargs=True))

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, index: int):
        def inject(module: nn.Module, args: tuple, kwargs: dict):
            hidden = args[0] if args else kwargs["hidden_states"]
            prompt = self.deep[index].to(hidden.dtype).expand(hidden.shape[0], -1, -1)
            hidden = torch.cat([prompt, hidden[:, self.n_deep :]], dim=1)
            if args:
                return (hidden, *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": hidden}

        return inject


SAVED_AS = "prompts_module"
"""The checkpoint name of a model's learned prompts: their attribute's name before it became ``learned_prompts``."""


def keep_checkpoint_name(model: nn.Module, attribute: str = "learned_prompts", saved_as: str = SAVED_AS) -> None:
    """Give the tensors of ``model.<attribute>`` the state-dict keys ``<saved_as>.*``, in and out.

    ``state_dict()`` (hence every checkpoint) names them ``prompts_module.input`` / ``prompts_module.deep``, as
    before the attribute was renamed, and ``load_state_dict`` maps those keys back onto the attribute, so
    checkpoints written before and after the rename load alike. Parameter names (``named_parameters``) use
    the attribute's name.
    """
    stored, live = f"{saved_as}.", f"{attribute}."

    def rename(state: dict, prefix: str, old: str, new: str) -> None:
        old, new = prefix + old, prefix + new
        if not any(key.startswith(old) for key in state):
            return
        items = list(state.items())
        state.clear()
        state.update((new + key[len(old):] if key.startswith(old) else key, value) for key, value in items)

    def on_save(module: nn.Module, state: dict, prefix: str, local_metadata: dict) -> None:
        rename(state, prefix, live, stored)

    def on_load(module: nn.Module, state: dict, prefix: str, *args) -> None:
        rename(state, prefix, stored, live)

    model.register_state_dict_post_hook(on_save)
    model.register_load_state_dict_pre_hook(on_load)
