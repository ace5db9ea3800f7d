"""Signed head packages: keys, the cloud's trusted set, and packages unsigned, foreign, revoked or altered after signing."""

import json
import os
import stat

import pytest
from torch import nn

from syndiag.errors import DataError
from syndiag.registry.package import HeadPackage, PackageFiles
from syndiag.registry.signing import (
    TrustStore,
    UntrustedPackage,
    generate_key,
    load_private_key,
    sign,
)

NAMES = ["normal", "IR", "OR"]
PROMPTS = ["normal operation", "inner race fault", "outer race fault"]


def signed_package(folder, key_file):
    package = HeadPackage.from_head(nn.Linear(8, 3), version="v0001", parent="v0000", class_names=NAMES, prompts=PROMPTS,
                                    backbones={"cloud": "t", "edge": "s"}, metrics={"accuracy": 0.5})
    return sign(package.to_files(), load_private_key(key_file)).write(folder)


@pytest.fixture
def edge(tmp_path):
    keys = generate_key(tmp_path / "edge-keys")
    store = TrustStore(tmp_path / "heads" / "trusted")
    return keys, store


def test_keygen_writes_a_private_key_only_its_owner_reads(edge):
    keys, _ = edge
    assert stat.S_IMODE(os.stat(keys.private).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(keys.public).st_mode) == 0o644
    assert keys.private.name == f"{keys.key_id}.key" and len(keys.key_id) == 16
    assert b"PRIVATE KEY" in keys.private.read_bytes() and b"PUBLIC KEY" in keys.public.read_bytes()


def test_keygen_never_overwrites_a_key(edge, monkeypatch):
    keys, _ = edge
    from syndiag.registry import signing

    same = load_private_key(keys.private)
    monkeypatch.setattr(signing, "Ed25519PrivateKey", type("Fixed", (), {"generate": staticmethod(lambda: same)}))
    before = keys.private.read_bytes()
    with pytest.raises(DataError, match="never overwritten"):
        generate_key(keys.private.parent)
    assert keys.private.read_bytes() == before


def test_a_private_key_readable_by_others_is_refused(edge):
    keys, _ = edge
    os.chmod(keys.private, 0o644)
    with pytest.raises(DataError, match="readable by other users"):
        load_private_key(keys.private)
    with pytest.raises(DataError, match="not an unencrypted PEM private key"):
        os.chmod(keys.public, 0o600)
        load_private_key(keys.public)


def test_a_package_signed_by_a_trusted_key_verifies(edge, tmp_path):
    keys, store = edge
    assert store.trust(keys.public) == keys.key_id and store.trusted() == [keys.key_id]
    folder = signed_package(tmp_path / "pkg", keys.private)
    record = json.loads((folder / "signature.json").read_text())
    assert record["key_id"] == keys.key_id and record["algorithm"] == "ed25519"
    assert store.verify(PackageFiles.read(folder), "pkg") == keys.key_id


def test_unsigned_packages_are_refused(edge, tmp_path):
    keys, store = edge
    store.trust(keys.public)
    folder = signed_package(tmp_path / "pkg", keys.private)
    (folder / "signature.json").unlink()
    with pytest.raises(UntrustedPackage, match="unsigned package"):
        store.verify(PackageFiles.read(folder), "pkg")


def test_packages_signed_by_an_unknown_key_are_refused(edge, tmp_path):
    keys, store = edge
    store.trust(keys.public)
    stranger = generate_key(tmp_path / "stranger")
    folder = signed_package(tmp_path / "pkg", stranger.private)
    with pytest.raises(UntrustedPackage, match=f"signed by key {stranger.key_id}, which the cloud does not trust"):
        store.verify(PackageFiles.read(folder), "pkg")


@pytest.mark.parametrize("name,spoil,problem", [
    ("head.safetensors", lambda b: b[:-1] + bytes([b[-1] ^ 1]), "head.safetensors changed after signing"),
    ("head.json", lambda b: b.replace(b'"accuracy": 0.5', b'"accuracy": 0.9'), "head.json changed after signing"),
    ("signature.json", lambda b: json.dumps({**json.loads(b), "signature": "A" * 86 + "=="}).encode(), "does not verify"),
])
def test_packages_altered_after_signing_are_refused(edge, tmp_path, name, spoil, problem):
    keys, store = edge
    store.trust(keys.public)
    folder = signed_package(tmp_path / "pkg", keys.private)
    (folder / name).write_bytes(spoil((folder / name).read_bytes()))
    with pytest.raises(UntrustedPackage, match=problem):
        store.verify(PackageFiles.read(folder), "pkg")


