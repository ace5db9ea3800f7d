import json

import numpy as np
import pytest
import torch
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
