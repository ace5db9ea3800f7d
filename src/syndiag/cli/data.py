"""``syndiag data``: list, prepare (windows and CWT spectrograms), show, simulate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from syndiag.cli.common import (
    CacheOpt,
    ConfigOpt,
    DataRootOpt,
    SetOpt,
    VerboseOpt,
    fail,
    guarded,
    load_data_config,
    out,
    setup_logging,
    step_bar,
    tracked,
)
from syndiag.errors import SyndiagError

data_app = typer.Typer(help="Datasets: list, prepare windows and CWT spectrograms, show them, simulate.", no_args_is_help=True)


@data_app.command("list")
@guarded
def data_list(config: ConfigOpt = None, data_root: DataRootOpt = None, sets: SetOpt = None) -> None:
    """List the classes, their text prompts, the conditions and the recordings found (and missing)."""
    setup_logging()
    try:
        # defers numpy and scipy: the data layer is imported when a data command runs
        from syndiag.data.sources import resolve_source

        cfg = load_data_config(config, data_root, None, sets)
        source = resolve_source(cfg)
        recordings = source.load()
    except SyndiagError as exc:
        fail(exc)
    out.print(f"[bold]{escape(recordings.name)}[/]: {escape(source.description)}")
    classes = Table("class", "text prompt", title="classes")
    for c in recordings.classes:
        classes.add_row(escape(c.name), escape(c.prompt))
    out.print(classes)
    table = Table("condition", "class", "seconds", "fs (Hz)", "source", title="recordings")
    for r in recordings.recordings:
        table.add_row(escape(r.condition), escape(r.label), f"{r.seconds:.2f}", f"{r.fs:g}", escape(r.source))
    out.print(table)
    for note in recordings.notes:
        out.print(f"[yellow]note:[/] {escape(note)}")
    for item in recordings.missing:
        out.print(f"[red]missing:[/] {escape(str(item))}")


@data_app.command("prepare")
@guarded
def data_prepare(
    config: ConfigOpt = None,
    data_root: DataRootOpt = None,
    cache_dir: CacheOpt = None,
    sets: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a machine-readable summary")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Cut leak-free windows and compute their CWT spectrograms (cached: a second run recomputes nothing)."""
    setup_logging(verbose)
    # defers numpy and scipy: the data layer is imported when a data command runs
    from syndiag.data.prepare import prepare

    try:
        cfg = load_data_config(config, data_root, cache_dir, sets)
        with step_bar("spectrograms", loss=False) as bar:
            dataset = prepare(cfg, progress=tracked(bar, "spectrograms"))
    except SyndiagError as exc:
        fail(exc)
    counts = dataset.counts()
    summary = {
        "dataset": dataset.meta["dataset"],
        "source": dataset.meta["source"],
        "classes": dataset.class_names,
        "conditions": dataset.condition_names,
        "counts": counts,
        "windows": len(dataset),
        "pool_windows": int((dataset.split == 0).sum()),
        "test_windows": int((dataset.split == 1).sum()),
        "seconds": round(dataset.seconds, 3),
        "from_cache": dataset.from_cache,
        "cache_path": str(dataset.path.resolve()),
        "cache_bytes": sum(p.stat().st_size for p in dataset.path.iterdir()),
        "notes": dataset.meta["notes"],
        "missing": dataset.meta["missing"],
    }
    if as_json:
        out.print_json(json.dumps(summary))
        return
    table = Table("class", *dataset.condition_names, title=f"windows per class (train pool / test) - {summary['dataset']}")
    for name in dataset.class_names:
        table.add_row(escape(name), *(f"{counts[c][name]['pool']} / {counts[c][name]['test']}" for c in dataset.condition_names))
    out.print(table)
    for note in summary["notes"]:
        out.print(f"[yellow]note:[/] {escape(note)}")
    state = "loaded from cache" if dataset.from_cache else "computed"
    out.print(
        f"{summary['windows']} windows ({summary['pool_windows']} train pool, {summary['test_windows']} test), "
        f"{state} in {summary['seconds']:.2f} s; cache {summary['cache_path']} ({summary['cache_bytes'] / 1e6:.0f} MB)"
    )


@data_app.command("show")
@guarded
def data_show(
    config: ConfigOpt = None,
    data_root: DataRootOpt = None,
    cache_dir: CacheOpt = None,
    sets: SetOpt = None,
    output: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write")] = Path("spectrograms.png"),
    condition: Annotated[Optional[str], typer.Option(help="condition to show (default: the first)")] = None,
) -> None:
    """Write a PNG gallery with one test-window spectrogram per class."""
    setup_logging()
    # defers numpy and scipy: the data layer is imported when a data command runs
    from syndiag.data.gallery import write_gallery
    from syndiag.data.prepare import prepare

    try:
        cfg = load_data_config(config, data_root, cache_dir, sets)
        path = write_gallery(prepare(cfg), output, condition)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"wrote {escape(str(path))}")


@data_app.command("simulate")
@guarded
def data_simulate(
    output: Annotated[Path, typer.Option("--out", "-o", help="folder to write recordings and dataset.yaml into")],
    config: ConfigOpt = None,
    sets: SetOpt = None,
    thermal: Annotated[bool, typer.Option("--thermal", help="also write simulated thermal frames (PNG, one a second) and thermal/frames.csv")] = False,
) -> None:
    """Write simulated CWRU-like recordings (.npz) and a dataset spec usable as ``dataset: custom``; with --thermal, their frames."""
    setup_logging()
    # defers numpy and scipy: the data layer is imported when a data command runs
    from syndiag.data.simulator import simulate_cwru_like, write_recordings

    try:
        cfg = load_data_config(config, None, None, sets)
        recordings = simulate_cwru_like(cfg.simulator, list(cfg.cwru.channels), list(cfg.cwru.loads))
        spec = write_recordings(recordings, output)
        index = None
        if thermal:
            # defers numpy and scipy: the data layer is imported when a data command runs
            from syndiag.data.simulated_sensors import write_simulated_frames

            index = write_simulated_frames(cfg, output)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"wrote {len(recordings.recordings)} recordings and {spec}")
    if index is not None:
        out.print(f"wrote simulated thermal frames indexed by {index} (synthetic images, not measurements)")
