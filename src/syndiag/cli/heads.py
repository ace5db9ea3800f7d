"""``syndiag head export | import | history | rollback``: the edge -> cloud head packages of the cloud-edge loop (§3.5)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from syndiag.cli.common import (
    DataRootOpt,
    RunConfigOpt,
    SetOpt,
    err,
    fail,
    load_run_config,
    out,
    setup_logging,
)
from syndiag.errors import SyndiagError

head_app = typer.Typer(help="Edge -> cloud head packages: export, import (validated), history, rollback.", no_args_is_help=True)


@head_app.command("export")
def head_export(
    config: RunConfigOpt,
    output: Annotated[Path, typer.Option("--out", "-o", help="folder to write the head package into")],
    parent: Annotated[Optional[str], typer.Option(help="version the edge head was built on (default: the cloud's active one)")] = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
) -> None:
    """Write the edge model's head as a package (safetensors + JSON with version, parent, class-list hash, metrics).

    Runs on the edge side: it loads the edge checkpoint and the data, never the cloud model.
    """
    setup_logging()
    from syndiag.workflows.collaboration import export_head

    try:
        package, folder = export_head(load_run_config(config, data_root, sets), output, parent)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"head {escape(str(package.meta['version']))} (parent {escape(str(package.meta['parent_version']))}) written to {escape(str(folder))}")


@head_app.command("import")
def head_import(
    package_dir: Annotated[Path, typer.Argument(help="a head package folder")],
    config: RunConfigOpt,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
) -> None:
    """Validate a head package on the cloud's held-out buffer and swap it in; a refused head changes nothing."""
    setup_logging()
    from syndiag.workflows.collaboration import import_head

    try:
        decision = import_head(load_run_config(config, data_root, sets), package_dir)
    except SyndiagError as exc:
        fail(exc)
    if not decision.accepted:
        err.print(f"[bold red]refused[/] head {escape(decision.version)}: " + escape("; ".join(decision.reasons)))
        raise typer.Exit(code=3)
    out.print(f"accepted head {escape(decision.version)}: validation accuracy {decision.accuracy_before:.4f} -> {decision.accuracy_after:.4f}")


@head_app.command("history")
def head_history(config: RunConfigOpt, sets: SetOpt = None) -> None:
    """Every head version the cloud has held, and which is active."""
    setup_logging()
    from syndiag.workflows.collaboration import head_history as read_history

    try:
        state = read_history(load_run_config(config, None, sets))
    except SyndiagError as exc:
        fail(exc)
    table = Table("version", "parent", "status", "validation before -> after", "utc", title=escape(f"active: {state['active']}"))
    for entry in state["history"]:
        before, after = entry.get("validation_before"), entry.get("validation_after")
        scores = f"{before:.4f} -> {after:.4f}" if before is not None else ""
        table.add_row(escape(str(entry["version"])), escape(str(entry.get("parent_version"))), escape(str(entry["status"])), scores,
                      escape(str(entry.get("utc", ""))))
    out.print(table)


@head_app.command("rollback")
def head_rollback(version: Annotated[str, typer.Argument(help="an accepted version, e.g. v0000")], config: RunConfigOpt,
                  data_root: DataRootOpt = None, sets: SetOpt = None) -> None:
    """Make an earlier head version the cloud's active head again."""
    setup_logging()
    from syndiag.workflows.collaboration import rollback_head

    try:
        rollback_head(load_run_config(config, data_root, sets), version)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"active head is now {escape(version)}")
