"""The store's ``database_url`` checked before serving (issue 27): parsed, its driver loaded, a connection made and the
tables created, so a bad URL, an unwritable SQLite path or a database server that is down is one named error, not a
traceback. Passwords are never shown."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from syndiag.errors import ConfigError
from syndiag.service.store import Store

EXAMPLES = "sqlite:///runs/service/diagnoses.db or postgresql://user@host/db"


def shown_url(url: str) -> str:
    """``url`` with its password hidden (as it may be printed)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _reason(exc: Exception) -> str:
    """The driver's own words (the first line), without SQLAlchemy's statement and links."""
    text = str(getattr(exc, "orig", None) or exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def check_database_url(url: str) -> None:
    """Open the store at ``url`` once, as ``syndiag serve`` will; a ConfigError naming the URL and the reason if it cannot."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database_url {url!r}: not a database URL ({EXAMPLES})") from None
    where = f"database_url {parsed.render_as_string(hide_password=True)!r}"
    try:
        Store(url).engine.dispose()
    except NoSuchModuleError:
        raise ConfigError(f"{where}: unknown database kind {parsed.drivername!r} ({EXAMPLES})") from None
    except ImportError as exc:
        raise ConfigError(f"{where}: its database driver is not installed ({exc})") from None
    except (SQLAlchemyError, OSError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot open the store: {_reason(exc)}") from None
