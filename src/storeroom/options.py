"""Options of every URL: parsing query parameters and keywords, and masking secrets.

One place for how an option is read (:func:`split_options`, :func:`option_bool`,
:func:`option_float`, :func:`reject_unknown`) and for :func:`mask`, which every
URL passes through before it reaches an error message, a log line or a
``repr``. Providers and caches import from here; nothing here imports them.

Typed configs (frozen dataclasses) are their own option list:
:func:`option_specs` derives each option's name, type, default and help from
the dataclass fields, their type hints and the ``Attributes:`` section of the
docstring, and :func:`parse_typed` converts strings by those hints. Fields
that come from the URL itself (bucket, prefix) carry :data:`FROM_URL`; a
field whose type is itself a typed config (``transport``) is nested.

A plain path takes the same ``?name=value`` query as ``file://``:
``./folder?durable=true`` is the folder ``./folder`` with ``durable=true``.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from .errors import ConfigurationError

__all__ = [
    "FROM_URL",
    "WINDOWS_DRIVE",
    "OptionSpec",
    "docstring_entries",
    "keyword_options",
    "mask",
    "option_bool",
    "option_float",
    "option_specs",
    "parse_typed",
    "pop_keywords",
    "reject_unknown",
    "split_options",
]

_SECRET_WORDS = re.compile(
    r"(secret|password|passwd|token|key|sig|signature|sas|credential|auth|connection)",
    re.IGNORECASE,
)
WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def mask(url: str) -> str:
    """``url`` with its password and any secret-looking query values replaced by ``***``.

    Works on the text, so it never fails and changes nothing else, even in a
    URL that does not parse.
    """
    if "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        user = userinfo.partition(":")[0]
        authority = f"{user}:***@{host}" if ":" in userinfo else f"***@{host}"
    path, question, query = tail.partition("?")
    query, hash_, fragment = query.partition("#")
    parts = []
    for part in query.split("&") if question else ():
        name, equals, value = part.partition("=")
        if equals and _SECRET_WORDS.search(unquote(name)):
            part = f"{name}=***"
        elif "://" in (inner := unquote(value)) and "@" in inner:  # endpoint=http://u:p@host
            part = f"{name}={mask(inner)}"
        parts.append(part)
    return f"{scheme}://{authority}{path}{question}{'&'.join(parts)}{hash_}{fragment}"


def split_options(url: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Split ``url``'s query parameters off and merge them under ``options`` (keywords win).

    A plain path takes the same query as a ``file://`` URL (``./folder?durable=true``);
    a ``#`` ends a URL's query but is part of a plain path.

    Raises:
        ConfigurationError: a query part is not ``name=value``.
    """
    base, _, query = url.partition("?")
    if "://" in url and not WINDOWS_DRIVE.match(url):
        base = base.partition("#")[0]
    merged: dict[str, Any] = {}
    for part in filter(None, query.split("&")):
        if "=" not in part:
            raise ConfigurationError(
                f"{mask(url)!r}: {part[:40]!r} after '?' is not an option (name=value); "
                "a '?' starts the options (in a plain path too)"
            )
        merged.update(parse_qsl(part, keep_blank_values=True))
    merged.update(options)
    return base, merged


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


#: Field metadata of a config field that comes from the URL itself, not an option.
FROM_URL: dict[str, bool] = {"from_url": True}


@dataclass(frozen=True)
class OptionSpec:
    """One option of a typed config, as derived from its dataclass field.

    Attributes:
        name: the option's name in URLs and keywords.
        type: ``bool``, ``int``, ``float`` or ``str``.
        default: the value when the option is not given.
        help: the field's line of the config's ``Attributes:`` docstring.
        secret: the value is kept out of ``repr`` (a credential).
    """

    name: str
    type: type
    default: Any
    help: str
    secret: bool = False


