"""Head exchange over HTTP (issue 18, Syn-Diag §3.5): the edge pushes a head package to the cloud, which checks the
upload token, then verifies and validates the package exactly as ``syndiag head import`` does, versions it, and can
roll back. A package is three files sent as form fields (no archive, so no path can escape it), each read with the
registry's size bound; a refused or interrupted upload leaves the registry as it was (its writes are atomic).

Every route (push, history, rollback) takes the same upload token; an expired token is refused with its expiry named, a
token file other users may read is refused (the cloud then answers 503 and names the file in its own log only)."""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Header, HTTPException, UploadFile

from syndiag.config.run import RunConfig
from syndiag.errors import ConfigError, DataError, SyndiagError
from syndiag.registry.package import HEAD_META, HEAD_WEIGHTS, MAX_META_BYTES, MAX_SIGNATURE_BYTES, MAX_WEIGHTS_BYTES, SIGNATURE, PackageFiles
from syndiag.registry.signing import UntrustedPackage
from syndiag.registry.tokens import TIME_FORMAT, find_token, read_tokens

log = logging.getLogger(__name__)
ANSWER_FIELDS = ("accepted", "version", "reasons", "accuracy_before", "accuracy_after")


def tokens_file(config: RunConfig) -> Path:
    # defers matplotlib and sklearn: the collaboration workflow's stack is loaded when the head exchange is used
    from syndiag.workflows.collaboration import heads_dir

    return heads_dir(config) / "tokens.sha256"


async def _bounded(upload: UploadFile | None, limit: int, name: str) -> bytes | None:
    if upload is None:
        return None
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{name}: larger than {limit} bytes")
    return data


def authorise(path: Path, authorization: str | None) -> None:
    """Let the request through when it bears an unexpired stored token; else the HTTP refusal, naming why."""
    token = authorization.removeprefix("Bearer ").strip() if authorization and authorization.startswith("Bearer ") else None
    try:
        entry = find_token(path, token)
    except (ConfigError, OSError) as exc:
        log.error("head API refused every request: %s", exc)
        raise HTTPException(503, "the cloud cannot check upload tokens (its token file is refused; see the cloud's log)") from None
    if entry is None:
        raise HTTPException(401, "a valid upload token is required (Authorization: Bearer <token>; syndiag head token)")
    if entry.expired(datetime.now(timezone.utc)):
        raise HTTPException(401, f"upload token {entry.token_id} expired at {entry.expires.strftime(TIME_FORMAT)}; "
                                 "ask the cloud for a new one (syndiag head token)")


def add_head_routes(app: FastAPI, config: RunConfig) -> None:
    read_tokens(tokens_file(config))  # a token file other users may read stops the cloud before it serves

    def authorised(authorization: str | None) -> None:
        authorise(tokens_file(config), authorization)

    @app.post("/heads")
    async def push(meta: UploadFile, weights: UploadFile, signature: UploadFile | None = None,
                   authorization: str | None = Header(None)) -> dict:
        from syndiag.workflows.collaboration import import_head  # defers matplotlib and sklearn, as in tokens_file

        authorised(authorization)
        files = PackageFiles(await _bounded(meta, MAX_META_BYTES, "head.json"), await _bounded(weights, MAX_WEIGHTS_BYTES, "weights"),
                             await _bounded(signature, MAX_SIGNATURE_BYTES, "signature"))
        with tempfile.TemporaryDirectory() as tmp:
            folder = files.write(Path(tmp) / "package")
            try:
                decision = import_head(config, folder)
            except UntrustedPackage as exc:
                raise HTTPException(403, f"refused head package: {exc}".replace(str(folder), "upload")) from None
            except SyndiagError as exc:
                raise HTTPException(422, str(exc).replace(str(folder), "upload")) from None
        return {"accepted": decision.accepted, "version": decision.version, "reasons": decision.reasons,
                "accuracy_before": decision.accuracy_before, "accuracy_after": decision.accuracy_after}

    @app.get("/heads")
    def history(authorization: str | None = Header(None)) -> dict:
        from syndiag.workflows.collaboration import head_history  # defers matplotlib and sklearn, as in tokens_file

        authorised(authorization)
        try:
            return head_history(config)
        except SyndiagError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.post("/heads/rollback")
    def rollback(version: str, authorization: str | None = Header(None)) -> dict:
        from syndiag.workflows.collaboration import rollback_head  # defers matplotlib and sklearn, as in tokens_file

        authorised(authorization)
        try:
            rollback_head(config, version)
        except SyndiagError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"active": version}


def check_cloud_url(url: str) -> str:
    """``url`` if it is an http(s) address with a host (e.g. http://cloud:8000); else a ConfigError naming it."""
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError as exc:
        raise ConfigError(f"cloud address {url!r}: {exc}") from None
    if not usable:
        raise ConfigError(f"cloud address {url!r}: give an http:// or https:// address with a host, e.g. http://cloud:8000")
    return url


def _answer(url: str, response) -> dict:
    """The cloud's answer: its status and JSON fields; a 200 without the fields of a decision is no syndiag cloud."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"detail": response.text[:500]}
    if response.status_code == 200 and not all(key in body for key in ANSWER_FIELDS):
        raise DataError(f"{url}: answered 200 without a head decision ({response.text[:200]!r}); is it syndiag serve --set role=cloud?")
    return {"status": response.status_code, **body}


def push_head(url: str, package: Path, token: str, timeout_s: float = 60.0) -> dict:
    """The edge's side: POST the package folder's files to ``url``/heads with the token; the cloud's answer."""
    import httpx  # defers httpx: only the client side pushes a head

    check_cloud_url(url)
    files = PackageFiles.read(package)
    fields = {"meta": (HEAD_META, files.meta), "weights": (HEAD_WEIGHTS, files.weights)}
    if files.signature is not None:
        fields["signature"] = (SIGNATURE, files.signature)
    try:
        response = httpx.post(url.rstrip("/") + "/heads", files=fields, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)
    except httpx.TimeoutException:
        raise ConfigError(f"cloud {url}: no answer within {timeout_s:g} s") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ConfigError(f"cloud {url}: cannot reach it ({exc or type(exc).__name__})") from None
    return _answer(url, response)
