"""Dynamic int8 quantisation of an exported ONNX graph (issue 19, the edge device): weights to int8 per output channel
with onnxruntime's quantiser, activations quantised on the fly; the graph is written only when its class probabilities
stay within ``tolerance`` of the float graph's on probe images, both run by ONNX Runtime. Every quantisable operator
first; when that leaves the tolerance, the matrix products only (convolutions stay float)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from syndiag.atomic import atomic_folder
from syndiag.errors import ConfigError
from syndiag.models.checkpoint import record_digests
from syndiag.models.meta import CONFIG, ONNX_MODEL, provenance
from syndiag.serving.onnx_runtime import OnnxClassifier


def quantize_onnx(folder: str | Path, output: str | Path | None = None, tolerance: float = 0.05, probes: int = 8) -> tuple[Path, float]:
    """``folder`` (an ONNX export) -> ``output`` (default FOLDER-int8) with an int8 graph; returns it and max |Δp| vs float."""
    # defers onnx and onnxruntime's quantization tools to the one command that quantizes
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = Path(folder)
    float_model = OnnxClassifier(folder)
    target = Path(output) if output is not None else folder.with_name(folder.name + "-int8")
    rng = np.random.default_rng(0)
    probe = rng.integers(0, 256, (probes, float_model.image_size, float_model.image_size, 3), dtype=np.uint8)
    expected = float_model(probe)
    attempts = {"every quantisable operator": None, "matrix products only": ["MatMul", "Gemm"]}
    with atomic_folder(target) as staging, tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "float.onnx"
        shutil.copyfile(folder / ONNX_MODEL, prepared)
        tried = {}
        for scope, op_types in attempts.items():
            quantize_dynamic(str(prepared), str(staging / ONNX_MODEL), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=op_types)
            meta = {k: v for k, v in float_model.meta.to_dict().items() if k not in ("sha256", "max_abs_difference_vs_torch")}
            meta.update(provenance(float_model.meta.model), quantized=f"dynamic int8 (onnxruntime quantize_dynamic, QInt8 weights per channel; {scope})", float_export=str(folder))
            (staging / CONFIG).write_text(json.dumps(record_digests(meta, staging, [ONNX_MODEL]), indent=1), encoding="utf-8")
            difference = tried[scope] = float(np.abs(OnnxClassifier(staging)(probe) - expected).max())
            if difference <= tolerance:
                break
        else:
            found = ", ".join(f"{scope}: {d:.3f}" for scope, d in tried.items())
            raise ConfigError(f"the int8 graph's probabilities differ from the float graph's by more than {tolerance:g} ({found}); nothing written")
        meta = json.loads((staging / CONFIG).read_text(encoding="utf-8"))
        meta["max_abs_difference_vs_float"] = difference
        (staging / CONFIG).write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return target, difference
