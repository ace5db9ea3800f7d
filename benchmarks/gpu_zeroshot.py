"""The zeroshot suite's edge-backbone cells on the lent GPU without the CLI; it ran from .gpu/ as run_zeroshot.py:
`python3 run_zeroshot.py OUT openset-gpu.yaml cuda bfloat16`."""
import sys
from pathlib import Path

from syndiag.config.openset import OpenSetConfig
from syndiag.workflows.zeroshot import run_zeroshot_suite

out, yaml, device, dtype = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
here = Path(__file__).resolve().parent
config = OpenSetConfig.from_yaml(here / yaml).model_copy(update={"work_dir": out / "work", "zeroshot_backbones": ["edge"]})
overrides = {"data.data_root": str(here / "data"), "edge.backbone": str(here / "minilm-l4"), "edge.num_layers": None,
             "device": device, "dtype": dtype, "data.cwru.loads": [3]}
run_zeroshot_suite(config, out / f"zeroshot_cwru_{config.profile}.jsonl", overrides, say=lambda s: print(s, flush=True), allow_dirty=True)
