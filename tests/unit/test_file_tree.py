"""FileTree: confinement by real paths, and the stat memo that spares a re-sync its reads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from bot.catalog.files import FileTree, KnownFile, RealPaths, stat_key, walk

DOC = (
    "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-{}\n"
    "spec:\n  type: team\n  children: []\n"
)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_read_before_and_unchanged_since_is_known_without_reading(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(DOC.format("a"))
    first = FileTree(tmp_path, racy_ns=0)  # no racy window: the file was written just now
    data, _ = first.read("a.yaml")
    assert data is not None
    first.remember("a.yaml", hashlib.sha256(data).hexdigest())

    again = FileTree(tmp_path, memo=first.memo_next, racy_ns=0)
    assert again.unchanged("a.yaml", sha(tmp_path / "a.yaml"))
    assert not again.unchanged("a.yaml", "0" * 64)  # the store knows another hash: read it
    assert again.memo_next == first.memo_next  # carried to the walk after


def test_a_rewrite_of_the_same_size_and_mtime_is_still_noticed(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(DOC.format("a"))
    first = FileTree(tmp_path, racy_ns=0)
    data, _ = first.read("a.yaml")
    assert data is not None
    first.remember("a.yaml", hashlib.sha256(data).hexdigest())
    before = path.stat()
    path.write_text(DOC.format("b"))  # same length
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old mtime
    again = FileTree(tmp_path, memo=first.memo_next, racy_ns=0)
    assert not again.unchanged("a.yaml", hashlib.sha256(data).hexdigest())  # ctime moved


def test_a_file_changed_just_before_the_walk_is_not_remembered(tmp_path: Path) -> None:
    # Within the same timestamp tick a later change could keep size and times: read it again.
    (tmp_path / "a.yaml").write_text(DOC.format("a"))
    first = FileTree(tmp_path)  # the default two-second window
    data, _ = first.read("a.yaml")
    assert data is not None
    first.remember("a.yaml", hashlib.sha256(data).hexdigest())
    assert first.memo_next == {}


def test_walk_takes_unchanged_files_from_the_memo_and_reads_the_changed(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: all\n"
        "spec:\n  targets: [./a.yaml, ./b.yaml]\n"
    )
    (tmp_path / "a.yaml").write_text(DOC.format("a"))
    (tmp_path / "b.yaml").write_text(DOC.format("b"))
    tree = FileTree(tmp_path, racy_ns=0)
    reads = walk(tree, "all.yaml", {})
    known = {r.path: KnownFile(r.sha256 or "", r.children) for r in reads}
    (tmp_path / "b.yaml").write_text(DOC.format("bb"))
    os.unlink(tmp_path / "a.yaml")  # gone: the memo must not answer for it
    again = walk(FileTree(tmp_path, memo=tree.memo_next, racy_ns=0), "all.yaml", known)
    by_path = {r.path: r for r in again}
    assert not by_path["all.yaml"].parsed and by_path["all.yaml"].children == ("a.yaml", "b.yaml")
    assert by_path["a.yaml"].problems[0].message == "file not found (a target of all.yaml)"
    assert by_path["b.yaml"].parsed


def test_a_fresh_walk_trusts_the_stat_the_last_sync_stored(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: all\n"
        "spec:\n  targets: [./a.yaml]\n"
    )
    a = tmp_path / "a.yaml"
    a.write_text(DOC.format("a"))
    reads = {r.path: r for r in walk(FileTree(tmp_path, racy_ns=0), "all.yaml", {})}
    info = a.stat()
    key = f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}:{info.st_dev}"
    assert reads["a.yaml"].stat == key  # what the sync stores with the file's hash
    assert stat_key(key) == key and stat_key("1:2:x:4:5") is None
    assert stat_key("1:2:3:4") is None and stat_key("01:2:3:4:5") == "1:2:3:4:5"
    assert stat_key("1:-2:3:4:5") == "1:-2:3:4:5"  # a file dated before 1970

    # A fresh process (an empty memo) and what the store kept. The stored hash is not the
    # file's: only a walk that takes the file as unchanged by its stat leaves it unparsed.
    known = {
        "all.yaml": KnownFile(reads["all.yaml"].sha256 or "", ("a.yaml",), reads["all.yaml"].stat),
        "a.yaml": KnownFile("0" * 64, (), key),
    }
    again = {r.path: r for r in walk(FileTree(tmp_path, memo={}, racy_ns=0), "all.yaml", known)}
    assert not again["a.yaml"].parsed and again["a.yaml"].sha256 == "0" * 64
    assert again["a.yaml"].stat == key

    os.utime(a, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))  # touched: its stat moved
    touched = {r.path: r for r in walk(FileTree(tmp_path, memo={}, racy_ns=0), "all.yaml", known)}
    assert touched["a.yaml"].parsed and touched["a.yaml"].sha256 == sha(a)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_real_paths_follow_links_in_any_folder_of_the_path(tmp_path: Path) -> None:
    (tmp_path / "real" / "deep").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    paths = RealPaths()
    folder = str(tmp_path / "link" / "deep")
    assert paths.folder(folder) == os.path.realpath(folder)
    assert paths.folder(str(tmp_path / "real")) == os.path.realpath(tmp_path / "real")
    tree = FileTree(tmp_path / "real")
    assert tree.relative(tmp_path / "link" / "deep" / "x.yaml") == "deep/x.yaml"


@pytest.mark.parametrize(
    "pattern",
    ["**/*.yaml", "*/*.yaml", "a/**", "**", "a/b/*.y*ml", "*.yaml", ".h/*.yaml", "a/.*",
     "a/**/c/*.yml", "nope/*.yaml", "a/../d/*.yaml", "[ad]/*.yaml", "a/?.yaml"],
)  # fmt: skip
def test_safe_glob_matches_what_glob_matches_without_links(tmp_path: Path, pattern: str) -> None:
    import glob

    from bot.catalog.files import safe_glob

    for rel in ("x.yaml", "a/y.yaml", "a/b/z.yaml", "a/b/c/w.yml", ".h/q.yaml", "a/.p.yaml",
                "d/e.yaml"):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    full = f"{tmp_path}/{pattern}"
    expected = sorted(p.rstrip("/") for p in glob.glob(full, recursive=True))
    assert safe_glob(full) == (expected, None)


def test_safe_glob_does_not_follow_directory_links_and_stops_at_its_caps(tmp_path: Path) -> None:
    from bot.catalog.files import safe_glob

    (tmp_path / "loop").mkdir()
    (tmp_path / "loop" / "x.yaml").write_text("")
    for link in ("l1", "l2", "l3"):
        (tmp_path / "loop" / link).symlink_to(".")
    assert safe_glob(f"{tmp_path}/loop/**/*.yaml") == ([f"{tmp_path}/loop/x.yaml"], None)
    found, stopped = safe_glob(f"{tmp_path}/loop/*/*/*/*.yaml", max_matches=10)
    assert (len(found), stopped) == (10, "matches more than 10 paths")
    found, stopped = safe_glob(f"{tmp_path}/loop/*/*/*/*.yaml", max_scanned=20)
    assert stopped == "looks at more than 20 directory entries"


def test_an_unchanged_location_whose_glob_matches_the_same_files_keeps_its_targets(
    tmp_path: Path,
) -> None:
    # The re-sync fast path: the glob is matched again but nothing is resolved or re-read.
    from bot.catalog.files import FileTree, KnownFile, _unchanged

    (tmp_path / "all.yaml").write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: all}\n"
        "spec: {targets: ['./svc/*/catalog-info.yaml', ./teams.yaml]}\n"
    )
    for name in ("a", "b"):
        (tmp_path / "svc" / name).mkdir(parents=True)
        (tmp_path / "svc" / name / "catalog-info.yaml").write_text("kind: Component\n")
    known = KnownFile("sha", ("svc/a/catalog-info.yaml", "svc/b/catalog-info.yaml", "teams.yaml"))
    same = _unchanged(FileTree(tmp_path), "all.yaml", known, None)
    assert same.children is known.children
    (tmp_path / "svc" / "c").mkdir()
    (tmp_path / "svc" / "c" / "catalog-info.yaml").write_text("kind: Component\n")
    grown = _unchanged(FileTree(tmp_path), "all.yaml", known, None)
    assert grown.children == (
        "svc/a/catalog-info.yaml", "svc/b/catalog-info.yaml", "svc/c/catalog-info.yaml",
        "teams.yaml",
    )  # fmt: skip
