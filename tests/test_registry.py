import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from syndiag.errors import DataError
from syndiag.registry.heads import HeadPackage, HeadRegistry, class_list_hash

NAMES = ["normal", "IR", "OR"]
PROMPTS = ["normal operation", "inner race fault", "outer race fault"]


def buffer(seed=0, n=60):
    g = torch.Generator().manual_seed(seed)
    labels = np.arange(n) % 3
    centres = torch.eye(3, 8) * 4
    return centres[labels] + 0.3 * torch.randn(n, 8, generator=g), labels


def trained_head(features, labels, epochs=200):
    head = nn.Linear(8, 3)
    opt = torch.optim.SGD(head.parameters(), lr=0.5)
    for _ in range(epochs):
        loss = nn.functional.cross_entropy(head(features), torch.from_numpy(labels))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head


def package_of(head, version, parent, names=NAMES, prompts=PROMPTS):
    return HeadPackage.from_head(head, version=version, parent=parent, class_names=names, prompts=prompts,
                                 backbones={"cloud": "t", "edge": "s"}, metrics={"accuracy": 1.0})


@pytest.fixture
def cloud(tmp_path):
    features, labels = buffer()
    head = trained_head(features, labels, epochs=5)
    registry = HeadRegistry(tmp_path / "heads", NAMES, PROMPTS, tolerance=0.01)
    registry.register_initial(head, {"cloud": "t"}, {"accuracy": 0.0})
    return registry, head, features, labels


def test_a_better_head_is_accepted_swapped_in_and_kept(cloud, tmp_path):
    registry, head, features, labels = cloud
    better = trained_head(features, labels)
    package = package_of(better, registry.next_version(), registry.active)
    package.save(tmp_path / "outbox" / "v0001")
    decision = registry.submit(HeadPackage.load(tmp_path / "outbox" / "v0001"), head, features, labels)
    assert decision.accepted and decision.version == "v0001" and decision.accuracy_after >= decision.accuracy_before
    assert torch.equal(head.weight, better.weight) and registry.active == "v0001"
    assert [e["version"] for e in registry.history()] == ["v0000", "v0001"]
    meta = json.loads((registry.root / "v0001" / "head.json").read_text())
    assert meta["parent_version"] == "v0000" and meta["class_list_hash"] == class_list_hash(NAMES, PROMPTS)


@pytest.mark.parametrize("spoil,reason", [
    (lambda h: h.weight.data.__setitem__((0, 0), float("nan")), "NaN or Inf"),
    (lambda h: h.bias.data.fill_(float("inf")), "NaN or Inf"),
])
def test_non_finite_heads_are_refused_and_change_nothing(cloud, spoil, reason):
    registry, head, features, labels = cloud
    bad = trained_head(features, labels)
    spoil(bad)
    before = head.weight.clone()
    decision = registry.submit(package_of(bad, registry.next_version(), registry.active), head, features, labels)
    assert not decision.accepted and any(reason in r for r in decision.reasons)
    assert torch.equal(head.weight, before) and registry.active == "v0000" and not (registry.root / "v0001").exists()


def test_misshaped_foreign_stale_or_worse_heads_are_refused(cloud):
    registry, head, features, labels = cloud
    before = head.weight.clone()
    wide = nn.Linear(9, 3)
    decision = registry.submit(package_of(wide, "v0001", "v0000"), head, features, labels)
    assert not decision.accepted and "does not fit" in decision.reasons[0]
    foreign = package_of(trained_head(features, labels), "v0001", "v0000", prompts=["a", "b", "c"])
    assert "class list differs" in registry.submit(foreign, head, features, labels).reasons[0]
    stale = package_of(trained_head(features, labels), "v0001", "v0007")
    assert "active head is 'v0000'" in registry.submit(stale, head, features, labels).reasons[0]
    worse = nn.Linear(8, 3)
    with torch.no_grad():
        worse.weight.copy_(-head.weight * 5)
        worse.bias.zero_()
    good = trained_head(features, labels)
    registry.submit(package_of(good, "v0001", "v0000"), head, features, labels)
    decision = registry.submit(package_of(worse, "v0002", "v0001"), head, features, labels)
    assert not decision.accepted and "validation accuracy would fall" in decision.reasons[0]
    assert torch.equal(head.weight, good.weight)
    assert not torch.equal(head.weight, before)


