"""Lineage: input references resolved at store time, and walking them both ways.

``store_artifact(..., inputs=[...])`` resolves every reference to a concrete
version number before the manifest is written (``"latest"`` and aliases move;
a number does not), and refuses an input that does not exist. The manifest
records ``inputs`` as ``[{"name": ..., "version": n}, ...]``.

:func:`walk` goes up by reading manifests (no index needed) and down by
finding the versions whose ``input`` is the current one: through the index
when the store has one, by scanning otherwise. The filter is built as a typed
tree, never as text. Each version is visited once, so cycles cannot occur
(and could not loop).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import NotFound
from .query import Compare, Field, parse_ref
from .rows import parse_order
from .search import MAX_LIMIT, find_tree

if TYPE_CHECKING:
    from ..artifactstore import ArtifactStore

__all__ = ["InputRef", "Link", "resolve_inputs", "walk"]

#: An input as given: ``"name"`` (its latest), ``"name@v3"``, or ``("name", "v3" | alias)``.
InputRef = str | tuple[str, str | int | None]


@dataclass(frozen=True, slots=True)
class Link:
    """One step of a walk: ``name@version`` reached from ``via_name@via_version``."""

    depth: int
    name: str
    number: int
    via_name: str
    via_number: int

    @property
    def version(self) -> str:
        return f"v{self.number}"

    def to_dict(self) -> dict[str, object]:
        return {
            "depth": self.depth,
            "artifact": f"{self.name}@v{self.number}",
            "via": f"{self.via_name}@v{self.via_number}",
        }


async def resolve_inputs(
    store: ArtifactStore, inputs: Iterable[InputRef]
) -> tuple[tuple[str, int], ...]:
    """Each input as ``(name, number)``, in order, duplicates dropped.

    Raises:
        NotFound: an input names no existing version.
        TypeError: an input is neither a str nor a (name, version) pair.
    """
    resolved: list[tuple[str, int]] = []
    for ref in inputs:
        if isinstance(ref, str):
            name, number = parse_ref(ref)
            version: str | None = None if number is None else f"v{number}"
        elif isinstance(ref, tuple) and len(ref) == 2 and isinstance(ref[0], str):
            name = ref[0]
            version = None if ref[1] is None else (
                f"v{ref[1]}" if isinstance(ref[1], int) else str(ref[1])
            )
        else:
            raise TypeError(f"an input is 'name', 'name@v3' or ('name', 'v3'), not {ref!r}")
        try:
            found = await store.get_version(name, version)
        except NotFound as exc:
            raise NotFound(f"input {name}@{version or 'latest'} does not exist: {exc}",
                           path=name) from None
        if (found.name, found.number) not in resolved:
            resolved.append((found.name, found.number))
    return tuple(resolved)


async def walk(
    store: ArtifactStore,
    name: str,
    version: str | None = None,
    *,
    direction: Literal["up", "down"] = "up",
    depth: int | None = None,
) -> list[Link]:
    """Breadth-first links from ``name@version``: its inputs (``up``) or what used it (``down``).

    Raises:
        NotFound: no such artifact or version.
        ValueError: ``direction`` is not ``up``/``down`` or ``depth`` < 1.
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction is 'up' or 'down', not {direction!r}")
    if depth is not None and depth < 1:
        raise ValueError("depth must be >= 1 (None: no limit)")
    start = await store.get_version(name, version)
    seen = {(start.name, start.number)}
    frontier = [(start.name, start.number)]
    links: list[Link] = []
    level = 0
    order = parse_order(None)
    while frontier and (depth is None or level < depth):
        level += 1
        following: list[tuple[str, int]] = []
        for node in frontier:
            for step in await _neighbours(store, node, direction, order):
                links.append(Link(level, step[0], step[1], node[0], node[1]))
                if step not in seen:
                    seen.add(step)
                    following.append(step)
        frontier = following
    return links


async def _neighbours(
    store: ArtifactStore, node: tuple[str, int], direction: str, order: tuple[tuple[str, bool], ...]
) -> list[tuple[str, int]]:
    if direction == "up":
        try:
            found = await store.get_version(node[0], f"v{node[1]}")
        except NotFound:  # an input deleted since: the walk stops there
            return []
        return list(getattr(found, "inputs", ()))
    tree = Compare(Field("input"), "=", node)
    out: list[tuple[str, int]] = []
    last = None
    while True:
        page = await find_tree(store, tree, order, MAX_LIMIT, last)
        out.extend((e.name, e.number) for e in page.entries)
        if page.next_page_token is None:
            return out
        last = [page.entries[-1].name, page.entries[-1].number]
