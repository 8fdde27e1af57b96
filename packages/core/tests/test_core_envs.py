"""The process env manager's cached venvs: extra packages are installed once (dynamic
dependency injection) and the venv is reused by the next start. Uses the package index."""

from __future__ import annotations

import subprocess
from pathlib import Path

from vlmhb.core.contracts import EnvSpec
from vlmhb.core.envs.process import ProcessEnvManager

EXTRA = "pyjokes==0.8.3"  # tiny, pure Python, not a dependency of the project


def test_venv_with_extra_package_is_created_once_and_reused(tmp_path: Path) -> None:
    manager = ProcessEnvManager(tmp_path / "envs")
    env = EnvSpec(packages=[EXTRA])
    first = manager.prepare(env)
    assert not first.cache_hit
    # the injected package and the core entry point are both importable in the venv
    probe = subprocess.run(
        [first.python, "-c", "import pyjokes, vlmhb.core.stage_runner; print(pyjokes.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(tmp_path / "envs") in probe.stdout

    second = manager.prepare(EnvSpec(packages=[EXTRA]))
    assert second.cache_hit and second.python == first.python and second.key == first.key
    assert manager.prepare(EnvSpec()).python != first.python  # no packages: this interpreter


def test_half_made_venv_is_rebuilt(tmp_path: Path) -> None:
    manager = ProcessEnvManager(tmp_path / "envs")
    env = EnvSpec(packages=[EXTRA])
    from vlmhb.core.envs.venv_cache import env_key

    broken = tmp_path / "envs" / env_key(env)
    broken.mkdir(parents=True)
    (broken / "leftover").write_text("killed mid-install", encoding="utf-8")
    prepared = manager.prepare(env)
    assert not prepared.cache_hit
    assert not (broken / "leftover").exists()