def test_digests_rewritten_to_match_altered_files_do_not_verify(edge, tmp_path):
    keys, store = edge
    store.trust(keys.public)
    folder = signed_package(tmp_path / "pkg", keys.private)
    files = PackageFiles.read(folder)
    forged = PackageFiles(files.meta.replace(b'"accuracy": 0.5', b'"accuracy": 0.9'), files.weights)
    record = json.loads(files.signature)
    record["sha256"] = json.loads(sign(forged, load_private_key(generate_key(tmp_path / "other").private)).signature)["sha256"]
    with pytest.raises(UntrustedPackage, match="does not verify"):
        store.verify(PackageFiles(forged.meta, forged.weights, json.dumps(record).encode()), "pkg")


def test_rotation_trust_a_new_key_and_revoke_the_old(edge, tmp_path):
    old, store = edge
    store.trust(old.public)
    before = signed_package(tmp_path / "before", old.private)
    new = generate_key(tmp_path / "edge-keys")
    store.trust(new.public)
    store.revoke(old.key_id)
    assert store.trusted() == [new.key_id] and store.revoked() == [old.key_id]
    with pytest.raises(UntrustedPackage, match=f"signed by key {old.key_id}, which was revoked"):
        store.verify(PackageFiles.read(before), "before")
    assert store.verify(PackageFiles.read(signed_package(tmp_path / "after", new.private)), "after") == new.key_id
    with pytest.raises(DataError, match="is not trusted here"):
        store.revoke(old.key_id)


@pytest.mark.parametrize("kid", ["../../etc/passwd", "0123", "ABCDEF0123456789", ""])
def test_key_ids_are_checked_before_they_become_paths(edge, kid):
    _, store = edge
    with pytest.raises(DataError, match="is not a key id"):
        store.revoke(kid)


@pytest.mark.parametrize("content,problem", [
    (b"not json", "not valid JSON"), (b"[]", "must hold a JSON object"),
    (b'{"format": "syndiag-head-signature-v1"}', "invalid: algorithm: Field required"),
])
def test_malformed_signature_files_are_errors(edge, tmp_path, content, problem):
    keys, store = edge
    folder = signed_package(tmp_path / "pkg", keys.private)
    (folder / "signature.json").write_bytes(content)
    with pytest.raises(DataError, match=problem):
        store.verify(PackageFiles.read(folder), "pkg")


def test_a_public_key_that_is_not_ed25519_cannot_be_trusted(edge, tmp_path):
    _, store = edge
    (tmp_path / "bad.pub").write_text("hello")
    with pytest.raises(DataError, match="not a PEM public key"):
        store.trust(tmp_path / "bad.pub")
    with pytest.raises(DataError, match="no such public key file"):
        store.trust(tmp_path / "missing.pub")


@pytest.mark.parametrize("require_signed", [True, False])
def test_the_cloud_takes_unsigned_packages_only_when_its_config_allows(edge, tmp_path, require_signed):
    from syndiag.config.run import RunConfig
    from syndiag.workflows.collaboration import read_head_package, trust_key

    keys, _ = edge
    config = RunConfig.from_dict({"output_dir": str(tmp_path / "run"), "update": {"require_signed": require_signed}}, source="test")
    unsigned = HeadPackage.from_head(nn.Linear(8, 3), version="v0001", parent="v0000", class_names=NAMES, prompts=PROMPTS,
                                     backbones={}, metrics={}).save(tmp_path / "unsigned")
    foreign = signed_package(tmp_path / "foreign", keys.private)
    if require_signed:
        with pytest.raises(UntrustedPackage, match="unsigned package"):
            read_head_package(config, unsigned)
    else:
        package, signer = read_head_package(config, unsigned)
        assert signer is None and package.meta["version"] == "v0001"
    with pytest.raises(UntrustedPackage, match="does not trust"):  # a signature present is always checked
        read_head_package(config, foreign)
    assert trust_key(config, keys.public) == keys.key_id
    assert read_head_package(config, foreign)[1] == keys.key_id
    assert (tmp_path / "run" / "heads" / "trusted" / f"{keys.key_id}.pub").is_file()
