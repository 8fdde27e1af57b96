"""Manifests (canonical form, hash, checks) and the path rules every manifest or listing
path passes before anything is written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath

import pytest

from vlmhb.core.storage import DATASET_MANIFEST, StorageError
from vlmhb.data.storage.local import LocalProvider
from vlmhb.data.storage.manifest import (
    ManifestEntry,
    build_manifest,
    make_manifest,
    parse_manifest,
    write_manifest,
)
from vlmhb.data.storage.settings import StorageSettings
from vlmhb.data.storage.transfer import pull_folder
from vlmhb.data.storage.uri import parse_file_uri, parse_s3_uri, safe_join, safe_relpath

SHA_A = hashlib.sha256(b"a").hexdigest()
SHA_B = hashlib.sha256(b"bb").hexdigest()


@pytest.mark.parametrize("good", ["a", "a/b.jpg", "images/x y/ü.png", "..a", "a..b/c"])
def test_safe_relpath_accepts(good: str) -> None:
    assert safe_relpath(good) == PurePosixPath(good)


@pytest.mark.parametrize(
    "bad", ["", "/etc/x", "../x", "a/../../x", "a/..", ".", "./a", "a//b", "a/", "a\\b", "a\x00"]
)
def test_safe_relpath_refuses(bad: str) -> None:
    with pytest.raises(StorageError, match="refused path"):
        safe_relpath(bad)


def test_safe_join_refuses_a_symlink_out(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(StorageError, match="leads outside"):
        safe_join(root, PurePosixPath("link/x"))
    assert safe_join(root, PurePosixPath("sub/x")) == root / "sub" / "x"


def test_uris() -> None:
    assert parse_s3_uri("s3://bucket/a/b/").prefix == "a/b"
    assert parse_s3_uri("s3://bucket").uri == "s3://bucket"
    assert parse_file_uri("file:///data/sets/x") == Path("/data/sets/x")
    for bad in ("s3:///p", "s3://b/../x"):
        with pytest.raises(StorageError):
            parse_s3_uri(bad)
    for bad in ("file://host/x", "file:relative"):
        with pytest.raises(StorageError):
            parse_file_uri(bad)


def test_canonical_form_and_hash() -> None:
    manifest = make_manifest([ManifestEntry("b/ü.txt", 2, SHA_B), ManifestEntry("a.txt", 1, SHA_A)])
    expected = (
        '{"files":[{"path":"a.txt","sha256":"' + SHA_A + '","size":1},'
        '{"path":"b/ü.txt","sha256":"' + SHA_B + '","size":2}],"version":1}'
    ).encode()
    assert manifest.canonical() == expected
    assert manifest.dataset_hash() == hashlib.sha256(expected).hexdigest()
    pretty = json.dumps(json.loads(expected), indent=2).encode()  # any formatting: same hash
    assert parse_manifest(pretty, "x").dataset_hash() == manifest.dataset_hash()


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ([("a", SHA_A), ("a", SHA_B)], "appears twice"),
        ([("a", SHA_A), ("a/b", SHA_B)], "both a file and a folder"),
        ([("a", "not-a-sha")], "bad size or sha256"),
        ([(DATASET_MANIFEST, SHA_A)], "the manifest itself"),
        ([("../a", SHA_A)], "refused path"),
    ],
)
def test_bad_manifests_are_refused(files: list[tuple[str, str]], problem: str) -> None:
    data = json.dumps(
        {"version": 1, "files": [{"path": p, "size": 1, "sha256": s} for p, s in files]}
    )
    with pytest.raises(StorageError, match=problem):
        parse_manifest(data.encode(), "s3://b/p/vlmhb-manifest.json")


def test_build_manifest_skips_its_own_file_and_excluded(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_bytes(b"a")
    (tmp_path / "sub" / "b.txt").write_bytes(b"bb")
    (tmp_path / "sub" / "c.lock").write_bytes(b"")
    write_manifest(tmp_path, make_manifest([]))
    manifest = build_manifest(tmp_path, exclude=("*.lock",))
    assert [(e.path, e.size, e.sha256) for e in manifest.files] == [
        ("a.txt", 1, SHA_A),
        ("sub/b.txt", 2, SHA_B),
    ]


def test_pull_into_a_folder_never_follows_a_symlink_out(tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    (remote / "link").mkdir(parents=True)
    (remote / "link" / "x").write_bytes(b"a")
    write_manifest(remote, make_manifest([ManifestEntry("link/x", 1, SHA_A)]))
    local, outside = tmp_path / "local", tmp_path / "outside"
    local.mkdir()
    outside.mkdir()
    (local / "link").symlink_to(outside)
    with pytest.raises(StorageError, match="leads outside"):
        pull_folder(LocalProvider(remote), local, StorageSettings())
    assert list(outside.iterdir()) == []
