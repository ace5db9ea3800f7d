"""The openset suite on the lent GPU without the CLI (the device lacks cryptography, which the CLI imports); it ran from
.gpu/ as run_openset.py beside a `git archive` of src/: `python3 run_openset.py OUT openset-gpu.yaml cuda bfloat16`."""
import sys
from pathlib import Path

from syndiag.config.openset import OpenSetConfig
from syndiag.workflows.openset import run_openset_suite

out, yaml, device, dtype = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
here = Path(__file__).resolve().parent
config = OpenSetConfig.from_yaml(here / yaml).model_copy(update={"work_dir": out / "work"})
overrides = {"data.data_root": str(here / "data"), "model.backbone": str(here / "minilm-l4"), "model.num_layers": None,
             "device": device, "dtype": dtype, "data.cwru.loads": [3]}
for pair in sys.argv[5:]:
    key, value = pair.split("=", 1)
    overrides[key] = int(value) if value.isdigit() else value
run_openset_suite(config, out / f"openset_trained_cwru_{config.profile}.jsonl", overrides, say=lambda s: print(s, flush=True), allow_dirty=True)
