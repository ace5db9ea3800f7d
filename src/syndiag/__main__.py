"""``python -m syndiag``: the command line, for launchers that start a module (``torchrun -m``, ``accelerate launch -m``)."""

from syndiag.cli import app

app(prog_name="syndiag")
