"""Time preparing CWRU 4 conditions x 19 classes x 200 windows, cold and warm, against a per-window pywt.cwt loop.

    python benchmarks/bench_prepare.py --data-root ../shared/data

Writes benchmarks/results/prepare_speed.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import provenance  # noqa: E402

from syndiag.config.data import DataConfig  # noqa: E402
from syndiag.data.prepare import prepare  # noqa: E402
from syndiag.data.spectrogram import reference_cwt, render  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=Path("configs/data/cwru.yaml"))
    parser.add_argument("--naive-windows", type=int, default=1520, help="windows timed with the per-window pywt loop")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/prepare_speed.json"))
    args = parser.parse_args()

    cache = Path(tempfile.mkdtemp(prefix="syndiag-bench-"))
    try:
        config = DataConfig.from_yaml(args.config, {"data_root": str(args.data_root), "cache_dir": str(cache)})
        started = time.perf_counter()
        cold = prepare(config)
        cold_s = time.perf_counter() - started
        started = time.perf_counter()
        warm = prepare(config)
        warm_s = time.perf_counter() - started
        assert warm.from_cache and not cold.from_cache
        cache_bytes = sum(p.stat().st_size for p in cold.path.rglob("*") if p.is_file())

        picks = np.linspace(0, len(cold) - 1, args.naive_windows).astype(int)
        windows = np.asarray(cold.windows[picks])
        started = time.perf_counter()
        for window in windows:
            magnitude = np.stack([np.abs(reference_cwt(ch, config.spectrogram, cold.fs)) for ch in window])
            naive_image = render(magnitude[None].astype(np.float32), config.spectrogram)[0]
        naive_s = time.perf_counter() - started
        np.testing.assert_allclose(naive_image.astype(int), np.asarray(cold.colormap_indices[picks[-1]]).astype(int), atol=1)
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    per_window_ours = cold_s / len(cold)
    per_window_naive = naive_s / args.naive_windows
    result = {
        **provenance(),
        "data": cold.meta["source"],
        "config": str(args.config),
        "windows": len(cold),
        "conditions": cold.condition_names,
        "classes": len(cold.class_names),
        "cold_seconds": round(cold_s, 2),
        "warm_seconds": round(warm_s, 3),
        "cache_bytes": cache_bytes,
        "naive_windows_timed": args.naive_windows,
        "naive_seconds": round(naive_s, 2),
        "ms_per_window": {"syndiag_cold_end_to_end": round(per_window_ours * 1e3, 3), "naive_pywt_loop": round(per_window_naive * 1e3, 3)},
        "speedup_per_window": round(per_window_naive / per_window_ours, 1),
        "naive_extrapolated_seconds_for_all": round(per_window_naive * len(cold), 1),
        "targets": {"cold_seconds": 60, "warm_seconds": 5, "cache_bytes": 2.5e9},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
