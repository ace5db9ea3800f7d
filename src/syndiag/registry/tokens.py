"""Upload tokens of the cloud's head API (issue 18): kept as sha256 digests only (``tokens.sha256``, mode 0600), a
presented token compared against each in constant time."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from syndiag.atomic import atomic_write_text


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(path: Path) -> str:
    """A new random token; only its digest is stored (appended to ``path``). The token itself is shown once."""
    token = secrets.token_urlsafe(32)
    path = Path(path)
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    atomic_write_text(path, existing + _digest(token) + "\n")
    os.chmod(path, 0o600)
    return token


def check_token(path: Path, token: str | None) -> bool:
    """Whether ``token`` is one of the stored ones (every digest compared, in constant time each)."""
    if not token or not Path(path).is_file():
        return False
    presented = _digest(token)
    found = False
    for line in Path(path).read_text(encoding="utf-8").split():
        found |= hmac.compare_digest(line.strip(), presented)
    return found
