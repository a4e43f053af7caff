"""The per-user cache (testbed/cache.py): an entry is built once, reused while
whole, and rebuilt when a build was cut short or a file was damaged."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed import cache


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_VAR, str(tmp_path / "cache"))


def _builder(calls: list[Path]):  # noqa: ANN202 - a test helper
    def build(tmp: Path) -> None:
        calls.append(tmp)
        (tmp / "bin").mkdir()
        (tmp / "bin" / "tool").write_text("#!/bin/sh\necho hi\n")
        (tmp / "link").symlink_to("bin/tool")
    return build


def test_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache.cache_root() == tmp_path / "cache"
    monkeypatch.delenv(cache.CACHE_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "cse"


def test_digest_covers_every_part(tmp_path: Path) -> None:
    f = tmp_path / "recipe"
    f.write_text("a")
    one = cache.digest({"b": 1, "a": 2}, f)
    assert one == cache.digest({"a": 2, "b": 1}, f)  # key order does not matter
    f.write_text("b")
    assert cache.digest({"a": 2, "b": 1}, f) != one
    assert cache.digest("ab", "c") != cache.digest("a", "bc")  # parts are delimited


def test_built_once_then_reused() -> None:
    calls: list[Path] = []
    entry = cache.Entry("tools", "demo", "0123")
    path = cache.ensure(entry, _builder(calls))
    assert path == entry.path and (path / "link").resolve() == path / "bin" / "tool"
    assert cache.ensure(entry, _builder(calls)) == path
    assert len(calls) == 1
    assert cache.problem(path, "0123") is None
    assert cache.entries("tools") == [path]


def test_partial_entry_is_rebuilt() -> None:
    """A build killed before its manifest leaves no trusted entry."""
    calls: list[Path] = []
    entry = cache.Entry("tools", "demo", "0123")
    entry.path.mkdir(parents=True)
    (entry.path / "half").write_text("x")
    assert "no manifest" in (cache.problem(entry.path, "0123") or "")
    cache.ensure(entry, _builder(calls))
    assert len(calls) == 1 and not (entry.path / "half").exists()


@pytest.mark.parametrize("damage", ["truncate", "delete", "relink"])
def test_corrupt_entry_is_rebuilt(damage: str) -> None:
    calls: list[Path] = []
    entry = cache.Entry("tools", "demo", "0123")
    path = cache.ensure(entry, _builder(calls))
    if damage == "truncate":
        (path / "bin" / "tool").write_text("")
    elif damage == "delete":
        (path / "bin" / "tool").unlink()
    else:
        (path / "link").unlink()
        (path / "link").symlink_to("elsewhere")
    assert cache.problem(path, "0123") is not None
    said: list[str] = []
    cache.ensure(entry, _builder(calls), say=said.append)
    assert len(calls) == 2 and cache.problem(path, "0123") is None
    assert "rebuilding" in said[0]


def test_failed_build_leaves_nothing() -> None:
    entry = cache.Entry("tools", "demo", "0123")

    def fail(tmp: Path) -> None:
        (tmp / "x").write_text("x")
        raise RuntimeError("mirror down")

    with pytest.raises(RuntimeError, match="mirror down"):
        cache.ensure(entry, fail)
    assert not entry.path.exists()
    assert not [p for p in entry.path.parent.iterdir() if ".tmp-" in p.name]


def test_another_recipe_is_another_entry() -> None:
    calls: list[Path] = []
    a = cache.ensure(cache.Entry("tools", "demo", "aaaa"), _builder(calls))
    b = cache.ensure(cache.Entry("tools", "demo", "bbbb"), _builder(calls))
    assert a != b and len(calls) == 2 and a.exists() and b.exists()


def test_names_must_be_plain() -> None:
    for bad in ("../x", "", ".hidden", "a/b"):
        with pytest.raises(ValueError):
            cache.Entry("tools", bad, "0123")
