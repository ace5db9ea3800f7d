"""Open-set scores on constructed logits and features with a known answer; threshold calibration; AUROC and FPR."""

import numpy as np
import pytest

from syndiag.errors import ConfigError, DataError
from syndiag.models.openset import (
    KnnDistance,
    Mahalanobis,
    auroc,
    calibrate_threshold,
    energy_score,
    fpr_at_tpr,
    msp_score,
    open_scores,
)


def test_msp_and_energy_rank_a_confident_window_below_an_unsure_one():
    logits = np.array([[10.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    assert msp_score(logits) == pytest.approx([1 - 1 / (1 + 2 * np.exp(-10)), 2 / 3])
    energy = energy_score(logits)
    assert energy[0] == pytest.approx(-(10 + np.log(1 + 2 * np.exp(-10))))
    assert energy[1] == pytest.approx(-(1 + np.log(3)))
    assert energy[0] < energy[1]
    assert energy_score(np.array([[1000.0, 0.0]]))[0] == pytest.approx(-1000.0)  # no overflow


def test_mahalanobis_uses_the_shared_covariance():
    rng = np.random.default_rng(0)
    # two classes stretched along x: a point far along x is nearer (in Mahalanobis terms) than one slightly off in y
    a = rng.normal([0, 0], [5.0, 0.1], (400, 2))
    b = rng.normal([0, 3], [5.0, 0.1], (400, 2))
    scorer = Mahalanobis().fit(np.vstack([a, b]), np.r_[np.zeros(400), np.ones(400)])
    along, across = scorer.score(np.array([[8.0, 0.0], [0.0, 1.5]]))
    assert along < across
    assert scorer.means.shape == (2, 2)
    with pytest.raises(DataError, match="dimension 3"):
        scorer.score(np.zeros((1, 3)))


def test_knn_distance_is_the_distance_to_the_kth_nearest_normalised_support():
    support = np.array([[1.0, 0.0], [0.0, 2.0]])
    scorer = KnnDistance(k=1).fit(support)
    assert scorer.score(np.array([[3.0, 0.0], [-1.0, 0.0]])) == pytest.approx([0.0, np.sqrt(2.0)])  # (-1, 0): nearer (0, 1) than (1, 0)
    assert KnnDistance(k=2).fit(support).score(np.array([[1.0, 0.0]])) == pytest.approx([np.sqrt(2.0)])
    with pytest.raises(DataError, match="at least 3"):
        KnnDistance(k=3).fit(support)


def test_a_threshold_flags_at_most_the_false_alarm_rate_of_known_windows():
    known = np.arange(1.0, 200.0)  # 199 scores: rank ceil(200 * 0.99) = 198
    threshold = calibrate_threshold(known, 0.01)
    assert threshold == 198.0
    assert (known > threshold).mean() <= 0.01
    rng = np.random.default_rng(1)
    calibration, fresh = rng.normal(size=2000), rng.normal(size=20000)
    assert (fresh > calibrate_threshold(calibration, 0.05)).mean() == pytest.approx(0.05, abs=0.015)
    with pytest.raises(ConfigError, match="false_alarm"):
        calibrate_threshold(known, 0.0)
    with pytest.raises(DataError, match="finite"):
        calibrate_threshold([np.nan], 0.01)


def test_auroc_and_fpr_at_95_tpr_by_hand():
    assert auroc([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert auroc([2.0, 3.0], [0.0, 1.0]) == 0.0
    assert auroc([0.0, 2.0], [1.0, 3.0]) == pytest.approx(0.75)
    assert auroc([1.0], [1.0]) == 0.5
    assert fpr_at_tpr(np.arange(10.0), np.arange(5.0, 105.0), 0.95) == pytest.approx(0.0)
    assert fpr_at_tpr(np.arange(10.0), np.arange(0.0, 100.0), 0.95) == pytest.approx(0.5)


def test_unknown_scores_and_missing_scorers_are_named():
    with pytest.raises(ConfigError, match="unknown open-set score 'odin'"):
        open_scores("odin", logits=np.zeros((1, 2)))
    with pytest.raises(ConfigError, match="needs a scorer"):
        open_scores("knn", features=np.zeros((1, 2)))
    with pytest.raises(DataError, match="finite"):
        msp_score(np.array([[np.nan, 0.0]]))


def test_leave_one_family_out_splits_hold_the_family_out_of_support_and_calibration(tmp_path):
    from conftest import small_config

    from syndiag.data.openset_splits import family_split, openset_task
    from syndiag.data.prepare import prepare

    names = ["normal", "DE_IR007", "DE_B007", "DE_B021", "FE_B014", "FE_OR021"]
    assert family_split(names, "ball") == ((0, 1, 5), (2, 3, 4))
    assert family_split(names, "fan-end") == ((0, 1, 2, 3), (4, 5))
    assert family_split(names, "diameter-021") == ((0, 1, 2, 4), (3, 5))
    with pytest.raises(ConfigError, match="unknown class family 'gear'"):
        family_split(names, "gear")
    with pytest.raises(ConfigError, match="holds none"):
        family_split(["normal", "DE_IR007"], "ball")
    with pytest.raises(ConfigError, match="leaves 1 known"):
        family_split(["normal", "FE_B007"], "fan-end")
    dataset = prepare(small_config(tmp_path))
    task = openset_task(dataset, "ball", 2, 0, dataset.condition_names[0])
    labels = np.asarray(dataset.labels)
    assert not np.isin(labels[task.support], task.unknown).any() and not np.isin(labels[task.calibration], task.unknown).any()
    assert np.isin(labels[task.test], task.unknown).any() and not np.intersect1d(task.support, task.calibration).size
    assert set(np.unique(labels[task.support])) == set(task.known)


def test_open_set_accuracy_counts_known_right_and_unflagged_plus_unknown_flagged():
    from syndiag.evaluation.openset_report import openset_metrics

    found = openset_metrics(calibration_scores=np.arange(100.0), test_scores=np.array([1.0, 2.0, 500.0, 600.0, 3.0]),
                            predicted=np.array([0, 1, 0, 0, 0]), truth=np.array([0, 0, 0, 9, 9]),
                            unknown_mask=np.array([False, False, False, True, True]))
    # known: right+unflagged, wrong, right but flagged -> 1 of 3; unknown: flagged, missed -> 1 of 2
    assert found["open_accuracy"] == pytest.approx(2 / 5) and found["known_flagged"] == pytest.approx(1 / 3)
    assert found["unknown_flagged"] == 0.5 and found["known_accuracy"] == pytest.approx(2 / 3)


def test_a_class_view_renumbers_the_kept_classes_and_hides_the_others():
    import dataclasses

    from syndiag.data.openset_splits import class_view

    @dataclasses.dataclass
    class Data:
        labels: np.ndarray
        meta: dict

        @property
        def class_names(self):
            return [c["name"] for c in self.meta["classes"]]

    data = Data(np.array([0, 1, 2, 2, 1]), {"classes": [{"name": n, "prompt": n} for n in ("normal", "DE_B007", "FE_IR007")]})
    view = class_view(data, [2, 0])
    assert view.class_names == ["FE_IR007", "normal"] and view.labels.tolist() == [1, -1, 0, 0, -1] and data.labels.tolist() == [0, 1, 2, 2, 1]
    with pytest.raises(ConfigError, match="distinct indices"):
        class_view(data, [0, 0])


def test_zero_shot_splits_refuse_empty_twin_or_unknown_descriptions_and_too_few_seen_classes():
    from syndiag.data.openset_splits import zeroshot_classes

    names = ["normal", "DE_B014", "FE_B014"]
    prompts = ["normal operation", "ball fault at motor end with diameter 0.014 inches", "ball fault at fan end with diameter 0.014 inches"]
    seen, new, texts = zeroshot_classes(names + ["DE_IR007"], ["FE_B014"], {"FE_B014": " a new text "}, prompts + ["inner race fault"])
    assert seen == [0, 1, 3] and new == [2] and texts[2] == "a new text"
    with pytest.raises(ConfigError, match="FE_X not in the data"):
        zeroshot_classes(names, ["FE_X"], {}, prompts)
    with pytest.raises(ConfigError, match="is empty"):
        zeroshot_classes(names, ["FE_B014"], {"FE_B014": "  "}, prompts)
    with pytest.raises(ConfigError, match="identical to that of DE_B014"):
        zeroshot_classes(names, ["FE_B014"], {"FE_B014": "Ball fault at motor end with diameter 0.014 inches"}, prompts)
    with pytest.raises(ConfigError, match="not new classes"):
        zeroshot_classes(names, ["FE_B014"], {"normal": "x"}, prompts)
    with pytest.raises(ConfigError, match="leaves 1 seen class"):
        zeroshot_classes(names, ["FE_B014", "DE_B014"], {}, prompts)


def test_mahalanobis_with_one_window_per_class_falls_back_to_euclidean_distance():
    scorer = Mahalanobis().fit(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([0, 1]))
    assert scorer.score(np.array([[0.0, 1.0], [3.0, 0.0]])) == pytest.approx([1.0, 9.0], rel=1e-4)


def test_a_new_model_family_is_one_implementation_the_suite_scores_thresholds_and_records(tmp_path, monkeypatch):
    from conftest import small_config

    from syndiag.config.openset import OpenSetConfig
    from syndiag.config.run import RunConfig
    from syndiag.data.prepare import prepare
    from syndiag.workflows import openset
    from syndiag.workflows.unknown_models import Trained

    class Separable:
        """Known windows confident and near their class centre; held-out windows unsure and far from every centre."""

        text_sources = ("language-model",)

        def __init__(self):
            self.seen = []

        def material(self, config):
            return {}

        def train(self, setting, task):
            self.seen.append((setting.seed, setting.pretrained, list(setting.view.class_names)))
            labels = setting.view.labels
            rng = np.random.default_rng(0)

            def encode(indices):
                known = labels[indices] >= 0
                logits = np.where(known[:, None], 8.0 * np.eye(len(task.known))[np.maximum(labels[indices], 0)], 0.0)
                features = np.where(known[:, None], logits, -8.0) + rng.normal(0, 0.1, logits.shape)
                return logits, features

            return Trained(encode, 1.234)

        def zeroshot(self, setting, dataset, texts, text_source, windows):
            raise AssertionError("not used by the openset suite")

    family = Separable()
    monkeypatch.setitem(openset.METHODS, "separable", family)
    dataset = prepare(small_config(tmp_path))
    condition = dataset.condition_names[0]
    config = OpenSetConfig(shots=2, false_alarm=0.2)
    record = openset.openset_records(config, RunConfig(), dataset, "ball", 0, tmp_path / "pretrained", condition, condition, "separable")
    assert family.seen == [(0, tmp_path / "pretrained", record["known_classes"])]
    assert record["method"] == "separable" and record["train_seconds"] == 1.23 and all("B0" in c for c in record["unknown_classes"])
    for score in ("msp", "energy", "mahalanobis", "knn"):
        metrics = record["metrics"][score]
        assert metrics["auroc"] == 1.0 and metrics["unknown_flagged"] == 1.0 and metrics["known_accuracy"] == 1.0, (score, metrics)
        assert metrics["fpr_at_95_tpr"] == 0.0 and metrics["known_windows"] > 0 and metrics["unknown_windows"] > 0
