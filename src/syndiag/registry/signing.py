"""Signed head packages: the edge signs with its Ed25519 key, the cloud verifies against the public keys it trusts.

What is signed: the message ``syndiag-head-signature-v1\\nhead.json <sha256>\\nhead.safetensors <sha256>\\n`` built from
the exact bytes of both files, so any change to either (or to the signature) after signing is detected; nothing is
parsed before it is verified. ``signature.json`` holds the format, ``algorithm: ed25519``, the signer's ``key_id``
(the first 16 hex digits of the sha256 of its raw 32-byte public key), both digests and the base64 signature.

Keys: ``generate_key`` writes ``<key_id>.key`` (PKCS#8 PEM, mode 0600) and ``<key_id>.pub`` (SubjectPublicKeyInfo PEM,
0644). The cloud's :class:`TrustStore` is a folder of ``<key_id>.pub`` files (``OUTPUT_DIR/heads/trusted``), with
revoked keys moved to its ``revoked/`` subfolder; a revoked key is trusted again only when asked to explicitly (reinstate).
Rotation: generate a new key, trust it, revoke the old one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from syndiag.atomic import atomic_file
from syndiag.errors import DataError
from syndiag.models.meta import field_name
from syndiag.registry.package import (
    HEAD_META,
    HEAD_WEIGHTS,
    SIGNATURE,
    PackageFiles,
    parse_json,
    read_bounded,
)

SIGNATURE_FORMAT = "syndiag-head-signature-v1"
KEY_ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
MAX_KEY_BYTES = 4096
Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class UntrustedPackage(DataError):
    """A package the cloud refuses to trust: unsigned, signed by an unknown or revoked key, or altered after signing."""


class SignatureFile(BaseModel):
    """``signature.json``."""

    model_config = ConfigDict(strict=True, extra="forbid")

    format: Literal["syndiag-head-signature-v1"]
    algorithm: Literal["ed25519"]
    key_id: Annotated[str, StringConstraints(pattern=KEY_ID_PATTERN.pattern)]
    sha256: dict[Literal["head.json", "head.safetensors"], Hex64]
    signature: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{86}==$")]


def signed_message(meta: bytes, weights: bytes) -> bytes:
    """What the edge signs: both files' sha256 digests under a format tag."""
    return (f"{SIGNATURE_FORMAT}\n{HEAD_META} {hashlib.sha256(meta).hexdigest()}\n"
            f"{HEAD_WEIGHTS} {hashlib.sha256(weights).hexdigest()}\n").encode("ascii")


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def write_with_mode(path: Path, data: bytes, mode: int) -> None:
    """Atomically write ``data`` with permissions ``mode`` set before any byte is written."""
    with atomic_file(path, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)


@dataclass(frozen=True)
class KeyFiles:
    key_id: str
    private: Path
    public: Path


def generate_key(out_dir: Path) -> KeyFiles:
    """A new Ed25519 signing key for an edge: ``<key_id>.key`` (0600) and ``<key_id>.pub`` (0644) in ``out_dir``."""
    private = Ed25519PrivateKey.generate()
    kid = key_id(private.public_key())
    out_dir = Path(out_dir)
    files = KeyFiles(kid, out_dir / f"{kid}.key", out_dir / f"{kid}.pub")
    if files.private.exists() or files.public.exists():
        raise DataError(f"{files.private} exists already; keys are never overwritten")
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_with_mode(files.private, pem, 0o600)
    write_with_mode(files.public, _public_pem(private.public_key()), 0o644)
    return files


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An edge's signing key; refused when other users may read it (like ssh does)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such private key file")
    path = path.resolve()
    data = read_bounded(path, MAX_KEY_BYTES)
    if os.name == "posix" and stat.S_IMODE(os.stat(path).st_mode) & 0o077:
        raise DataError(f"{path}: private key readable by other users (mode {stat.S_IMODE(os.stat(path).st_mode):o}); chmod 600 it")
    try:
        key = serialization.load_pem_private_key(data, password=None)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: not an unencrypted PEM private key ({str(exc)[:120]})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DataError(f"{path}: a {type(key).__name__}, head packages are signed with Ed25519 keys (syndiag head keygen)")
    return key


