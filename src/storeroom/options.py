"""Options of every URL: parsing query parameters and keywords, and masking secrets.

One place for how an option is read (:func:`split_options`, :func:`option_bool`,
:func:`option_float`, :func:`reject_unknown`) and for :func:`mask`, which every
URL passes through before it reaches an error message, a log line or a
``repr``. Providers and caches import from here; nothing here imports them.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from .errors import ConfigurationError

__all__ = [
    "WINDOWS_DRIVE",
    "mask",
    "option_bool",
    "option_float",
    "reject_unknown",
    "split_options",
]

_SECRET_WORDS = re.compile(
    r"(secret|password|passwd|token|key|sig|signature|sas|credential|auth|connection)",
    re.IGNORECASE,
)
WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def mask(url: str) -> str:
    """``url`` with its password and any secret-looking query values replaced by ``***``."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            netloc = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
        query = "&".join(
            f"{name}=***" if _SECRET_WORDS.search(name) else f"{name}={value}"
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        )
        if netloc == parts.netloc and query == parts.query:
            return url
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparsable url>"


def split_options(url: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Split ``url``'s query parameters off and merge them under ``options`` (keywords win).

    A plain path (no ``scheme://``) has no query: a ``?`` in it is part of the path.
    """
    if "://" not in url or WINDOWS_DRIVE.match(url):
        return url, dict(options)
    base, _, query = url.partition("?")
    merged: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    merged.update(options)
    return base.partition("#")[0], merged


def option_bool(name: str, value: object) -> bool:
    """A boolean option from a keyword or a query string (``true``/``false``, ``1``/``0``, ...)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"option {name}={value!r} is not a boolean (true/false)")


def option_float(name: str, value: object) -> float | None:
    """A number option from a keyword or a query string; ``none`` or ``""`` is ``None``."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(f"option {name}={value!r} is not a number") from None


def reject_unknown(options: dict[str, Any], known: frozenset[str], url: str) -> None:
    """Raise :class:`ConfigurationError` naming any option not in ``known``."""
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {', '.join(unknown)} for {mask(url)!r}; "
            f"known: {', '.join(sorted(known)) or 'none'}"
        )