def docstring_entries(obj: object, section: str = "Attributes:") -> dict[str, str]:
    """The ``name: text`` entries of one section (``Attributes:``, ``Args:``) of a docstring."""
    found: dict[str, str] = {}
    inside, name = False, ""
    for line in (getattr(obj, "__doc__", None) or "").splitlines():
        stripped = line.strip()
        if stripped.endswith(":") and stripped[:-1].isalpha():
            inside, name = stripped == section, ""
            continue
        if not inside or not stripped:
            continue
        head, colon, text = stripped.partition(":")
        if colon and head.isidentifier() and len(line) - len(line.lstrip()) <= 8:
            name = head
            found[name] = text.strip()
        elif name:
            found[name] += " " + stripped
    return found


def _base_type(hint: Any) -> Any:
    """``int`` for ``int | None``; the hint itself otherwise."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def option_specs(cls: type) -> dict[str, OptionSpec]:
    """The options of the typed config ``cls``, nested configs included, by name."""
    hints = typing.get_type_hints(cls)
    helps = docstring_entries(cls)
    specs: dict[str, OptionSpec] = {}
    for spec in dataclasses.fields(cls):
        if spec.metadata.get("from_url") or not spec.init:
            continue
        kind = _base_type(hints[spec.name])
        if dataclasses.is_dataclass(kind):
            specs.update(option_specs(kind))  # type: ignore[arg-type]
            continue
        default = (
            spec.default_factory()
            if spec.default_factory is not dataclasses.MISSING
            else (None if spec.default is dataclasses.MISSING else spec.default)
        )
        specs[spec.name] = OptionSpec(
            spec.name, kind, default, helps.get(spec.name, ""), secret=not spec.repr
        )
    return specs


def _convert(name: str, kind: Any, raw: Any) -> Any:
    """``raw`` (a string or a typed value) as the option ``name`` of type ``kind``."""
    if raw is None:
        return None
    if kind is bool:
        return option_bool(name, raw)
    if kind in (int, float):
        number = option_float(name, raw)
        if number is None or number < 0 or (kind is int and not number.is_integer()):
            raise ConfigurationError(f"option {name} must be a number >= 0, not {raw!r}")
        return kind(number)
    if kind is str:
        return str(raw)
    return raw  # an object option (an index, say): passed on as given


def parse_typed(cls: type, options: dict[str, Any]) -> dict[str, Any]:
    """Take the options of ``cls``'s own fields out of ``options``, each converted by its hint.

    Nested configs are left to their own call. Numbers must be ``>= 0``.

    Raises:
        ConfigurationError: a value that is not of its option's type.
    """
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):
        if spec.name not in options or spec.metadata.get("from_url"):
            continue
        kind = _base_type(hints[spec.name])
        if not dataclasses.is_dataclass(kind):
            values[spec.name] = _convert(spec.name, kind, options.pop(spec.name))
    return values


#: Keyword-only parameters that are not options: who owns (and closes) a provider is
#: decided by whoever opened it, never by a URL.
_NOT_OPTIONS = frozenset({"owns_provider"})


def keyword_options(function: Any) -> dict[str, OptionSpec]:
    """The keyword-only parameters of ``function`` as options (for stores built on a provider).

    A parameter whose annotation names a type only known to type checkers (an
    import under ``TYPE_CHECKING``) is an option of type ``object``: its value
    is passed on unconverted.
    """
    try:
        hints = typing.get_type_hints(function)
    except NameError:
        hints = {}
        for name, annotation in getattr(function, "__annotations__", {}).items():
            try:
                hints[name] = typing.get_type_hints(
                    type("_One", (), {"__annotations__": {name: annotation}}),
                    globalns=getattr(function, "__globals__", None),
                )[name]
            except NameError:
                hints[name] = object
    found: dict[str, OptionSpec] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name in _NOT_OPTIONS:
            continue
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            kind = _base_type(hints.get(parameter.name, str))
            found[parameter.name] = OptionSpec(parameter.name, kind, parameter.default, "")
    return found


def pop_keywords(function: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Take ``function``'s keyword-only options out of ``options``, converted by their hints.

    Raises:
        ConfigurationError: a value that is not of its option's type.
    """
    return {
        name: _convert(name, spec.type, options.pop(name))
        for name, spec in keyword_options(function).items()
        if name in options
    }
