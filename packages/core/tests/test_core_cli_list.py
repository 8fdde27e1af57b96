"""``vlmhb list``: every registry entry with what it is (its description, else its
docstring's first line) and where it comes from; a plugin that cannot load says why."""

from __future__ import annotations

from pathlib import Path

from vlmhb.core.registry import Registry

from .core_cli_helpers import run_vlmhb


def test_list_models_describes_each_backend_and_preset(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "models.yaml").write_text(
        "- kind: model\n  name: team-echo\n  backend: scripted\n  description: the team's echo\n"
    )
    done = run_vlmhb("list", "models", cwd=tmp_path, env={"VLMHB_REGISTRY_DIRS": str(registry)})
    assert done.returncode == 0, done.stderr
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if "│" in line}
    assert "Answers from a file or a rule" in rows["scripted"]
    assert "OCR engine behind the chat API" in rows["tesseract"]
    assert "preset: the team's echo" in rows["team-echo"]
    assert all(line.split("│")[2].strip() for line in rows.values()), done.stdout


def test_an_entry_that_cannot_load_says_why() -> None:
    registry: Registry[object] = Registry("thing")

    def broken() -> object:
        raise ImportError("No module named 'torch'")

    registry.register_lazy("needs-torch", broken, "a test")
    assert registry.entry("needs-torch").summary() == (
        "(cannot load: ImportError: No module named 'torch')"
    )
