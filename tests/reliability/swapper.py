"""Swaps a real folder for a symlink to outside and back, as fast as it can.

Run as ``python -m tests.reliability.swapper FOLDER OUTSIDE STOPFILE``: loops
until STOPFILE exists, then prints ``SWAPPED LOST`` (swaps made, swaps that lost
a race with an operation that made a new folder meanwhile). A process of its
own, so that it races the operations on another core, free of the GIL.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time


def swap(folder: str, outside: str, parked: str, link: str) -> bool:
    """Park the real folder, put the link in its place for a moment, then undo; False if
    an operation got in the way (a folder it made stays; a parked one stays parked)."""
    try:
        os.rename(folder, parked)
    except OSError:
        return False
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink(outside, link, target_is_directory=True)
        os.replace(link, folder)  # fails if an operation has just made a new folder
    except OSError:
        return False
    time.sleep(0.0003)
    os.unlink(folder)
    with contextlib.suppress(OSError):
        os.rename(parked, folder)
    return True


def main(folder: str, outside: str, stop: str) -> None:
    """Swap until ``stop`` exists; print the counts."""
    head, name = os.path.split(folder)
    link = os.path.join(head, f"link-{name}")
    swapped = lost = 0
    while not os.path.exists(stop):
        parked = os.path.join(head, f"parked-{name}-{swapped + lost}")
        if swap(folder, outside, parked, link):
            swapped += 1
        else:
            lost += 1
    print(swapped, lost)


if __name__ == "__main__":
    main(*sys.argv[1:4])
