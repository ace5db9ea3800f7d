"""Content digests of small JSON artefacts (a RUL checkpoint's config, an open-set threshold): the sha256 of the record's
canonical JSON, stored in the record itself, so a hand edit of any field is refused on load instead of changing an answer.

The canonical form is ``json.dumps(record less the digest key, sort_keys=True, separators=(",", ":"))``; a record is
digested as it reads back from its file (:func:`as_read`), so a tuple or a path gives the same digest before and after."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from syndiag.errors import DataError


def as_read(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as it reads back from its JSON file (tuples as lists, anything else JSON lacks as its ``str``)."""
    return json.loads(json.dumps(record, default=str))


def json_sha256(record: dict[str, Any], key: str) -> str:
    """The sha256 of the canonical JSON of ``record`` without its digest field ``key``."""
    content = {k: v for k, v in record.items() if k != key}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def with_digest(record: dict[str, Any], key: str) -> dict[str, Any]:
    """``record`` as read back, with its content digest under ``key``."""
    record = as_read(record)
    return {**record, key: json_sha256(record, key)}


def check_digest(path: Path, record: dict[str, Any], key: str, remake: str) -> None:
    """Refuse ``record`` (read from ``path``) when it lacks its content digest ``key`` or its content no longer matches it;
    ``remake`` is the command that writes the artefact again."""
    recorded = record.get(key)
    if not isinstance(recorded, str):
        raise DataError(f"{path}: records no {key} (written before its content was digested), so a change to it cannot be "
                        f"detected; make it again with `{remake}`")
    if recorded != json_sha256(record, key):
        raise DataError(f"{path}: its content does not match its {key}: the file was changed after `{remake}` wrote it; "
                        f"run `{remake}` again")
