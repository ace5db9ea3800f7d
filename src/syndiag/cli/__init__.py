"""The ``syndiag`` command line: parses arguments, calls one workflow per command, prints the result."""

from __future__ import annotations

import sys

import typer

from syndiag.cli.bench import benchmark
from syndiag.cli.common import guarded
from syndiag.cli.data import data_app
from syndiag.cli.heads import head_app
from syndiag.cli.inference import diagnose, export
from syndiag.cli.monitor import monitor
from syndiag.cli.openset import openset_app
from syndiag.cli.profiles import config_app
from syndiag.cli.report import report
from syndiag.cli.serve import quick_start, replay, serve
from syndiag.cli.rul import rul_app
from syndiag.cli.sensor import sensor_app
from syndiag.cli.termination import run_interruptible
from syndiag.cli.train import distill, evaluate, finetune, pretrain, update


class SyndiagApp(typer.Typer):
    """The command line, run so that SIGTERM and SIGHUP end a command cleanly (see :mod:`syndiag.cli.termination`)."""

    def __call__(self, *args, **kwargs):
        return run_interruptible(lambda: super(SyndiagApp, self).__call__(*args, **kwargs))


app = SyndiagApp(help="Few-shot industrial fault diagnosis with language models.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")
for command in (pretrain, finetune, evaluate, diagnose):
    app.command()(guarded(command))
app.command("export")(guarded(export))
app.command("monitor")(guarded(monitor))
app.command("report")(guarded(report))
app.command("serve")(guarded(serve))
app.command("replay")(guarded(replay))
app.command("quick-start")(guarded(quick_start))
for command in (benchmark, distill, update):
    app.command()(guarded(command))
app.add_typer(head_app, name="head")
app.add_typer(sensor_app, name="sensor")
app.add_typer(rul_app, name="rul")
app.add_typer(openset_app, name="openset")


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
