"""A RUL checkpoint is refused when either file changed after `syndiag rul fit`, when it predates the digests, and when a
value is out of range; each refusal names the file and the field (issue 27)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from syndiag.cli import app
from syndiag.digests import with_digest
from syndiag.errors import DataError
from syndiag.prognostics.intervals import ConformalIntervals
from syndiag.prognostics.rul_checkpoint import CONTENT_DIGEST, WEIGHTS_DIGEST, load_rul, save_rul
from syndiag.prognostics.rul_models import MeanResidualLife

runner = CliRunner()


@pytest.fixture
def checkpoint(tmp_path):
    model = MeanResidualLife(lives_s=np.array([3000.0, 4000.0, 5000.0]))
    return save_rul(tmp_path / "rul-model", "mean-residual-life", model, ConformalIntervals((-0.5, 0.0, 0.5)), [0.8], {"bands": 2})


def config_of(folder):
    return json.loads((folder / "config.json").read_text())


def rewrite(folder, config):
    (folder / "config.json").write_text(json.dumps(config, indent=2))


def test_the_checkpoint_records_both_digests_and_loads_as_saved(checkpoint):
    config = config_of(checkpoint)
    assert len(config[WEIGHTS_DIGEST]) == 64 and len(config[CONTENT_DIGEST]) == 64
    loaded = load_rul(checkpoint)
    assert loaded.model.lives_s.tolist() == [3000.0, 4000.0, 5000.0] and loaded.intervals.residuals == (-0.5, 0.0, 0.5)
    assert loaded.levels == [0.8] and loaded.meta == {"min_history": 1, "bands": 2}


def test_one_flipped_byte_of_the_weights_is_refused(checkpoint):
    weights = checkpoint / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x40  # inside the last float64 of lives_s: the file still parses, the lives change
    weights.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"model\.safetensors: its sha256 does not match the weights_sha256 recorded in "
                                        r"config\.json: the file was changed after `syndiag rul fit`"):
        load_rul(checkpoint)


def test_an_edited_residual_is_refused(checkpoint):
    config = config_of(checkpoint)
    config["residuals"][0] = 0.0
    rewrite(checkpoint, config)
    with pytest.raises(DataError, match=r"config\.json: its content does not match its content_sha256: the file was changed after "
                                        r"`syndiag rul fit`"):
        load_rul(checkpoint)


def test_a_checkpoint_without_digests_is_refused_and_names_the_refit(checkpoint):
    config = {k: v for k, v in config_of(checkpoint).items() if k not in (WEIGHTS_DIGEST, CONTENT_DIGEST)}
    rewrite(checkpoint, config)
    with pytest.raises(DataError, match=r"config\.json: records no content_sha256 .* make it again with `syndiag rul fit`"):
        load_rul(checkpoint)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("residuals", [0.1, float("nan")], r"residuals\[1\] is nan, not a finite number"),
    ("residuals", [], "residuals must be a non-empty list"),
    ("levels", [0.8, 1.0], r"levels must be a non-empty list of interval levels in \(0, 1\), got \[0.8, 1.0\]"),
    ("min_history", 0, "min_history must be a positive whole number, got 0"),
    ("min_history", 2, "min_history 2 is not the 1 of its settings"),
    ("bands", 1.5, "bands must be a positive whole number, got 1.5"),
    ("family", "arima", "family 'arima' is not a RUL model"),
])
def test_values_out_of_range_are_refused_even_with_a_matching_digest(checkpoint, field, value, message):
    rewrite(checkpoint, with_digest({**config_of(checkpoint), field: value}, CONTENT_DIGEST))
    with pytest.raises(DataError, match=rf"config\.json: {message}"):
        load_rul(checkpoint)


def test_a_weight_that_is_not_finite_is_refused_even_with_a_matching_digest(tmp_path):
    model = MeanResidualLife(lives_s=np.array([3000.0, np.inf]))
    folder = save_rul(tmp_path / "rul-model", "mean-residual-life", model, ConformalIntervals((0.0,)), [0.8])
    with pytest.raises(DataError, match=r"model\.safetensors: tensor lives_s holds a value that is not finite"):
        load_rul(folder)


def test_save_refuses_residuals_that_are_not_finite_and_writes_nothing(tmp_path):
    model = MeanResidualLife(lives_s=np.array([3000.0]))
    with pytest.raises(DataError, match=r"residuals\[0\] is inf"):
        save_rul(tmp_path / "rul-model", "mean-residual-life", model, ConformalIntervals((float("inf"),)), [0.8])
    assert not (tmp_path / "rul-model").exists()


def test_rul_predict_on_a_tampered_checkpoint_exits_2_with_an_error(checkpoint, tmp_path):
    config = config_of(checkpoint)
    config["levels"] = [0.5]
    rewrite(checkpoint, config)
    result = runner.invoke(app, ["rul", "predict", str(tmp_path), "--checkpoint", str(checkpoint)])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "changed after `syndiag rul fit`" in result.output and "Traceback" not in result.output


def test_the_checkpoint_names_its_model_kind_and_format_like_every_model_folder(checkpoint):
    from syndiag.errors import ConfigError
    from syndiag.models.meta import read_meta

    config = config_of(checkpoint)
    assert config["model"] == "syndiag-rul" and config["format_version"] == 1 and "kind" not in config
    with pytest.raises(ConfigError, match="read by `syndiag rul predict`"):
        read_meta(checkpoint)  # a diagnosis command given a RUL folder says which command reads it
    assert len(config["commit"]) >= 7
    rewrite(checkpoint, {**{k: v for k, v in config.items() if k != "model"}, "kind": "syndiag-rul"})
    with pytest.raises(DataError, match=r"config\.json: records no 'model' kind: written by a syndiag older than versioned "
                                        r"descriptions .*make it again with `syndiag rul fit`"):
        load_rul(checkpoint)
    rewrite(checkpoint, {**config, "model": "syndiag-openset"})
    with pytest.raises(DataError, match=r"config\.json: model 'syndiag-openset' \(an open-set threshold file.*\) is not 'syndiag-rul'"):
        load_rul(checkpoint)
    rewrite(checkpoint, {**config, "format_version": 2})
    with pytest.raises(DataError, match="format_version 2: this syndiag reads version 1"):
        load_rul(checkpoint)
