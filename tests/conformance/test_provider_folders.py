"""One folder meaning on every backend (issue 10, item 2).

Deleting a file deletes it; ``Provider.delete`` never touches a folder;
``remove_folder`` removes an empty folder (its marker too, where the backend
needs one) and refuses a non-empty one with ``FolderNotEmpty``, leaving it
whole; ``FileStore.delete`` of a folder does the same and reports a non-empty
one as ``success=False`` with code ``folder_not_empty``. Each case checks
``exists``/``is_dir`` afterwards.
"""

from __future__ import annotations

import pytest

from storeroom import FolderNotEmpty, NotFound, Provider
from storeroom.filestore import FileStore

from .support import require


async def test_deleting_a_file_deletes_it_and_leaves_its_folder_alone(provider: Provider) -> None:
    await provider.put("f/a.txt", b"a")
    await provider.put("f/b.txt", b"b")
    await provider.delete("f/a.txt")
    assert not await provider.exists("f/a.txt")
    assert await provider.list("f") == ["f/b.txt"]
    assert await provider.is_dir("f")


async def test_remove_folder_removes_an_empty_folder(provider: Provider) -> None:
    require(provider, "empty_folders")
    await provider.makedirs("e/inner")
    assert await provider.is_dir("e/inner")
    await provider.remove_folder("e/inner")
    assert not await provider.is_dir("e/inner")
    assert not await provider.exists("e/inner")
    assert (await provider.list_dir("e")).folders == ()
    assert await provider.is_dir("e")  # its parent was made too, and is still there
    await provider.remove_folder("e")
    assert not await provider.is_dir("e")
    assert (await provider.list_dir("")).folders == ()
    assert await provider.list() == []


async def test_remove_folder_refuses_a_folder_that_holds_something(provider: Provider) -> None:
    await provider.put("full/x.txt", b"x")
    with pytest.raises(FolderNotEmpty):
        await provider.remove_folder("full")
    assert await provider.read("full/x.txt") == b"x"
    assert await provider.is_dir("full")
    if provider.capabilities.empty_folders:
        await provider.makedirs("nested/inner")
        with pytest.raises(FolderNotEmpty):
            await provider.remove_folder("nested")
        assert await provider.is_dir("nested/inner")


async def test_remove_folder_of_nothing_or_of_an_object_is_not_found(provider: Provider) -> None:
    await provider.put("obj", b"o")
    for path in ("missing", "obj"):
        with pytest.raises(NotFound):
            await provider.remove_folder(path)
    assert await provider.read("obj") == b"o"


async def test_delete_never_removes_a_folder(provider: Provider) -> None:
    await provider.put("keep/x", b"x")
    await provider.delete("keep")  # not an object: nothing to delete
    assert await provider.is_dir("keep")
    assert await provider.read("keep/x") == b"x"
    if provider.capabilities.empty_folders:
        await provider.makedirs("empty")
        await provider.delete("empty")
        assert await provider.is_dir("empty")


async def test_filestore_delete_of_files_and_folders(provider: Provider) -> None:
    store = FileStore(provider)
    assert (await store.write_text("docs/a.md", "a")).success
    result = await store.delete("docs")
    assert (result.success, result.metadata.get("code")) == (False, "folder_not_empty")
    assert await store.exists("docs/a.md")
    assert (await store.delete("docs/a.md")).success
    assert not await store.exists("docs/a.md")
    if provider.capabilities.empty_folders:
        assert (await store.create_directory("made/inner")).success
        assert (await store.delete("made/inner")).success
        assert not await store.exists("made/inner")
        assert not await provider.is_dir("made/inner")
        assert (await store.delete("made")).success
        assert not await store.exists("made")
    missing = await store.delete("never")
    assert (missing.success, missing.metadata.get("code")) == (False, "not_found")
