import numpy as np
import pytest
import torch

from syndiag.config import BaselineTrainConfig
from syndiag.errors import ConfigError, DataError
from syndiag.models.baselines import (
    EnvelopeSpectrumClassifier,
    ImageBaselineConfig,
    LogSpectrumNearestNeighbour,
    VisualPrototypes,
    build_image_baseline,
    envelope_frequencies,
    envelope_spectrum,
)
from syndiag.models.visual_extractor import VisualExtractor
from syndiag.training.baselines import predict_images, train_image_baseline

FS = 12000.0
LENGTH = 2048
TINY = {
    "cnn": dict(name="cnn", image_size=32, cnn_widths=[8, 16, 32]),
    "resnet50": dict(name="resnet50", image_size=32, resnet_depths=[1, 1], resnet_hidden_sizes=[16, 32], resnet_embedding_size=8),
    "vit": dict(name="vit", image_size=32, vit_patch_size=8, vit_hidden_size=16, vit_layers=1, vit_heads=2, vit_intermediate_size=32),
}


def modulated(n, modulation_hz, channels=1, noise=0.0, seed=0, carrier=(3000.0, 3000.0)):
    """A carrier (uniform in ``carrier`` Hz per window) amplitude-modulated at ``modulation_hz``, random phases, plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH) / FS
    phases = rng.uniform(0, 2 * np.pi, (n, channels, 2, 1))
    frequency = rng.uniform(*carrier, (n, 1, 1))
    signal = (1 + 0.8 * np.cos(2 * np.pi * modulation_hz * t + phases[:, :, 0])) * np.cos(2 * np.pi * frequency * t + phases[:, :, 1])
    return signal + noise * rng.standard_normal(signal.shape)


class StripeImages:
    """Fake prepared dataset: class c is a bright horizontal band 6 c + 4 rows high at a random height, on noise."""

    def __init__(self, per_class=8, classes=3, size=32, seed=0):
        rng = np.random.default_rng(seed)
        self.labels = np.repeat(np.arange(classes), per_class)
        self.images = rng.integers(0, 60, (len(self.labels), size, size, 3), dtype=np.uint8)
        for image, label in zip(self.images, self.labels):
            height = 6 * label + 4
            top = rng.integers(0, size - height + 1)
            image[top : top + height] = rng.integers(200, 256, (height, size, 3), dtype=np.uint8)

    def rgb(self, indices):
        return self.images[indices]


def test_envelope_spectrum_peaks_at_the_modulation_frequency():
    windows = modulated(2, 120.0, channels=2)
    features = envelope_spectrum(windows, FS, max_hz=1000.0)
    frequencies = envelope_frequencies(LENGTH, FS, 1000.0)
    assert frequencies[0] > 0 and frequencies[-1] <= 1000.0 < frequencies[-1] + FS / LENGTH
    assert features.shape == (2, 2 * len(frequencies))
    for channel in features.reshape(2, 2, -1).reshape(4, -1):
        assert abs(frequencies[channel.argmax()] - 120.0) <= FS / LENGTH / 2
    assert envelope_spectrum(windows, FS, max_hz=500.0).shape[1] < features.shape[1]


def test_band_energies_are_appended_per_channel_and_locate_the_carrier():
    windows = modulated(1, 120.0, channels=2)
    bins = len(envelope_frequencies(LENGTH, FS, 1000.0))
    features = envelope_spectrum(windows, FS, max_hz=1000.0, bands=4).reshape(2, bins + 4)
    assert (features[:, bins:].argmax(-1) == 2).all()  # 3 kHz of 0-6 kHz lies in the third band
    with pytest.raises(ConfigError, match="max_hz"):
        envelope_spectrum(windows, FS, max_hz=1.0)


@pytest.mark.parametrize("kind", ["knn", "svm"])
def test_envelope_classifier_separates_modulation_frequencies_whatever_the_carrier(kind):
    rates = [70.0, 110.0, 160.0]
    train = np.concatenate([modulated(10, f, noise=0.2, seed=i, carrier=(2000, 4000)) for i, f in enumerate(rates)])
    test = np.concatenate([modulated(10, f, noise=0.2, seed=10 + i, carrier=(2000, 4000)) for i, f in enumerate(rates)])
    labels = np.repeat([0, 1, 2], 10)
    classifier = EnvelopeSpectrumClassifier(kind, fs=FS, max_hz=250.0).fit(train, labels)
    assert (classifier.predict(test) == labels).mean() >= 0.9
    raw = LogSpectrumNearestNeighbour().fit(train, labels)
    assert (raw.predict(test) == labels).mean() <= 0.6


def test_unknown_envelope_classifier_kind_is_a_config_error():
    with pytest.raises(ConfigError, match="kind.*forest"):
        EnvelopeSpectrumClassifier("forest", fs=FS)


@pytest.mark.parametrize("name", ["cnn", "resnet50", "vit"])
def test_image_baselines_give_finite_logits_and_resize_their_input(name):
    torch.manual_seed(0)
    model = build_image_baseline(ImageBaselineConfig(**TINY[name]), n_classes=5).eval()
    for height, width in [(32, 32), (40, 48)]:
        images = torch.randint(0, 256, (2, height, width, 3), dtype=torch.uint8)
        assert model.pixels(images).shape == (2, 3, 32, 32)
        logits = model(images)
        assert logits.shape == (2, 5) and torch.isfinite(logits).all()


@pytest.mark.parametrize("name, expected", [("resnet50", 23_508_032 + 2048 * 19 + 19), ("vit", 85_798_656 + 768 * 19 + 19)])
def test_default_image_baselines_have_the_published_sizes(name, expected):
    with torch.device("meta"):
        model = build_image_baseline({"name": name}, n_classes=19)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(expected, rel=0.01)


def test_unknown_image_baseline_is_a_config_error_naming_the_field():
    with pytest.raises(ConfigError, match="name"):
        build_image_baseline({"name": "lenet"}, n_classes=3)
    with pytest.raises(ConfigError, match="vit_heads"):
        ImageBaselineConfig.from_dict({"name": "vit", "vit_hidden_size": 10, "vit_heads": 3})
    with pytest.raises(ConfigError, match="n_classes"):
        build_image_baseline(TINY["cnn"], n_classes=1)


def test_image_baseline_learns_the_pool_then_the_support_set():
    data = StripeImages(per_class=12)
    position = np.arange(len(data.labels)) % 12
    pool, support, held_out = np.flatnonzero(position < 8), np.flatnonzero(position == 8), np.flatnonzero(position > 8)
    torch.manual_seed(0)
    model = build_image_baseline(TINY["cnn"], n_classes=3)
    config = BaselineTrainConfig(pretrain_epochs=20, finetune_epochs=10, lr=1e-2, finetune_lr=1e-3, batch_size=6, finetune_batch_size=3)
    seen = []
    result = train_image_baseline(model, data, pool, support, config, seed=0, progress=lambda step, total, loss: seen.append((step, total)))
    assert result.pretrain_losses[-1] < 0.2 * result.pretrain_losses[0]
    assert result.steps == 20 * 4 + 10 * 1 == len(seen) and seen[-1] == (result.steps, result.steps)
    assert not model.training
    assert (predict_images(model, data, support, batch_size=4) == data.labels[support]).all()
    assert (predict_images(model, data, held_out, batch_size=4) == data.labels[held_out]).mean() >= 0.8
    torch.manual_seed(0)
    replay = build_image_baseline(TINY["cnn"], n_classes=3)
    assert train_image_baseline(replay, data, pool, support, config, seed=0).finetune_losses == result.finetune_losses


def test_min_steps_lengthens_fine_tuning_and_pretraining_can_be_skipped():
    data = StripeImages(per_class=2)
    support = np.arange(len(data.labels))
    config = BaselineTrainConfig(pretrain_epochs=0, finetune_epochs=2, finetune_batch_size=4, min_steps=7)
    model = build_image_baseline(dict(TINY["cnn"], cnn_widths=[8]), n_classes=3)
    result = train_image_baseline(model, data, np.arange(len(data.labels)), support, config, seed=0)
    assert result.pretrain_losses == [] and result.finetune_steps == result.steps == 8
    assert len(result.finetune_losses) == 4
    short = train_image_baseline(model, data, np.array([], dtype=int), support, config.model_copy(update={"min_steps": 0}), seed=0)
    assert short.steps == 4


def colour_images(labels, seed=0):
    """Class c is a solid colour (red, green, blue) with +-20 of noise: (n, 32, 32, 3) uint8."""
    colours = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200]])
    noise = np.random.default_rng(seed).integers(-20, 21, (len(labels), 32, 32, 3))
    return np.clip(colours[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)


def test_visual_prototypes_classify_by_the_nearest_class_mean_and_need_every_class():
    labels = np.repeat([0, 1, 2], 3)
    support, queries = colour_images(labels, seed=0), colour_images(labels, seed=1)
    torch.manual_seed(0)
    prototypes = VisualPrototypes(VisualExtractor(16, [8, 16], grid=2, stem_stride=4), temperature=10.0).fit(support, labels)
    assert torch.allclose(prototypes.prototypes.norm(dim=1), torch.ones(3))
    assert (prototypes.predict(support) == labels).all() and (prototypes.predict(queries) == labels).all()
    logits = prototypes(torch.from_numpy(queries))
    assert logits.shape == (9, 3) and logits.abs().max() <= 10.0 + 1e-4
    logits.sum().backward()
    grad = prototypes.extractor.projection.weight.grad
    assert grad is not None and grad.abs().sum() > 0  # the queries' logits train the extractor
    with pytest.raises(DataError, match=r"class\(es\) \[1\]"):
        prototypes.fit(support[labels != 1], labels[labels != 1])
    with pytest.raises(DataError, match=r"\[3\]"):
        prototypes.fit(support, labels, n_classes=4)
