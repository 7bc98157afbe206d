"""The write chains that let a retried conditional put recognise its own landed write."""

from __future__ import annotations

from storeroom.providers.object.lineage import (
    DEPTH,
    ORIGIN,
    UNKNOWN,
    WRITE_TAG,
    Lineage,
    chain_of,
    successor,
    verdict,
)


def _stored(write_id: str, replaced: tuple[str, ...]) -> tuple[str, ...]:
    return chain_of({WRITE_TAG: successor(write_id, replaced)})


def test_a_write_is_recognised_after_other_writers_replaced_it() -> None:
    mine = _stored("a", (ORIGIN,))
    theirs = _stored("b", mine)
    later = _stored("c", theirs)
    assert verdict("a", (ORIGIN,), mine) is True
    assert verdict("a", (ORIGIN,), later) is True


def test_a_write_that_lost_is_known_to_have_lost() -> None:
    base = _stored("p", (ORIGIN,))
    theirs = _stored("b", base)  # replaced p, which "a" meant to replace
    assert verdict("a", base, theirs) is False
    assert verdict("a", (ORIGIN,), _stored("b", (ORIGIN,))) is False  # another create won


def test_a_gap_in_the_chain_is_unknown() -> None:
    overwritten = chain_of({})  # a plain put: no chain
    assert overwritten == (UNKNOWN,)
    assert verdict("a", (ORIGIN,), _stored("b", overwritten)) is None
    assert verdict("a", (ORIGIN,), None) is None  # deleted since


def test_chains_are_cut_and_marked_unknown() -> None:
    chain: tuple[str, ...] = (ORIGIN,)
    for index in range(DEPTH + 3):
        chain = _stored(f"w{index}", chain)
    assert len(chain) == DEPTH
    assert chain[-1] == UNKNOWN
    assert verdict("w0", (ORIGIN,), chain) is None  # too far back to tell
    assert verdict(f"w{DEPTH + 1}", (ORIGIN,), chain) is True


def test_old_single_ids_read_as_chains() -> None:
    assert chain_of({WRITE_TAG: "0123456789abcdef0123456789abcdef"})[-1] == UNKNOWN


def test_lineage_remembers_several_versions_per_key() -> None:
    seen = Lineage()
    seen.saw("k", '"e1"', ("a", ORIGIN))
    seen.saw("k", '"e2"', ("b", "a", ORIGIN))
    assert seen.of("k", '"e1"') == ("a", ORIGIN)  # a writer that read e1 still knows it
    assert seen.of("k", '"e2"') == ("b", "a", ORIGIN)
    assert seen.of("k", '"e3"') == (UNKNOWN,)
    assert seen.of("other", '"e1"') == (UNKNOWN,)
