"""The web UI's own checks, run from pytest: ``npm ci`` (when node_modules is missing),
``npm run build``, ``npm test`` (vitest) and ``npm run e2e`` (a real ``vlmhb serve`` driven
by Chromium through playwright-core; screenshots in services/web/e2e-artifacts/)."""

from __future__ import annotations

import pytest
from vlmhb_backend_testkit import CHROMIUM, NPM, WEB, ensure_node_modules, npm

pytestmark = pytest.mark.slow


@pytest.mark.timeout(600)  # build, vitest and an e2e of three experiments on shared CPUs
@pytest.mark.skipif(NPM is None, reason="npm is not installed")
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed")
def test_web_ui_build_unit_and_e2e() -> None:
    ensure_node_modules()
    npm("run", "build", timeout=120)
    npm("test", timeout=120)
    npm("run", "e2e", timeout=420)  # three experiments, the hosts dry run, on shared CPUs
    assert (WEB / "e2e-artifacts" / "OK").is_file()
    assert (WEB / "e2e-artifacts" / "07-samples.png").is_file()
    for view in ("01-leaderboard", "02-samples-crop", "04-compare"):  # e2e/views.mjs
        assert (WEB / "e2e-artifacts" / f"views-{view}.png").is_file()
    for shot in ("02-example-completed", "03-legacy-one-file", "06-log-completed"):  # submit.mjs
        assert (WEB / "e2e-artifacts" / f"submit-{shot}.png").is_file()
