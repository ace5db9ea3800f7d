"""``syndiag config list | show``: the shipped profiles, to read or copy as a starting point."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from syndiag.cli.common import fail, guarded, out
from syndiag.config.profiles import PROFILES, profile_path, shipped_profiles
from syndiag.errors import ConfigError

config_app = typer.Typer(help="Shipped profiles (data, run recipes, benchmark settings): list them, print one.", no_args_is_help=True)


@config_app.command("list")
@guarded
def config_list() -> None:
    """Every shipped profile, as a name usable with --config from any working directory."""
    for name in shipped_profiles():
        out.print(escape(name))
    out.print(f"[dim]in {escape(str(PROFILES))}[/]")


@config_app.command("show")
@guarded
def config_show(name: Annotated[str, typer.Argument(help="a shipped profile, e.g. syndiag/cpu")]) -> None:
    """Print a shipped profile's YAML (copy it, change what differs, pass it with --config)."""
    path = profile_path(name)
    if not path.is_file():
        fail(ConfigError(f"no shipped profile {name!r}; shipped: {', '.join(shipped_profiles())}"))
    typer.echo(path.read_text(encoding="utf-8"), nl=False)
