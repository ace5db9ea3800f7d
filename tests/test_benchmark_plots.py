import numpy as np
from figures import drawn, errorbar_series, record_figures

from syndiag.config.benchmark import METHODS
from syndiag.evaluation.benchmark_plots import FAMILIES, family_of, method_styles, plot_accuracy_vs_k


def test_every_method_has_its_own_colour_and_marker_and_families_share_a_hue():
    methods = [*METHODS, *(f"{m} +noise" for m in ("Syn-Diag-Cloud", "prototypes", "CNN", "log-spectrum-1NN"))]
    styles = method_styles(methods)
    pairs = [(tuple(round(c, 4) for c in s["color"]), s["marker"]) for s in styles.values()]
    assert len(set(pairs)) == len(methods)
    assert FAMILIES[family_of("Syn-Diag w/o LoRA")][0] == FAMILIES[family_of("Syn-Diag-Cloud")][0] == "Syn-Diag"
    assert family_of("Sensor-model") != family_of("Syn-Diag-Cloud") and family_of("CNN +noise") == family_of("ResNet-50")


def test_the_figure_draws_each_method_mean_and_spread_and_zooms_the_top_band(tmp_path, monkeypatch):
    saved = record_figures(monkeypatch)
    means = {("CNN", 1): 0.6, ("CNN", 5): 0.7, ("prototypes", 1): 0.97, ("prototypes", 5): 0.99}
    summary = {("1730rpm", "1730rpm", k, m): {"mean": v, "std": 0.01 * k} for (m, k), v in means.items()}
    summary[("1730rpm", "1730rpm", 1, "ViT-B/16")] = {"mean": 0.1, "std": 0.0}  # not asked for: not drawn
    path = plot_accuracy_vs_k(summary, "1730rpm", ["CNN", "prototypes"], [1, 5], tmp_path / "a.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    full, zoom = drawn(saved, "a.png").axes
    for ax in (full, zoom):
        series = errorbar_series(ax)
        assert sorted(series) == ["CNN", "prototypes"]
        for (method, (k, accuracy)), container in zip(series.items(), ax.containers):
            assert k.tolist() == [1, 5] and np.allclose(accuracy, [means[(method, 1)], means[(method, 5)]])
            (spread,) = container.lines[2]
            low_high = np.asarray(spread.get_segments())[:, :, 1]  # each K's bar: mean - std, mean + std
            assert np.allclose(low_high, [[means[(method, 1)] - 0.01, means[(method, 1)] + 0.01], [means[(method, 5)] - 0.05, means[(method, 5)] + 0.05]])
    assert zoom.get_ylim() == (0.95, 1.001) and full.get_ylabel() == "accuracy" and "1730rpm" in full.get_title()
