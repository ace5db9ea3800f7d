"""Upload tokens of the cloud's head API (issues 18 and 27): kept as sha256 digests only (``tokens.sha256``, mode 0600,
refused when other users may read or write it), each with its expiry and an optional label; a presented token is
compared against every digest in constant time.

A line is ``<sha256>;expires=<YYYY-MM-DDTHH:MM:SSZ>;label=<label>`` (the label optional). A line holding only the
digest (written before tokens expired) stays valid with no expiry. A token's id is its digest's first 8 hex digits:
shown when it is made and by ``syndiag head token --list``, and enough to revoke it."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from syndiag.errors import ConfigError, DataError
from syndiag.registry.signing import write_with_mode

DEFAULT_DAYS = 90
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,512}$")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_TOKEN_FILE_BYTES = 4096


@dataclass(frozen=True)
class TokenEntry:
    """One stored token: its digest, expiry (None: a token made before tokens expired) and label."""

    digest: str
    expires: datetime | None
    label: str | None = None

    @property
    def token_id(self) -> str:
        return self.digest[:8]

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires

    def line(self) -> str:
        fields = [self.digest] + ([f"expires={self.expires.strftime(TIME_FORMAT)}"] if self.expires else [])
        return ";".join(fields + ([f"label={self.label}"] if self.label else []))

    def shown(self) -> str:
        return self.token_id + (f" ({self.label})" if self.label else "")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _parse_line(line: str, where: str) -> TokenEntry:
    digest, *fields = line.split(";")
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ConfigError(f"{where}: not a sha256 digest (64 hex digits); the file is written by syndiag head token")
    found = dict(field.partition("=")[::2] for field in fields)
    if set(found) - {"expires", "label"} or ("label" in found and not LABEL_PATTERN.fullmatch(found["label"])):
        raise ConfigError(f"{where}: fields must be expires=<UTC time> and label=<letters, digits, _.@->")
    try:
        expires = datetime.strptime(found["expires"], TIME_FORMAT).replace(tzinfo=timezone.utc) if "expires" in found else None
    except ValueError:
        raise ConfigError(f"{where}: expires={found['expires'][:40]!r} is not a UTC time like 2030-01-31T12:00:00Z") from None
    return TokenEntry(digest, expires, found.get("label"))


def others_may_read(path: Path) -> int | None:
    """The file's permission bits when users other than its owner may read or write it (POSIX), else None."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    return mode if os.name == "posix" and mode & 0o077 else None


def read_tokens(path: Path) -> list[TokenEntry]:
    """The stored tokens (none when ``path`` is missing); refused when other users may read or write the file (like ssh)."""
    path = Path(path)
    if not path.is_file():
        return []
    if (mode := others_may_read(path)) is not None:
        raise ConfigError(f"{path}: upload token digests readable or writable by other users (mode {mode:o}); chmod 600 {path}")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [_parse_line(line.strip(), f"{path} line {n}") for n, line in enumerate(lines, 1) if line.strip()]


def _write_tokens(path: Path, entries: list[TokenEntry]) -> None:
    write_with_mode(Path(path), "".join(entry.line() + "\n" for entry in entries).encode("utf-8"), 0o600)


def issue_token(path: Path, days: int = DEFAULT_DAYS, label: str | None = None, now: datetime | None = None) -> tuple[str, TokenEntry]:
    """A new random token valid for ``days`` days; only its digest is stored (added to ``path``). The token is shown once."""
    if not 1 <= days <= 3650:
        raise ConfigError(f"a token lives 1 to 3650 days, not {days}")
    if label is not None and not LABEL_PATTERN.fullmatch(label):
        raise ConfigError(f"label {label[:80]!r}: use 1 to 64 letters, digits or _.@-")
    entries = read_tokens(path)
    token = secrets.token_urlsafe(32)
    entry = TokenEntry(_digest(token), (_now(now) + timedelta(days=days)).replace(microsecond=0), label)
    _write_tokens(path, entries + [entry])
    return token, entry


def new_token(path: Path, days: int = DEFAULT_DAYS, label: str | None = None) -> str:
    """A new token (see :func:`issue_token`)."""
    return issue_token(path, days, label)[0]


def find_token(path: Path, token: str | None) -> TokenEntry | None:
    """The stored entry of ``token``, expired or not (every digest compared, in constant time each)."""
    if not token:
        return None
    presented, found = _digest(token), None
    for entry in read_tokens(path):
        if hmac.compare_digest(entry.digest, presented):
            found = entry
    return found


def check_token(path: Path, token: str | None, now: datetime | None = None) -> bool:
    """Whether ``token`` is a stored one that has not expired."""
    entry = find_token(path, token)
    return entry is not None and not entry.expired(_now(now))


def revoke_tokens(path: Path, which: str) -> list[TokenEntry]:
    """Remove the tokens labelled ``which``, or the one whose id (digest) starts with ``which`` (6 hex digits at least)."""
    entries = read_tokens(path)
    by_label = [e for e in entries if e.label == which]
    by_id = [e for e in entries if len(which) >= 6 and e.digest.startswith(which.lower())] if re.fullmatch(r"[0-9a-fA-F]+", which) else []
    if len(by_id) > 1:
        raise ConfigError(f"{which!r} starts {len(by_id)} token ids ({', '.join(e.token_id for e in by_id)}): give more digits")
    gone = by_label or by_id
    if not gone:
        known = ", ".join(e.shown() for e in entries) or "none"
        raise ConfigError(f"no upload token has label or id {which[:80]!r} (tokens: {known}; syndiag head token --list)")
    _write_tokens(path, [e for e in entries if e not in gone])
    return gone


def read_token_file(path: Path) -> str:
    """The upload token an edge keeps in ``path``: one line, as ``syndiag head token`` printed it."""
    path = Path(path)
    with open(path, "rb") as handle:
        data = handle.read(MAX_TOKEN_FILE_BYTES + 1)
    token = data.decode("utf-8", errors="replace").strip()
    if not token:
        raise DataError(f"{path}: empty; put in it the token that syndiag head token printed on the cloud")
    if len(data) > MAX_TOKEN_FILE_BYTES or not TOKEN_PATTERN.fullmatch(token):
        raise DataError(f"{path}: not an upload token (one line of letters, digits, - and _, as syndiag head token prints)")
    return token
