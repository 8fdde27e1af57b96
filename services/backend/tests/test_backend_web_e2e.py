"""The web UI's own checks, run from pytest: ``npm ci`` (when node_modules is missing),
``npm run build``, ``npm test`` (vitest) and ``npm run e2e`` (a real ``vlmhb serve`` driven
by Chromium through playwright-core; screenshots in services/web/e2e-artifacts/)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WEB = Path(__file__).resolve().parents[2] / "web"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
NPM = shutil.which("npm")


def _npm(*args: str, timeout: float) -> None:
    assert NPM is not None
    env = dict(os.environ)
    vlmhb = Path(sys.executable).with_name("vlmhb")
    if "VLMHB_BIN" not in env and vlmhb.exists():
        env["VLMHB_BIN"] = str(vlmhb)  # the vlmhb of this interpreter's environment
    env.pop("VLMHB_AUTH_TOKEN", None)
    result = subprocess.run([NPM, *args], cwd=WEB, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, (
        f"npm {' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout[-6000:]}"
        f"\n--- stderr\n{result.stderr[-4000:]}")


@pytest.mark.skipif(NPM is None, reason="npm is not installed")
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")
def test_web_ui_build_unit_and_e2e() -> None:
    if not (WEB / "node_modules").is_dir():
        _npm("ci", "--no-audit", "--no-fund", timeout=240)
    _npm("run", "build", timeout=120)
    _npm("test", timeout=120)
    _npm("run", "e2e", timeout=180)
    assert (WEB / "e2e-artifacts" / "OK").is_file()
    assert (WEB / "e2e-artifacts" / "07-samples.png").is_file()
