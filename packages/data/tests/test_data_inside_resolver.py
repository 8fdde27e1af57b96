"""``InsideResolver`` gives ``resolve_inside``'s answer on generated paths through real
folders, file and folder links (inside and out), ``..``, absolute and missing paths."""

from __future__ import annotations

import os
import random
from pathlib import Path

from vlmhb.data.readers._common import InsideResolver, resolve_inside


def tree(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "images" / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"x")
    for name in ("a.png", "b.png", "sub/c.png"):
        (root / "images" / name).write_bytes(b"x")
    os.symlink(outside / "secret.png", root / "images" / "leak.png")  # a file link out
    os.symlink(root / "images" / "a.png", root / "images" / "alias.png")  # a file link in
    os.symlink(outside, root / "out")  # a folder link out
    os.symlink(root / "images" / "sub", root / "images" / "subalias")  # a folder link in
    return root.resolve()


def test_the_same_answer_as_resolving_each_path(tmp_path: Path) -> None:
    root = tree(tmp_path)
    parts = ["images", "sub", "subalias", "out", "..", ".", "a.png", "leak.png", "alias.png"]
    parts += ["c.png", "secret.png", "missing.png", "data"]
    rng = random.Random(11)
    relatives = ["", ".", "..", str(tmp_path / "outside" / "secret.png"), "images/"]
    relatives += ["/".join(rng.choice(parts) for _ in range(rng.randint(1, 4))) for _ in range(600)]
    resolver = InsideResolver(root)
    inside = 0
    for relative in relatives:
        expected = resolve_inside(root, relative)
        assert resolver(relative) == expected, relative
        inside += expected is not None
    assert 50 < inside < len(relatives) - 50  # both answers were exercised
