"""``syndiag head export | import | token | push | history | rollback | keygen | trust | revoke | keys``: the edge -> cloud
head packages of the cloud-edge loop (§3.5), signed by the edge and verified by the cloud.

Exit status: 2 for bad input (a malformed package, a missing key, a bad option), 3 for a well-formed package the
cloud refuses (unsigned, untrusted or altered, or failing validation).
"""

from __future__ import annotations

from datetime import datetime, timezone
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
    guarded,
    load_run_config,
    out,
    setup_logging,
)
from syndiag.errors import SyndiagError

head_app = typer.Typer(help="Edge -> cloud head packages: export (signed), import (verified, validated), history, rollback, signing keys.",
                       no_args_is_help=True)


@head_app.command("export")
@guarded
def head_export(
    config: RunConfigOpt,
    output: Annotated[Path, typer.Option("--out", "-o", help="folder to write the head package into")],
    key: Annotated[Optional[Path], typer.Option("--key", "-k", help="the edge's private signing key (syndiag head keygen)")] = None,
    unsigned: Annotated[bool, typer.Option("--unsigned", help="write no signature (only when update.require_signed is false)")] = False,
    parent: Annotated[Optional[str], typer.Option(help="version the edge head was built on (default: the cloud's active one)")] = None,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
) -> None:
    """Write the edge model's head as a package: head.safetensors, head.json (version, parent, class-list hash, metrics)
    and signature.json (Ed25519 over both files' bytes, with the key id).

    Runs on the edge side: it loads the edge checkpoint and the data, never the cloud model.
    """
    setup_logging()
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.collaboration import export_head

    if key is None and not unsigned:
        fail(ValueError("give --key PRIVATE_KEY (syndiag head keygen), or --unsigned where update.require_signed is false"))
    try:
        package, folder = export_head(load_run_config(config, data_root, sets), output, parent, key=key, unsigned=unsigned)
    except SyndiagError as exc:
        fail(exc)
    signed = "unsigned" if package.files is None or package.files.signature is None else "signed"
    out.print(f"head {escape(str(package.meta['version']))} (parent {escape(str(package.meta['parent_version']))}, {signed}) "
              f"written to {escape(str(folder))}")


@head_app.command("import")
@guarded
def head_import(
    package_dir: Annotated[Path, typer.Argument(help="a head package folder")],
    config: RunConfigOpt,
    data_root: DataRootOpt = None,
    sets: SetOpt = None,
) -> None:
    """Verify a head package's signature, validate it on the cloud's held-out buffer and swap it in.

    The signature must come from a key the cloud trusts (syndiag head trust); a refused head changes nothing (exit 3).
    """
    setup_logging()
    # defers torch, cryptography and fastapi: imported when a head command runs
    from syndiag.registry.signing import UntrustedPackage
    from syndiag.workflows.collaboration import import_head

    try:
        decision = import_head(load_run_config(config, data_root, sets), package_dir)
    except UntrustedPackage as exc:
        err.print(f"[bold red]refused[/] head package: {escape(str(exc))}")
        raise typer.Exit(code=3) from None
    except SyndiagError as exc:
        fail(exc)
    if not decision.accepted:
        err.print(f"[bold red]refused[/] head {escape(decision.version)}: " + escape("; ".join(decision.reasons)))
        raise typer.Exit(code=3)
    out.print(f"accepted head {escape(decision.version)}: validation accuracy {decision.accuracy_before:.4f} -> {decision.accuracy_after:.4f}")


