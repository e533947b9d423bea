"""PostgreSQL URLs: which targets are one, and how to show one without its password.

Kept apart from ``_postgres`` so that telling a URL from a SQLite path (and
redacting it in a message) never imports psycopg.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["is_postgres_url", "redact_url", "secrets_of"]

SCHEMES = ("postgresql://", "postgres://")
HIDDEN = "***"


def is_postgres_url(target: str) -> bool:
    """Whether ``target`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return target.lower().startswith(SCHEMES)


def redact_url(url: str) -> str:
    """``url`` with its password (in the user part or a ``password=`` parameter) as ``***``.

    Every message and log line that names a PostgreSQL store goes through this;
    a URL too broken to split is not shown at all, since we cannot tell where
    its password is.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a PostgreSQL URL that cannot be parsed>"
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:{HIDDEN}@{hostport}"
    query = "&".join(
        f"{pair.split('=', 1)[0]}={HIDDEN}" if _is_password_pair(pair) else pair
        for pair in parts.query.split("&")
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def secrets_of(url: str) -> list[str]:
    """The password(s) in ``url``, as written and decoded, for scrubbing any text of them."""
    found: list[str] = []
    netloc = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    userinfo, at, _ = netloc.rpartition("@")
    if at and ":" in userinfo:
        found.append(userinfo.split(":", 1)[1])
    query = url.split("?", 1)[1] if "?" in url else ""
    found += [pair.split("=", 1)[1] for pair in query.split("&") if _is_password_pair(pair)]
    decoded = [unquote(s) for s in found]
    return sorted({s for s in found + decoded if s}, key=len, reverse=True)


def _is_password_pair(pair: str) -> bool:
    return "=" in pair and unquote(pair.split("=", 1)[0]).strip().lower() == "password"
