"""A cloud, edge or sensor checkpoint records its description when it is saved: the kind, the format version, the commit
that wrote it and the hash of its class names, read back by `read_meta`; the sensor model's Predictor in memory is
described by the same fields its checkpoint records."""

import json

from test_edge import pair
from test_sensor_diagnose import save_checkpoint
from tiny import save_tiny_backbone
from tiny_checkpoint import data_section

from syndiag.commit import current_commit
from syndiag.models.meta import FORMAT_VERSION, class_hash, read_meta
from syndiag.models.sensor import SensorModel
from syndiag.serving.predictor import sensor_model_predictor


def described(folder, kind, names):
    raw = json.loads((folder / "config.json").read_text())
    meta = read_meta(folder)
    assert raw["model"] == meta.model == kind
    assert raw["format_version"] == meta.format_version == FORMAT_VERSION
    assert raw["commit"] == meta.commit == current_commit() and meta.commit
    assert raw["class_hash"] == meta.class_hash == class_hash(names)
    return raw, meta


def test_fresh_cloud_and_edge_checkpoints_record_kind_version_commit_and_class_hash(tmp_path):
    teacher, student = pair("decoder", "encoder")
    extra = {"data": data_section(), "channels": ["DE"], "fs": 12000.0}
    teacher_dir = teacher.save_pretrained(tmp_path / "teacher", extra={**extra, "model": "syndiag-edge", "commit": "old"})
    described(teacher_dir, "syndiag-cloud", teacher.class_names)  # an extra's kind or commit never overrides the writer's
    described(student.save_pretrained(tmp_path / "edge", teacher_dir, extra=extra), "syndiag-edge", student.class_names)


def test_a_fresh_sensor_checkpoint_records_its_description_and_its_predictor_reads_the_same(tmp_path):
    folder = save_checkpoint(tmp_path / "sensor", save_tiny_backbone(tmp_path / "tiny-llama"), True)
    raw, meta = described(folder, "syndiag-sensor", json.loads((folder / "config.json").read_text())["class_names"])
    model = SensorModel.from_pretrained(folder, meta=meta.to_dict())
    memory = sensor_model_predictor(model, {"fs": raw["fs"], "config": raw["data"]}).meta
    for key in ("model", "config", "layout", "class_names", "prompts", "severity_range", "extractor", "backbone"):
        assert memory.to_dict()[key] == raw[key], key