@head_app.command("token")
@guarded
def head_token(config: RunConfigOpt,
               days: Annotated[Optional[int], typer.Option(help="days the new token is valid (1-3650; default 90)")] = None,
               label: Annotated[Optional[str], typer.Option(help="a name for the new token, e.g. the edge it is for (letters, digits, _.@-)")] = None,
               revoke: Annotated[Optional[str], typer.Option(help="revoke instead: every token with this label, or the one whose id "
                                                                 "(--list) starts with these 6+ hex digits; at once, no restart")] = None,
               list_: Annotated[bool, typer.Option("--list", help="list the tokens instead: id, label (- if none), expiry")] = False,
               sets: SetOpt = None) -> None:
    """On the cloud: a new upload token for `syndiag head push` (printed once; only its sha256 is stored, mode 0600).

    A token lets its holder push head packages, read the head history (GET /heads) and roll back (POST /heads/rollback);
    it expires after --days days. Tokens made before expiries existed never expire: --list says so; revoke them.
    """
    # defers torch, cryptography and fastapi: imported when a head command runs
    from syndiag.registry.tokens import DEFAULT_DAYS, issue_token, read_tokens, revoke_tokens
    from syndiag.service.heads_api import tokens_file

    asked = [name for name, given in (("--days/--label", days is not None or label is not None), ("--revoke", revoke is not None),
                                      ("--list", list_)) if given]
    if len(asked) > 1:
        fail(ValueError(f"{' and '.join(asked)} do not go together: a new token (--days, --label), --revoke or --list"))
    path = tokens_file(load_run_config(config, None, sets))
    if list_:
        _print_tokens(read_tokens(path))
        return
    if revoke is not None:
        gone = revoke_tokens(path, revoke)
        out.print(f"revoked {len(gone)} token(s): " + escape(", ".join(entry.shown() for entry in gone)))
        return
    token, entry = issue_token(path, DEFAULT_DAYS if days is None else days, label)
    out.print(f"token {escape(entry.shown())}, valid until {entry.expires:%Y-%m-%d %H:%M} UTC (shown once; its digest is in {escape(str(path))}):")
    typer.echo(token)


def _print_tokens(entries: list) -> None:
    now = datetime.now(timezone.utc)
    if not entries:
        out.print("no upload tokens")
    for entry in entries:
        expiry = (f"{'expired' if entry.expired(now) else 'valid until'} {entry.expires:%Y-%m-%d %H:%M} UTC" if entry.expires
                  else "no expiry (made before tokens expired: revoke it)")
        out.print(f"{entry.token_id}  {escape(entry.label or '-')}  {expiry}", highlight=False)


@head_app.command("push")
@guarded
def head_push(url: Annotated[str, typer.Argument(help="the cloud's http(s) address, e.g. http://cloud:8000 (syndiag serve --set role=cloud)")],
              package_dir: Annotated[Path, typer.Option("--package", help="a head package folder (syndiag head export)")],
              token_file: Annotated[Path, typer.Option(help="a file holding the upload token (syndiag head token on the cloud); keep it mode 600")]) -> None:
    """On the edge: send a head package to the cloud over HTTP; the cloud verifies, validates and versions it (exit 3 if refused).

    Exit 2 when the cloud cannot be reached, the address is not http(s), or the token file is empty or not a token.
    """
    # defers torch, cryptography and fastapi: imported when a head command runs
    from syndiag.registry.tokens import others_may_read, read_token_file
    from syndiag.service.heads_api import push_head

    token = read_token_file(token_file)
    if (mode := others_may_read(token_file)) is not None:
        err.print(f"[yellow]warning:[/] {escape(str(token_file))} is readable by other users (mode {mode:o}); chmod 600 it")
    answer = push_head(url, package_dir, token)
    if answer["status"] != 200 or not answer.get("accepted"):
        err.print(f"[bold red]refused[/] ({answer['status']}): {escape(str(answer.get('detail') or '; '.join(answer.get('reasons', []))))}")
        raise typer.Exit(code=3)
    out.print(f"accepted head {escape(answer['version'])}: validation accuracy {answer['accuracy_before']:.4f} -> {answer['accuracy_after']:.4f}")


