"""`rul fit` saves the learned family (sensor-regression) with the sensor model that computes its indicator; `rul predict`
reads a unit folder through that saved model and gets the indicator the fit computed in memory."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from test_rul import femto_like, recipe  # noqa: F401  (a fixture and the recipe of the FEMTO-like fleet)

from syndiag.config.rul import RulConfig
from syndiag.errors import DataError
from syndiag.workflows.rul import rul_predictor, run_rul_fit, run_rul_predict

TINY = {"model.num_layers": 1, "threads": 1, "align.epochs": 0, "finetune.shots": 1, "finetune.epochs": 1, "finetune.min_steps": 2,
        "femto.baseline_fraction": 0.2}


@pytest.fixture(scope="module")
def fitted(femto_like, tmp_path_factory):  # noqa: F811
    tmp_path = tmp_path_factory.mktemp("sensor-fit")
    data = json.loads(recipe(tmp_path, femto_like).read_text())
    data.update(model="sensor-regression", sensor_components=2, sensor_overrides=TINY, seeds=[3],
                grid={"sensor-regression": [{"history": 1, "alpha": 10.0}, {"history": 2, "alpha": 10.0, "shrink": 0.75}]})
    return run_rul_fit(RulConfig.from_dict(data)), tmp_path


@pytest.mark.slow
def test_rul_fit_saves_the_sensor_family_with_the_model_that_computes_its_indicator(fitted, femto_like):  # noqa: F811
    outcome, tmp_path = fitted
    folder = outcome.checkpoint
    config = json.loads((folder / "config.json").read_text())
    assert config["family"] == "sensor-regression" and config["indicator"] == "indicator" and config["seed"] == 3
    assert config["components"] == 2 and len(outcome.selection.tried) == 2
    assert json.loads((folder / "indicator" / "config.json").read_text())["model"] == "syndiag-sensor"
    assert set(load_file(folder / "model.safetensors")) >= {"indicator.pca_mean", "indicator.pca_components"}
    # the indicator trained on every learning bearing, none held out, and the folds of the selection besides it
    assert (tmp_path / "run" / "sensor-indicator" / "seed3" / "all" / "sensor-stages").is_dir()
    assert (tmp_path / "run" / "sensor-indicator" / "seed3" / "Bearing1_2" / "sensor-stages").is_dir()

    # a learning bearing read back through the saved sensor model gets the indicator the fit computed in memory
    predictor = rul_predictor(folder)
    learning = femto_like / "femto" / "Learning_set" / "Bearing1_2"
    from syndiag.prognostics.units import read_unit

    read = predictor.express(read_unit(learning, "test", predictor.bands), learning)
    in_memory = next(u for u in outcome.units if u.name == "Bearing1_2")
    assert read.features.names == in_memory.features.names == ["pc0", "pc1", "stage"]
    assert np.allclose(read.features.values, in_memory.features.values, atol=1e-4)

    prediction, _ = run_rul_predict(folder, femto_like / "femto" / "Test_set" / "Bearing1_3")
    assert prediction.unit == "Bearing1_3" and prediction.official == "Bearing1_3" and np.isfinite(prediction.rul_s)
    expected = predictor.saved.model.predict(predictor.express(read_unit(femto_like / "femto" / "Test_set" / "Bearing1_3", "test",
                                                                         predictor.bands), femto_like / "femto" / "Test_set" / "Bearing1_3"))
    assert prediction.rul_s == pytest.approx(expected.rul_s)


@pytest.mark.slow
def test_a_changed_indicator_model_is_refused_naming_its_file(fitted, femto_like, tmp_path):  # noqa: F811
    import shutil

    outcome, _ = fitted
    copy = tmp_path / "rul-model"
    shutil.copytree(outcome.checkpoint, copy)
    weights = next((copy / "indicator").glob("*.safetensors"))
    tensors = load_file(weights)
    name = next(iter(tensors))
    tensors[name] = tensors[name] + 1.0
    save_file(tensors, str(weights))
    with pytest.raises(DataError, match=str(copy / "indicator")):
        run_rul_predict(copy, femto_like / "femto" / "Test_set" / "Bearing1_3")


@pytest.mark.slow
def test_the_sensor_family_refuses_a_spec_folder_and_a_folder_without_speed(fitted, femto_like, tmp_path):  # noqa: F811
    import shutil

    outcome, _ = fitted
    with pytest.raises(Exception, match="--spec: .* reads its units through a sensor model trained on the FEMTO layout"):
        run_rul_predict(outcome.checkpoint, femto_like / "femto" / "Test_set" / "Bearing1_3", spec=tmp_path / "units.yaml")
    renamed = tmp_path / "pump-7"
    shutil.copytree(femto_like / "femto" / "Test_set" / "Bearing2_3", renamed)
    with pytest.raises(DataError, match=r"pump-7: no operating condition .*give the speed and load \(--rpm, --load\)"):
        run_rul_predict(outcome.checkpoint, renamed)
    named, png = run_rul_predict(outcome.checkpoint, renamed, tmp_path / "pump-7.png", rpm=1650.0, load_n=4200.0)
    assert named.unit == "pump-7" and named.condition == "1650rpm_4200N" and np.isfinite(named.rul_s)
    assert png is not None and png.stat().st_size > 10_000  # the health-indicator plot of the unit as read

    from typer.testing import CliRunner

    from syndiag.cli import app

    shown = CliRunner().invoke(app, ["rul", "predict", str(renamed), "--checkpoint", str(outcome.checkpoint), "--rpm", "1650", "--load", "4200",
                                     "--png", str(tmp_path / "cli.png"), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["rul_s"] == pytest.approx(named.rul_s)
