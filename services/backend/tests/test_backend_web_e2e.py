"""The web UI's own checks, run from pytest: ``npm ci`` (when node_modules is missing),
``npm run build``, ``npm test`` (vitest) and ``npm run e2e`` (a real ``vlmhb serve`` driven
by Chromium through playwright-core; screenshots in services/web/e2e-artifacts/)."""

from __future__ import annotations

import pytest
from vlmhb_backend_testkit import CHROMIUM, NPM, WEB, ensure_node_modules, npm

pytestmark = pytest.mark.slow


@pytest.mark.skipif(NPM is None, reason="npm is not installed")
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")
def test_web_ui_build_unit_and_e2e() -> None:
    ensure_node_modules()
    npm("run", "build", timeout=120)
    npm("test", timeout=120)
    npm("run", "e2e", timeout=180)
    assert (WEB / "e2e-artifacts" / "OK").is_file()
    assert (WEB / "e2e-artifacts" / "07-samples.png").is_file()