def test_rollback_restores_identical_logits(cloud):
    registry, head, features, labels = cloud
    original = head(features).detach().clone()
    registry.submit(package_of(trained_head(features, labels), "v0001", "v0000"), head, features, labels)
    assert not torch.equal(head(features), original)
    registry.rollback("v0000", head)
    assert torch.equal(head(features).detach(), original)
    assert registry.active == "v0000" and registry.history()[-1]["status"] == "rollback"
    with pytest.raises(DataError, match="unknown head version 'v0042'"):
        registry.rollback("v0042", head)


def test_corrupt_packages_are_errors(tmp_path):
    folder = tmp_path / "p"
    package_of(nn.Linear(8, 3), "v0001", "v0000").save(folder)
    (folder / "head.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(DataError, match="corrupt head package"):
        HeadPackage.load(folder)
    with pytest.raises(DataError, match="not a head package"):
        HeadPackage.load(tmp_path / "nothing")
    with pytest.raises(DataError, match="never overwritten"):
        package_of(nn.Linear(8, 3), "v0001", "v0000").save(folder)


# --- untrusted packages: every field, every byte checked (issue 14) ---------------------------------------------

def write_raw(folder, meta, weight=None, bias=None):
    """A package folder written byte by byte, bypassing HeadPackage: what an attacker could send."""
    folder.mkdir(parents=True)
    (folder / "head.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    if weight is not None:
        save_file({"weight": weight, "bias": bias}, str(folder / "head.safetensors"))
    return folder


def good_meta(head, version="v0001", parent="v0000"):
    return dict(package_of(head, version, parent).meta)


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_version_that_climbs_out_of_the_registry_is_refused_and_nothing_is_written(cloud, tmp_path):
    registry, head, features, labels = cloud
    outside = tree(tmp_path)
    package = package_of(trained_head(features, labels), "v/../../../escaped", "v0000")
    decision = registry.submit(package, head, features, labels)
    assert not decision.accepted and any("version: String should match pattern" in r for r in decision.reasons)
    assert tree(tmp_path) == outside and not (tmp_path.parent / "escaped").exists()
    meta = good_meta(head, version="v/../../../escaped")
    with pytest.raises(DataError, match="version: String should match pattern"):
        HeadPackage.load(write_raw(tmp_path / "in", meta, head.weight.detach(), head.bias.detach()))


def test_a_version_folder_linked_outside_the_registry_is_refused(cloud, tmp_path):
    registry, head, features, labels = cloud
    (tmp_path / "elsewhere").mkdir()
    (registry.root / "v0001").symlink_to(tmp_path / "elsewhere")
    decision = registry.submit(package_of(trained_head(features, labels), "v0001", "v0000"), head, features, labels)
    assert not decision.accepted and any("resolves outside" in r for r in decision.reasons)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_class_names_contradicting_their_hash_or_sizes_are_refused(cloud):
    registry, head, features, labels = cloud
    package = package_of(trained_head(features, labels), "v0001", "v0000")
    package.meta["class_names"] = ["IR", "normal", "OR"]  # the cloud's hash, other names: stored wrong before
    decision = registry.submit(package, head, features, labels)
    assert not decision.accepted and "class_names differ" in decision.reasons[0]
    package.meta.update(class_names=NAMES, in_features=9)
    assert "in_features/n_classes 9/3" in registry.submit(package, head, features, labels).reasons[0]
    assert registry.active == "v0000" and not (registry.root / "v0001").exists()


def test_huge_or_malformed_metrics_are_refused(cloud, tmp_path):
    registry, head, features, labels = cloud
    big = write_raw(tmp_path / "big", {**good_meta(head), "metrics": {"note": "x" * 100_000}}, head.weight.detach(), head.bias.detach())
    with pytest.raises(DataError, match="more than the 65536 a head package allows"):
        HeadPackage.load(big)
    with open(big / "head.json", "r+b") as handle:  # 300 MB, sparse: refused from its size, never read
        handle.truncate(300 * 2**20)
    with pytest.raises(DataError, match="314572800 bytes"):
        HeadPackage.load(big)
    for metrics, problem in [({"note": "text"}, "metrics.note: Input should be a valid number"),
                             ({f"m{i}": 1.0 for i in range(33)}, "metrics: Dictionary should have at most 32 items"),
                             ({"nested": {"a": 1}}, "metrics.nested"), ({"a b/../c": 1.0}, "metrics.a b/../c")]:
        package = package_of(head, "v0001", "v0000")
        package.meta["metrics"] = metrics
        decision = registry.submit(package, head, features, labels)
        assert not decision.accepted and problem in decision.reasons[0], decision.reasons
    assert [e["version"] for e in registry.history()] == ["v0000"]


def test_huge_weights_are_refused_even_when_the_tolerance_allows_any_accuracy(tmp_path):
    features, labels = buffer()
    head = trained_head(features, labels, epochs=5)
    registry = HeadRegistry(tmp_path / "heads", NAMES, PROMPTS, tolerance=1.0)
    registry.register_initial(head, {"cloud": "t"}, {})
    huge = trained_head(features, labels)
    with torch.no_grad():
        huge.weight.mul_(1e30)
    decision = registry.submit(package_of(huge, "v0001", "v0000"), head, features, labels)
    assert not decision.accepted and any(r.startswith("magnitude check failed: max |w|") for r in decision.reasons)
    large = trained_head(features, labels)
    with torch.no_grad():
        large.weight.copy_(head.weight * 1000 / head.weight.abs().max())
    decision = registry.submit(package_of(large, "v0001", "v0000"), head, features, labels)
    assert not decision.accepted and decision.reasons[0].startswith("norm check failed")
    assert registry.active == "v0000"


@pytest.mark.parametrize("dtype,name", [(torch.float16, "F16"), (torch.int64, "I64"), (torch.float64, "F64")])
def test_weights_of_another_dtype_are_refused(cloud, tmp_path, dtype, name):
    registry, head, features, labels = cloud
    good = trained_head(features, labels)
    folder = write_raw(tmp_path / "p", good_meta(good), good.weight.detach().to(dtype), good.bias.detach().to(dtype))
    with pytest.raises(DataError, match=f"dtype check failed: 'weight' is '{name}'"):
        HeadPackage.load(folder)
    package = package_of(good, "v0001", "v0000")
    package.weight, package.bias = package.weight.to(dtype), package.bias.to(dtype)
    decision = registry.submit(package, head, features, labels)  # in memory: a reason, not a RuntimeError
    assert not decision.accepted and decision.reasons[0].startswith("dtype check failed")


def test_a_refused_first_import_writes_nothing_and_an_accepted_one_registers_v0000_with_it(tmp_path):
    features, labels = buffer()
    head = trained_head(features, labels, epochs=5)
    registry = HeadRegistry(tmp_path / "heads", NAMES, PROMPTS)
    bad = package_of(trained_head(features, labels), "v0001", "v0000", prompts=["a", "b", "c"])
    assert not registry.submit(bad, head, features, labels, initial_backbones={"cloud": "t"}).accepted
    assert not (tmp_path / "heads").exists()
    with pytest.raises(DataError, match="no head registered yet"):
        registry.submit(bad, head, features, labels)
    initial = head.weight.detach().clone()
    good = package_of(trained_head(features, labels), "v0001", "v0000")
    assert registry.submit(good, head, features, labels, initial_backbones={"cloud": "t"}, signer="0123456789abcdef").accepted
    assert [(e["version"], e["status"]) for e in registry.history()] == [("v0000", "initial"), ("v0001", "accepted")]
    assert registry.history()[1]["signed_by"] == "0123456789abcdef"
    assert torch.equal(HeadPackage.load(registry.root / "v0000").weight, initial)


@pytest.mark.parametrize("content,problem", [
    ("[1, 2, 3]", "must hold a JSON object, found list"),
    ("\"junk\"", "must hold a JSON object, found str"),
    ("{\"version\": NaN}", "not valid JSON"),
    ("\xff\xfe", "not valid JSON"),
    ("[" * 40_000 + "]" * 40_000, "more than the 65536"),
    ("[" * 30_000 + "]" * 30_000, "not valid JSON"),
])
def test_head_json_that_is_not_an_object_is_a_clear_error(tmp_path, content, problem):
    head = nn.Linear(8, 3)
    folder = write_raw(tmp_path / "p", content, head.weight.detach(), head.bias.detach())
    with pytest.raises(DataError, match=problem.replace("[", r"\[")):
        HeadPackage.load(folder)


def test_each_head_json_field_is_checked(tmp_path):
    head = nn.Linear(8, 3)
    for change, problem in [({"utc": "yesterday"}, "utc"), ({"utc": "2024-01-01T00:00:00"}, "UTC offset"),
                            ({"n_classes": 4}, "n_classes is 4 but class_names has 3"), ({"parent_version": "v0001"}, "own parent"),
                            ({"backbones": {"cloud": 1}}, "backbones.cloud"), ({"extra": 1}, "extra: Extra inputs"),
                            ({"class_list_hash": "../x"}, "class_list_hash"), ({"in_features": "8"}, "in_features")]:
        folder = write_raw(tmp_path / f"p{len(list(tmp_path.iterdir()))}", {**good_meta(head), **change}, head.weight.detach(), head.bias.detach())
        with pytest.raises(DataError, match="invalid head.json") as caught:
            HeadPackage.load(folder)
        assert problem in str(caught.value)
    folder = write_raw(tmp_path / "shape", good_meta(head), torch.zeros(3, 9), torch.zeros(3))
    with pytest.raises(DataError, match=r"shape check failed: 'weight' is \(3, 9\), head.json says \(3, 8\)"):
        HeadPackage.load(folder)


def test_head_json_is_a_versioned_description_and_an_older_one_is_refused_with_the_command(tmp_path):
    head = nn.Linear(8, 3)
    meta = good_meta(head)
    assert meta["model"] == "syndiag-head" and meta["format_version"] == 1 and meta["commit"] and len(meta["weights_sha256"]) == 64
    older = {k: v for k, v in meta.items() if k not in ("model", "format_version", "commit", "weights_sha256")}
    folder = write_raw(tmp_path / "old", older, head.weight.detach(), head.bias.detach())
    with pytest.raises(DataError, match=r"old/head\.json: records no 'model' kind: written by a syndiag older than versioned "
                                        r"descriptions .*make it again with `syndiag head export`"):
        HeadPackage.load(folder)
    folder = write_raw(tmp_path / "v2", {**meta, "format_version": 2}, head.weight.detach(), head.bias.detach())
    with pytest.raises(DataError, match=r"v2/head\.json: format_version 2: this syndiag reads version 1"):
        HeadPackage.load(folder)
    folder = write_raw(tmp_path / "bad", {**meta, "weights_sha256": "x"}, head.weight.detach(), head.bias.detach())
    with pytest.raises(DataError, match=r"bad/head\.json: invalid head\.json: weights_sha256: String should match pattern"):
        HeadPackage.load(folder)


def test_weights_that_are_not_the_ones_head_json_records_are_refused_naming_the_file(tmp_path):
    head = nn.Linear(8, 3)
    folder = write_raw(tmp_path / "p", good_meta(head), head.weight.detach() * 2, head.bias.detach())
    with pytest.raises(DataError, match=r"p/head\.safetensors: its sha256 does not match the weights_sha256 recorded in head\.json"):
        HeadPackage.load(folder)
