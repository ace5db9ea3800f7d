"""The open-set scores on the discriminant spectrum path (issue 30): fitted on known classes of real CWRU windows at
several loads, they score a held-out fault family above the known classes; the healthy recalibration's two ways."""

from __future__ import annotations

import numpy as np
import pytest

from syndiag.data.openset_splits import family_split
from syndiag.data.windowing import POOL
from syndiag.errors import DataError
from syndiag.models.openset import auroc
from syndiag.models.openset_spectral import NOVELTY_SCORES, SpectralNovelty, recalibrated
from syndiag.models.spectral_discriminant import SpectralDiscriminant
from syndiag.models.spectrum_view import SpectrumGrid, spectrum_view


@pytest.fixture(scope="module")
def cwru_dataset(shared_data):
    """Real CWRU windows of the cpu recipe: 19 classes at four loads, both channels."""
    from syndiag.config import RunConfig
    from syndiag.data.prepare import prepare

    data = prepare(RunConfig.from_yaml("syndiag/cpu", {"data.data_root": str(shared_data)}).data)
    keep = np.flatnonzero(np.isin(data.conditions, [data.condition_names.index(c) for c in ("1730rpm", "1797rpm")]))[::4]
    return data, keep


def _views(cwru_dataset):
    """Spectrum views, labels and train/test split of every 4th window at 3 and 0 HP."""
    data, keep = cwru_dataset
    windows = np.asarray(data.windows[keep])
    views = spectrum_view(windows, data.fs, SpectrumGrid.for_windows(data.fs, windows.shape[-1]))
    return views, np.asarray(data.labels)[keep], np.asarray(data.split)[keep] == POOL


def test_held_out_class_scores_above_known_ones(cwru_dataset):
    views, labels, train = _views(cwru_dataset)
    known = ~np.isin(labels, family_split(list(cwru_dataset[0].class_names), "ball")[1])
    fit, held = np.flatnonzero(known & train), np.flatnonzero(known & ~train)
    discriminant = SpectralDiscriminant.fit(views[fit], labels[fit], 20)
    novelty = SpectralNovelty.fit(discriminant, views[fit], labels[fit], healthy=0)
    scores = novelty.scores(views[np.r_[held, np.flatnonzero(~known)]])
    for name in NOVELTY_SCORES:
        assert scores[name].shape == (held.size + int((~known).sum()),)
        assert auroc(scores[name][: held.size], scores[name][held.size:]) > 0.99, name


def test_recalibration_raises_threshold_or_moves_views(cwru_dataset):
    views, labels, _ = _views(cwru_dataset)
    discriminant = SpectralDiscriminant.fit(views, labels, 20)
    novelty = SpectralNovelty.fit(discriminant, views, labels, healthy=0)
    healthy = views[labels == 0]
    plain, none = recalibrated(novelty, "lda-mahalanobis", "none", views, None, 0.01)
    assert none is None
    moved = healthy + 3.0  # a healthy machine whose every band is 3 log units up
    raised, _ = recalibrated(novelty, "lda-mahalanobis", "threshold", views, moved, 0.01)
    assert raised >= plain
    same, offset = recalibrated(novelty, "spectrum-mahalanobis", "recentre", views, moved, 0.01)
    np.testing.assert_allclose(offset, 3.0 + healthy.mean(0) - novelty.healthy_view, atol=1e-9)
    assert np.median(novelty.scores(moved, ("spectrum-mahalanobis",), offset)["spectrum-mahalanobis"]) <= same
    with pytest.raises(DataError, match="healthy windows"):
        recalibrated(novelty, "lda-mahalanobis", "threshold", views, None, 0.01)
    with pytest.raises(DataError, match=r"\(n, "):
        novelty.offset(healthy[:, :10])
