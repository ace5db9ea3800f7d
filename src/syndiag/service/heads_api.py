"""Head exchange over HTTP (issue 18, Syn-Diag §3.5): the edge pushes a head package to the cloud, which checks the
upload token, then verifies and validates the package exactly as ``syndiag head import`` does, versions it, and can
roll back. A package is three files sent as form fields (no archive, so no path can escape it), each read with the
registry's size bound; a refused or interrupted upload leaves the registry as it was (its writes are atomic)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import FastAPI, Header, HTTPException, UploadFile

from syndiag.config.run import RunConfig
from syndiag.errors import SyndiagError
from syndiag.registry.package import MAX_META_BYTES, MAX_SIGNATURE_BYTES, MAX_WEIGHTS_BYTES, PackageFiles
from syndiag.registry.tokens import check_token


def tokens_file(config: RunConfig) -> Path:
    from syndiag.workflows.collaboration import heads_dir

    return heads_dir(config) / "tokens.sha256"


async def _bounded(upload: UploadFile | None, limit: int, name: str) -> bytes | None:
    if upload is None:
        return None
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{name}: larger than {limit} bytes")
    return data


def add_head_routes(app: FastAPI, config: RunConfig) -> None:
    def authorised(authorization: str | None) -> None:
        token = authorization.removeprefix("Bearer ").strip() if authorization and authorization.startswith("Bearer ") else None
        if not check_token(tokens_file(config), token):
            raise HTTPException(401, "a valid upload token is required (Authorization: Bearer <token>; syndiag head token)")

    @app.post("/heads")
    async def push(meta: UploadFile, weights: UploadFile, signature: UploadFile | None = None,
                   authorization: str | None = Header(None)) -> dict:
        from syndiag.registry.signing import UntrustedPackage
        from syndiag.workflows.collaboration import import_head

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
    def history() -> dict:
        from syndiag.workflows.collaboration import head_history

        try:
            return head_history(config)
        except SyndiagError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.post("/heads/rollback")
    def rollback(version: str, authorization: str | None = Header(None)) -> dict:
        from syndiag.workflows.collaboration import rollback_head

        authorised(authorization)
        try:
            rollback_head(config, version)
        except SyndiagError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"active": version}


def push_head(url: str, package: Path, token: str, timeout_s: float = 60.0) -> dict:
    """The edge's side: POST the package folder's files to ``url``/heads with the token; the cloud's answer."""
    import httpx

    from syndiag.registry.package import HEAD_META, HEAD_WEIGHTS, SIGNATURE

    files = PackageFiles.read(package)
    fields = {"meta": (HEAD_META, files.meta), "weights": (HEAD_WEIGHTS, files.weights)}
    if files.signature is not None:
        fields["signature"] = (SIGNATURE, files.signature)
    response = httpx.post(url.rstrip("/") + "/heads", files=fields, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500]}
    return {"status": response.status_code, **body}
