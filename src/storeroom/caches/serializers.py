"""How cache values become bytes in Redis, and back.

Every payload starts with one format byte, so an entry written in one format
is never read as another:

- ``m`` — :class:`MsgpackSerializer`, the default and safe: ``str``, ``bytes``,
  ``int`` (any size), ``float``, ``bool``, ``None``, ``list`` and ``dict``
  round-trip exactly; tuples come back as lists (as dict keys, as tuples);
  other types, and a ``str`` that is not valid Unicode, raise ``TypeError``
  on ``dumps``. Reading a payload can never run code.
- ``p`` — :class:`SignedPickleSerializer`, only when asked for: any picklable
  value, each payload signed with HMAC-SHA256 under a secret key. The
  signature is checked with :func:`hmac.compare_digest` before ``pickle``
  sees a single byte, so a planted or tampered entry is rejected, never
  loaded.

``loads`` raises :class:`~storeroom.errors.IntegrityError` for a payload it
refuses (wrong format byte, bad signature, undecodable bytes).
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
from typing import Any, Protocol

import msgpack

from ..errors import ConfigurationError, IntegrityError

__all__ = ["MsgpackSerializer", "Serializer", "SignedPickleSerializer"]

_MSGPACK = b"m"
_PICKLE = b"p"
_BIG_INT = 1  # msgpack ext code: an int outside 64 bits, as its decimal text
_SIGNATURE_BYTES = hashlib.sha256().digest_size
_MIN_KEY_BYTES = 16


class Serializer(Protocol):
    """Turns a cache value into bytes and back."""

    def dumps(self, value: Any) -> bytes:
        """The bytes stored for ``value`` (``TypeError`` if it cannot be stored)."""

    def loads(self, data: bytes) -> Any:
        """The value stored as ``data`` (:class:`IntegrityError` if refused)."""


def _pack_default(value: Any) -> Any:
    if isinstance(value, int):  # only reached for ints msgpack cannot hold natively
        return msgpack.ExtType(_BIG_INT, str(value).encode("ascii"))
    raise TypeError(
        f"cannot cache a {type(value).__name__} with the msgpack serializer "
        "(str, bytes, int, float, bool, None, list, dict); use SignedPickleSerializer"
    )


def _tuple_key(key: Any) -> Any:
    return tuple(_tuple_key(item) for item in key) if isinstance(key, list) else key


def _with_tuple_keys(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    """A map whose keys were tuples (msgpack packs them as arrays) as a dict again."""
    return {_tuple_key(key): value for key, value in pairs}


def _unpack_ext(code: int, data: bytes) -> Any:
    if code == _BIG_INT:
        return int(data.decode("ascii"))
    raise ValueError(f"unknown msgpack extension type {code}")


class MsgpackSerializer:
    """The safe default: msgpack with exact round-trips of the JSON-like types plus bytes."""

    def __repr__(self) -> str:
        return "MsgpackSerializer()"

    def dumps(self, value: Any) -> bytes:
        try:
            packed: bytes = msgpack.packb(value, use_bin_type=True, default=_pack_default)
        except UnicodeEncodeError as exc:
            raise TypeError(f"cannot cache a str that is not valid Unicode: {exc}") from None
        return _MSGPACK + packed

    def loads(self, data: bytes) -> Any:
        if data[:1] != _MSGPACK:
            raise IntegrityError("cache entry is not in msgpack format; refused")
        try:
            try:
                return msgpack.unpackb(
                    data[1:], raw=False, strict_map_key=False, ext_hook=_unpack_ext
                )
            except TypeError:  # a tuple key came back as a list, which no dict takes
                return msgpack.unpackb(
                    data[1:], raw=False, strict_map_key=False, ext_hook=_unpack_ext,
                    object_pairs_hook=_with_tuple_keys,
                )  # fmt: skip
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise IntegrityError("cache entry is not valid msgpack; refused") from exc


class SignedPickleSerializer:
    """Pickle, signed: any picklable value, never unpickled without a valid signature.

    Only processes that hold ``key`` can write entries this serializer loads.
    Treat the key like a password (it never appears in ``repr``).

    Args:
        key: the HMAC-SHA256 secret, at least 16 bytes (``str`` is UTF-8 encoded).
        protocol: the pickle protocol.
    """

    def __init__(self, key: bytes | str, *, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        secret = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        if len(secret) < _MIN_KEY_BYTES:
            raise ConfigurationError(
                f"the pickle signing key must be at least {_MIN_KEY_BYTES} bytes"
            )
        self._key = secret
        self._protocol = protocol

    def __repr__(self) -> str:
        return "SignedPickleSerializer(key=***)"

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()

    def dumps(self, value: Any) -> bytes:
        body = pickle.dumps(value, protocol=self._protocol)
        return _PICKLE + self._sign(body) + body

    def loads(self, data: bytes) -> Any:
        if data[:1] != _PICKLE or len(data) < 1 + _SIGNATURE_BYTES:
            raise IntegrityError("cache entry is not a signed pickle; refused")
        signature = data[1 : 1 + _SIGNATURE_BYTES]
        body = data[1 + _SIGNATURE_BYTES :]
        if not hmac.compare_digest(signature, self._sign(body)):
            raise IntegrityError("cache entry has a bad signature; refused")
        # Safe: the body was signed with our secret key, so we wrote it.
        return pickle.loads(body)  # noqa: S301
