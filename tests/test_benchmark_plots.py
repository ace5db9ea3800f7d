from syndiag.config.benchmark import METHODS
from syndiag.evaluation.benchmark_plots import FAMILIES, family_of, method_styles, plot_accuracy_vs_k


def test_every_method_has_its_own_colour_and_marker_and_families_share_a_hue():
    methods = [*METHODS, *(f"{m} +noise" for m in ("Syn-Diag-Cloud", "prototypes", "CNN", "log-spectrum-1NN"))]
    styles = method_styles(methods)
    pairs = [(tuple(round(c, 4) for c in s["color"]), s["marker"]) for s in styles.values()]
    assert len(set(pairs)) == len(methods)
    assert FAMILIES[family_of("Syn-Diag w/o LoRA")][0] == FAMILIES[family_of("Syn-Diag-Cloud")][0] == "Syn-Diag"
    assert family_of("Sensor-model") != family_of("Syn-Diag-Cloud") and family_of("CNN +noise") == family_of("ResNet-50")


def test_the_figure_has_a_zoomed_panel(tmp_path):
    summary = {("1730rpm", "1730rpm", k, m): {"mean": v, "std": 0.01} for k in (1, 5) for m, v in (("CNN", 0.7), ("prototypes", 0.98))}
    path = plot_accuracy_vs_k(summary, "1730rpm", ["CNN", "prototypes"], [1, 5], tmp_path / "a.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