def parse_public_key(data: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{where}: not a PEM public key ({str(exc)[:120]})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise DataError(f"{where}: a {type(key).__name__}, head packages are signed with Ed25519 keys")
    return key


def sign(files: PackageFiles, private: Ed25519PrivateKey) -> PackageFiles:
    """``files`` with a ``signature.json`` over their exact bytes."""
    record = {
        "format": SIGNATURE_FORMAT, "algorithm": "ed25519", "key_id": key_id(private.public_key()),
        "sha256": {HEAD_META: hashlib.sha256(files.meta).hexdigest(), HEAD_WEIGHTS: hashlib.sha256(files.weights).hexdigest()},
        "signature": base64.b64encode(private.sign(signed_message(files.meta, files.weights))).decode("ascii"),
    }
    return replace(files, signature=json.dumps(record, indent=1).encode("utf-8"))


def read_signature(data: bytes, where: str) -> SignatureFile:
    raw = parse_json(data, f"{where}/{SIGNATURE}")
    if not isinstance(raw, dict):
        raise DataError(f"{where}/{SIGNATURE}: must hold a JSON object, found {type(raw).__name__}")
    try:
        record = SignatureFile.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{field_name(e['loc']) or SIGNATURE}: {e['msg']}" for e in exc.errors()[:4]]
        raise DataError(f"{where}/{SIGNATURE}: invalid: " + "; ".join(problems)) from None
    if set(record.sha256) != {HEAD_META, HEAD_WEIGHTS}:
        raise DataError(f"{where}/{SIGNATURE}: sha256 must name both {HEAD_META} and {HEAD_WEIGHTS}")
    return record


class TrustStore:
    """The public keys of the edges the cloud trusts: ``root/<key_id>.pub``; revoked ones in ``root/revoked/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, kid: str, revoked: bool = False) -> Path:
        if not KEY_ID_PATTERN.fullmatch(kid):
            raise DataError(f"{kid[:40]!r} is not a key id (16 hex digits, as syndiag head keygen prints)")
        return (self.root / "revoked" if revoked else self.root) / f"{kid}.pub"

    def trusted(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.pub") if KEY_ID_PATTERN.fullmatch(p.stem)) if self.root.is_dir() else []

    def revoked(self) -> list[str]:
        folder = self.root / "revoked"
        return sorted(p.stem for p in folder.glob("*.pub") if KEY_ID_PATTERN.fullmatch(p.stem)) if folder.is_dir() else []

    def trust(self, public_key_file: Path, reinstate: bool = False) -> str:
        """Add an edge's public key (a ``.pub`` file from ``syndiag head keygen``); return its key id. A revoked key is
        refused unless ``reinstate``."""
        public_key_file = Path(public_key_file)
        if not public_key_file.is_file():
            raise DataError(f"{public_key_file}: no such public key file")
        data = read_bounded(public_key_file.resolve(), MAX_KEY_BYTES)
        public = parse_public_key(data, str(public_key_file))  # type: ignore[arg-type]
        kid = key_id(public)
        if self._path(kid, revoked=True).exists() and not reinstate:
            raise DataError(f"{public_key_file}: key {kid} was revoked; trusting it again takes --reinstate "
                            "(only if the key was never compromised)")
        write_with_mode(self._path(kid), _public_pem(public), 0o644)
        self._path(kid, revoked=True).unlink(missing_ok=True)
        return kid

    def revoke(self, kid: str) -> Path:
        """Stop trusting key ``kid``: its file moves to ``revoked/``, and packages it signs are refused."""
        path = self._path(kid)
        if not path.is_file():
            known = ", ".join(self.trusted()) or "none"
            raise DataError(f"key {kid} is not trusted here (trusted: {known})")
        target = self._path(kid, revoked=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        return target

    def public_key(self, kid: str, where: str) -> Ed25519PublicKey:
        if self._path(kid, revoked=True).exists():
            raise UntrustedPackage(f"{where}: signed by key {kid}, which was revoked")
        path = self._path(kid)
        if not path.is_file():
            known = ", ".join(self.trusted()) or "none"
            raise UntrustedPackage(f"{where}: signed by key {kid}, which the cloud does not trust (trusted: {known}; "
                                   "add an edge's public key with syndiag head trust)")
        public = parse_public_key(read_bounded(path, MAX_KEY_BYTES), str(path))  # type: ignore[arg-type]
        if key_id(public) != kid:
            raise DataError(f"{path}: holds key {key_id(public)}, not {kid}; re-add it with syndiag head trust")
        return public

    def verify(self, files: PackageFiles, where: str) -> str:
        """The key id that signed ``files``; :class:`UntrustedPackage` when unsigned, untrusted or altered."""
        if files.signature is None:
            raise UntrustedPackage(f"{where}: unsigned package (no {SIGNATURE}); the cloud takes only packages signed by a "
                                   "trusted edge key (syndiag head export --key), unless update.require_signed is false")
        record = read_signature(files.signature, where)
        public = self.public_key(record.key_id, where)
        for name, data in ((HEAD_META, files.meta), (HEAD_WEIGHTS, files.weights)):
            if hashlib.sha256(data).hexdigest() != record.sha256[name]:
                raise UntrustedPackage(f"{where}: {name} changed after signing (its sha256 differs from the signed one)")
        try:
            public.verify(base64.b64decode(record.signature, validate=True), signed_message(files.meta, files.weights))
        except (InvalidSignature, binascii.Error, ValueError):
            raise UntrustedPackage(f"{where}: the signature does not verify with key {record.key_id}: "
                                   f"{SIGNATURE} was altered or not made by that key") from None
        return record.key_id
