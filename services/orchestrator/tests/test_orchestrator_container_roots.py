"""One owner of the data roots: the runner's submission policy and the container policy
read the same ``VLMHB_DATA_ROOT`` / ``VLMHB_MODEL_ROOTS`` (core ``Settings``, which
``RunnerSettings`` extends); container stages also mount the node's cache of synced
datasets (``VLMHB_DATA_CACHE_DIR``), which submitted configs cannot name."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmhb.core.envs.policy import container_policy
from vlmhb.core.settings import Settings
from vlmhb.orchestrator.settings import RunnerSettings, submission_policy


def test_submitted_configs_and_container_stages_share_the_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLMHB_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("VLMHB_MODEL_ROOTS", f'["{tmp_path / "weights"}"]')
    monkeypatch.setenv("VLMHB_DATA_CACHE_DIR", str(tmp_path / "cache"))
    runner = RunnerSettings()
    assert isinstance(runner, Settings)
    expected = ((tmp_path / "data").resolve(), (tmp_path / "weights").resolve())
    assert submission_policy(runner).data_roots == expected
    mounted = (*expected, (tmp_path / "cache").resolve())
    assert container_policy().mount_roots == mounted
    assert container_policy(runner).mount_roots == mounted


def test_without_a_data_root_both_use_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VLMHB_DATA_ROOT", raising=False)
    monkeypatch.delenv("VLMHB_MODEL_ROOTS", raising=False)
    monkeypatch.setenv("VLMHB_DATA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    assert submission_policy(RunnerSettings()).data_roots == (tmp_path.resolve(),)
    assert container_policy().mount_roots == (tmp_path.resolve(), (tmp_path / "cache").resolve())
