"""``syndiag serve``, ``syndiag replay`` and ``syndiag quick-start``: the live service, a sensor simulator over MQTT, and both
with a trained model on a replayed plant; each calls one function."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from syndiag.cli.common import SetOpt, out
from syndiag.cli.termination import Interrupted
from syndiag.config.base import parse_overrides, set_dotted
from syndiag.config.service import ServeConfig
from syndiag.errors import ConfigError


def serve(config: Annotated[Optional[Path], typer.Option("--config", "-c", help="service recipe (default: syndiag/config/service.py)")] = None,
          checkpoint: Annotated[Optional[Path], typer.Option(help="an ONNX export (no PyTorch in the process) or a cloud/edge checkpoint")] = None,
          sets: SetOpt = None) -> None:
    """Diagnose sensors streaming over MQTT (<prefix>/<site>/<machine>/<sensor>/data), store every diagnosis, keep each
    sensor's health state (ok / watch / alarm) and deliver its changes as alarms (MQTT .../alarm, the webhooks of
    alarms.webhooks); serve /diagnose, /health, /metrics, /api/sensors, /api/states, /api/alarms (acknowledge with a
    user's token), /api/storage and /api/raw (the raw signal kept around every alarm and the periodic snapshots) and the
    dashboard over HTTP. A sensor model serves each sensor declared with its channels (sensors.<name>.channels: each
    channel's stream, rate and kind; a rate the model cannot use stops serve at start, naming sensor, channel and rates).
    What is stored is bounded (retention: raw clips and snapshots compressed, diagnoses rolled up with age, limits of
    age and size; every retention duration and size must be positive).

    The store (--set database_url=...) is opened first: a bad URL, an unwritable SQLite path or a database server that is
    down stops serve with exit 2, naming the URL (password hidden) and the reason."""
    # defers sqlalchemy, numpy and scipy: imported when the command runs
    from syndiag.service.database_url import check_database_url, shown_url
    from syndiag.service.runner import serve as run

    overrides = parse_overrides(sets)
    if checkpoint is not None:
        overrides["checkpoint"] = str(checkpoint)
    nested: dict = {}
    for dotted, value in overrides.items():  # --set retention.max_age_s=... without -c: a section, as from_yaml sets it
        set_dotted(nested, dotted, value)
    cfg = ServeConfig.from_yaml(config, overrides) if config is not None else ServeConfig.from_dict(nested, "--set")
    if cfg.role == "edge":
        check_database_url(cfg.database_url)
    out.print(f"serving {escape(str(cfg.checkpoint))}: MQTT {cfg.broker_host}:{cfg.broker_port} ({cfg.topic_prefix}/+/+/+/data), "
              f"HTTP http://{cfg.http_host}:{cfg.http_port}/, store {escape(shown_url(cfg.database_url))}")
    try:
        run(cfg)
    except Interrupted as signal:  # SIGTERM is how a service manager stops a service: a clean stop, not a failure
        out.print(f"stopped ({signal.signal_name}): the queue drained and every fate stored")


def replay(files: Annotated[list[Path], typer.Argument(help="recordings to stream (.mat, .csv, .npy, .npz), in turn per sensor")],
           sensors: Annotated[int, typer.Option(help="simulated sensors (site1/machine<i>/accel), 1 or more")] = 1,
           host: str = "127.0.0.1", port: int = 1883, prefix: str = "syndiag",
           seconds: Annotated[Optional[float], typer.Option(help="signal seconds to stream, positive (default: the shortest file)")] = None,
           speed: Annotated[float, typer.Option(help="times real time, positive")] = 1.0,
           fs: Annotated[Optional[float], typer.Option(help="sampling rate of files that do not say")] = None,
           channel: Annotated[str, typer.Option(help="the files' channel to stream")] = "DE",
           chunk_s: Annotated[float, typer.Option("--chunk-s", help="seconds of signal per payload (whole windows for shared subscriptions)")] = 0.1) -> None:
    """Stream recordings to the broker as N sensors, in real time (or ``--speed`` times it), one binary payload per ``--chunk-s``.

    Exit 2 for an option out of range, or a broker that is not there, dies mid-stream or stops acknowledging (10 s)."""
    # defers numpy, scipy and sqlalchemy: imported when the command runs
    from syndiag.service.runner import replay as run

    found = run(files, sensors, host, port, prefix, seconds=seconds, chunk_s=chunk_s, speed=speed, fs=fs, channel=channel)
    out.print(f"published {found['chunks']} chunks ({found['samples']} samples) from {found['sensors']} sensor(s) in {found['seconds']:.1f} s")


def quick_start(data_root: Annotated[Path, typer.Option("--data-root", help="the data root: a folder holding cwru/ (the CWRU .mat files)")],
                run_dir: Annotated[Path, typer.Option("--run-dir", help="the model, the service config, its store and log")] = Path("runs/quick-start"),
                broker_port: Annotated[int, typer.Option(help="the MQTT broker's port (Mosquitto is started there when none listens)")] = 1883,
                http_port: Annotated[int, typer.Option(help="the service's HTTP port: the dashboard")] = 8000,
                seconds: Annotated[Optional[float], typer.Option(help="replay this many seconds, then stop (default: until Ctrl-C)")] = None) -> None:
    """Train the sensor model with the spectrum path and no language model (recipe sensor/spectral; its accuracy on its own
    test windows printed; skipped when RUN_DIR holds it), declare a plant of five machines replaying real CWRU recordings (normal
    and four faults, their test halves only), start Mosquitto when none listens, the service and the replay in real time,
    and print the dashboard's URL."""
    # defers numpy, torch and the service: imported when the command runs
    from syndiag.service.quick_start import run_quick_start

    if seconds is not None and not seconds > 0:
        raise ConfigError(f"--seconds must be positive, got {seconds}")
    found = run_quick_start(data_root, run_dir, broker_port, http_port, seconds, say=lambda line: out.print(escape(line)))
    replayed = found["replayed"]
    out.print(f"stopped after {replayed.get('seconds', 0):.0f} s of replay; diagnoses kept in {escape(str(run_dir / 'service.db'))}")
