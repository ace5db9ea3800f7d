"""Fuzzing the head-package loader: any head.json, head.safetensors or signature.json gives a valid package or a
syndiag error (never another exception), and nothing is written outside the registry folder."""

import json
import struct
import tempfile
from pathlib import Path

import numpy as np
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as save_tensors
from torch import nn

from syndiag.errors import SyndiagError
from syndiag.registry.heads import HeadRegistry
from syndiag.registry.package import HeadPackage, PackageFiles
from syndiag.registry.signing import TrustStore, generate_key, load_private_key, sign

NAMES = ["normal", "IR", "OR"]
PROMPTS = ["normal operation", "inner race fault", "outer race fault"]
FUZZ = settings(max_examples=100, deadline=None, database=None)

torch.manual_seed(0)
HEAD = nn.Linear(8, 3)
FEATURES = torch.eye(3, 8).repeat(4, 1) * 4
LABELS = np.arange(12) % 3
VALID = HeadPackage.from_head(HEAD, version="v0001", parent="v0000", class_names=NAMES, prompts=PROMPTS,
                              backbones={"cloud": "t", "edge": "s"}, metrics={"accuracy": 0.5})
VALID_FILES = VALID.to_files()
_KEYS = tempfile.TemporaryDirectory()
KEY = generate_key(Path(_KEYS.name))
PRIVATE = load_private_key(KEY.private)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
meta_values = st.one_of(
    json_values,
    st.just(VALID.meta),
    st.builds(lambda key, value: {**VALID.meta, key: value}, st.sampled_from(sorted(VALID.meta) + ["extra"]), json_values),
    st.builds(lambda key: {k: v for k, v in VALID.meta.items() if k != key}, st.sampled_from(sorted(VALID.meta))),
)


def _dumps(value) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


dtypes = st.sampled_from([torch.float32, torch.float16, torch.float64, torch.int64, torch.uint8, torch.bfloat16])
shapes = st.sampled_from([(3, 8), (8, 3), (3, 9), (1, 1)])
scales = st.sampled_from([1.0, 1e5, 1e30, float("inf"), float("nan")])
weight_bytes = st.one_of(
    st.binary(max_size=200),
    st.just(VALID_FILES.weights),
    st.builds(lambda d, s, k: save_tensors({"weight": (torch.randn(s) * k).to(d), "bias": torch.zeros(s[0]).to(d)}), dtypes, shapes, scales),
    st.builds(lambda h: struct.pack("<Q", len(_dumps(h))) + _dumps(h) + bytes(128), json_values),
    st.builds(lambda b, i: b[:i] + bytes([b[i] ^ 0xFF]) + b[i + 1:] if i < len(b) else b,
              st.just(VALID_FILES.weights), st.integers(0, len(VALID_FILES.weights))),
)


def snapshot(root: Path, skip: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in root.rglob("*") if skip != p and skip not in p.parents}


def import_chain(tmp: Path, files: PackageFiles, signature: bytes | None = None, *, resign: bool = True) -> None:
    """The cloud's import of ``files`` as bytes on disk; a sentinel tree around the registry must not change."""
    sentinel, registry_root = tmp / "sentinel", tmp / "a" / "b" / "c" / "cloud" / "heads"  # deep: an escape still lands in tmp
    (sentinel / "deep").mkdir(parents=True)
    (sentinel / "deep" / "keep.txt").write_text("untouched")
    store = TrustStore(registry_root / "trusted")
    store.trust(KEY.public)
    if resign:
        files = sign(files, PRIVATE)
    folder = tmp / "inbox" / "pkg"
    folder.mkdir(parents=True)
    (folder / "head.json").write_bytes(files.meta)
    (folder / "head.safetensors").write_bytes(files.weights)
    if signature is not None or files.signature is not None:
        (folder / "signature.json").write_bytes(signature if signature is not None else files.signature)
    before = snapshot(tmp, registry_root)
    head = nn.Linear(8, 3)
    head.load_state_dict(HEAD.state_dict())
    try:
        read = PackageFiles.read(folder)
        signer = store.verify(read, str(folder))
        package = HeadPackage.from_files(read, str(folder))
        decision = HeadRegistry(registry_root, NAMES, PROMPTS, tolerance=1.0).submit(package, head, FEATURES, LABELS,
                                                                                      initial_backbones={"cloud": "t"}, signer=signer)
        event("accepted" if decision.accepted else f"refused: {decision.reasons[0].split(':')[0]}")
    except SyndiagError as exc:
        event(f"{type(exc).__name__}: {str(exc).split(': ', 1)[-1][:30]}")
    assert snapshot(tmp, registry_root) == before


@FUZZ
@given(meta=meta_values, weights=weight_bytes)
def test_any_signed_head_json_and_weights_give_a_package_or_a_syndiag_error(meta, weights):
    with tempfile.TemporaryDirectory() as tmp:
        import_chain(Path(tmp), PackageFiles(_dumps(meta), weights))


@FUZZ
@given(weights=weight_bytes)
def test_any_signed_weights_with_a_valid_head_json_give_a_package_or_a_syndiag_error(weights):
    with tempfile.TemporaryDirectory() as tmp:
        import_chain(Path(tmp), PackageFiles(VALID_FILES.meta, weights))


@FUZZ
@given(meta=st.binary(max_size=300), weights=st.binary(max_size=300))
def test_any_bytes_for_head_json_give_a_syndiag_error(meta, weights):
    with tempfile.TemporaryDirectory() as tmp:
        import_chain(Path(tmp), PackageFiles(meta, weights))


signature_values = st.one_of(
    st.binary(max_size=300),
    st.builds(_dumps, json_values),
    st.builds(lambda key, value: _dumps({**json.loads(sign(VALID_FILES, PRIVATE).signature), key: value}),
              st.sampled_from(["format", "algorithm", "key_id", "sha256", "signature", "extra"]), json_values),
)


@FUZZ
@given(signature=signature_values)
def test_any_signature_json_gives_a_syndiag_error(signature):
    with tempfile.TemporaryDirectory() as tmp:
        import_chain(Path(tmp), VALID_FILES, signature, resign=False)