@head_app.command("history")
@guarded
def head_history(config: RunConfigOpt, sets: SetOpt = None) -> None:
    """Every head version the cloud has held, and which is active."""
    setup_logging()
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.collaboration import head_history as read_history

    try:
        state = read_history(load_run_config(config, None, sets))
    except SyndiagError as exc:
        fail(exc)
    table = Table("version", "parent", "status", "validation before -> after", "signed by", "utc", title=escape(f"active: {state['active']}"))
    for entry in state["history"]:
        before, after = entry.get("validation_before"), entry.get("validation_after")
        scores = f"{before:.4f} -> {after:.4f}" if before is not None else ""
        table.add_row(escape(str(entry["version"])), escape(str(entry.get("parent_version"))), escape(str(entry["status"])), scores,
                      escape(str(entry.get("signed_by") or "")), escape(str(entry.get("utc", ""))))
    out.print(table)


@head_app.command("rollback")
@guarded
def head_rollback(version: Annotated[str, typer.Argument(help="an accepted version, e.g. v0000")], config: RunConfigOpt,
                  data_root: DataRootOpt = None, sets: SetOpt = None) -> None:
    """Make an earlier head version the cloud's active head again."""
    setup_logging()
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.collaboration import rollback_head

    try:
        rollback_head(load_run_config(config, data_root, sets), version)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"active head is now {escape(version)}")


@head_app.command("keygen")
@guarded
def head_keygen(out_dir: Annotated[Path, typer.Option("--out", "-o", help="folder for <key_id>.key (0600) and <key_id>.pub")]) -> None:
    """On the edge: a new Ed25519 signing key. Keep the .key on the edge; give the .pub to the cloud (syndiag head trust).

    Rotation: keygen a new key, trust it on the cloud, export with it, then revoke the old key id.
    """
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.collaboration import new_signing_key

    try:
        files = new_signing_key(out_dir)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"key id {files.key_id}\nprivate key {escape(str(files.private))} (keep it on the edge)\npublic key {escape(str(files.public))}")


@head_app.command("trust")
@guarded
def head_trust(public_key: Annotated[Path, typer.Argument(help="an edge's public key file (<key_id>.pub)")], config: RunConfigOpt,
               reinstate: Annotated[bool, typer.Option("--reinstate", help="trust a revoked key again (only if it was never compromised)")] = False,
               sets: SetOpt = None) -> None:
    """On the cloud: import head packages signed by this edge key (OUTPUT_DIR/heads/trusted/<key_id>.pub).

    A revoked key is refused (exit 2, naming it) unless --reinstate is given.
    """
    # defers torch, cryptography and fastapi: imported when a head command runs
    from syndiag.registry.signing import TrustStore
    from syndiag.workflows.collaboration import trusted_dir

    try:
        kid = TrustStore(trusted_dir(load_run_config(config, None, sets))).trust(public_key, reinstate=reinstate)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"trusted key {kid}")


@head_app.command("revoke")
@guarded
def head_revoke(key_id: Annotated[str, typer.Argument(help="a trusted key id (syndiag head keys)")], config: RunConfigOpt,
                sets: SetOpt = None) -> None:
    """On the cloud: refuse head packages signed by this key from now on."""
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.collaboration import revoke_key

    try:
        revoke_key(load_run_config(config, None, sets), key_id)
    except SyndiagError as exc:
        fail(exc)
    out.print(f"revoked key {escape(key_id)}")


@head_app.command("keys")
@guarded
def head_keys(config: RunConfigOpt, sets: SetOpt = None) -> None:
    """The edge keys the cloud trusts, and those it revoked."""
    # defers torch: the CLI starts light and imports a command's workflow when it runs
    from syndiag.workflows.collaboration import trusted_keys

    try:
        keys = trusted_keys(load_run_config(config, None, sets))
    except SyndiagError as exc:
        fail(exc)
    out.print("trusted: " + (", ".join(keys["trusted"]) or "none"))
    out.print("revoked: " + (", ".join(keys["revoked"]) or "none"))
