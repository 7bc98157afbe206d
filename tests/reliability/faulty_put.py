"""The I/O fault sweep's child: runs one put per case while strace injects a fault.

Run as ``python -m tests.reliability.faulty_put FD ROOT``; FD is a connected
Unix socket to the parent. Messages go over the socket (``send``/``recv`` are
``sendto``/``recvfrom`` to the kernel, never the ``write`` or ``openat`` that a
case injects into). For each case the parent sends ``case MODE DURABLE KEY`` (MODE: ``overwrite``,
``create``, ``ifmatch`` or ``stream`` for ``write_stream``);
the child opens a fresh ``LocalProvider`` (and, for ``ifmatch``, reads the
etag), answers ``ready``, waits for ``go`` (the parent has attached strace by
then), puts new bytes and answers its outcome; on ``retry`` (strace gone) it
puts again the same way (a fresh etag for ``ifmatch``) and answers that outcome. ``quit`` ends it.

An outcome is ``ok``, ``storage CLASS CODE``, ``oserror ERRNO`` (a raw
``OSError`` escaped: a bug) or ``other CLASS`` (a bug).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

from storeroom import IfMatch, StorageError
from storeroom.providers.base import PutMode
from storeroom.providers.local import LocalProvider

#: Bytes written by the faulted put and by its retry.
FIRST = b"first" * 20_000
RETRY = b"retry" * 20_000
#: What every key holds before its case (``create`` cases use a fresh key instead).
BEFORE = b"before" * 10_000


async def _put(provider: LocalProvider, key: str, data: bytes, mode: PutMode | None) -> str:
    """Put ``data`` (``mode`` None: by ``write_stream`` in 32 KiB chunks); the outcome."""
    try:
        if mode is None:
            chunks = [data[at : at + 32768] for at in range(0, len(data), 32768)]
            await provider.write_stream(key, chunks)
        else:
            await provider.put(key, data, mode=mode)
    except StorageError as exc:
        return f"storage {type(exc).__name__} {exc.code}"
    except OSError as exc:
        return f"oserror {exc.errno}"
    except Exception as exc:  # report any other escape to the parent as a bug
        return f"other {type(exc).__name__}"
    return "ok"


def _mode(
    loop: asyncio.AbstractEventLoop, provider: LocalProvider, name: str, key: str
) -> PutMode | None:
    if name == "stream":
        return None
    if name == "ifmatch":
        etag = loop.run_until_complete(provider.head(key)).etag
        assert etag is not None
        return IfMatch(etag)
    return "overwrite" if name == "overwrite" else "create"


def serve(sock: socket.socket, root: str) -> None:
    """Answer the parent's cases until ``quit``.

    One event loop serves every case, with one executor thread: both exist
    before strace attaches, and a call made in a thread in calibration is made
    by the same thread in every case.
    """
    loop = asyncio.new_event_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    loop.run_until_complete(_put(LocalProvider(root, durable=True), "warm/up", BEFORE, "overwrite"))
    while True:
        words = sock.recv(4096).decode().split()
        if words[0] == "quit":
            loop.close()
            return
        _, mode_name, durable, key = words
        provider = LocalProvider(root, durable=durable == "1", sweep=False)
        mode = _mode(loop, provider, mode_name, key)
        sock.sendall(b"ready")
        assert sock.recv(4096) == b"go"
        sock.sendall(loop.run_until_complete(_put(provider, key, FIRST, mode)).encode())
        assert sock.recv(4096) == b"retry"
        retry_mode = _mode(loop, provider, mode_name, key)
        sock.sendall(loop.run_until_complete(_put(provider, key, RETRY, retry_mode)).encode())
        loop.run_until_complete(provider.aclose())


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])), sys.argv[2])
