"""A real browser (Debian chromium via playwright-core) proves that a page on another
origin cannot create an experiment, even while the user is logged in to the dashboard in
that browser: ``services/web/e2e/cross-origin.mjs`` logs in with the token link, then opens
an attacker's page served from a second local HTTP server (another port, so same site:
the SameSite=Strict cookie does go along) that sends no-cors text/plain and multipart
fetches, CORS YAML/JSON fetches, three kinds of form posts and a WebSocket."""

from __future__ import annotations

import functools
import html
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from vlmhb_backend_testkit import (
    AUTH,
    CHROMIUM,
    NPM,
    TEST_TOKEN,
    WEB,
    ensure_node_modules,
    server,
)
from vlmhb_orchestrator_testkit import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NPM is None, reason="npm is not installed"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]

ATTACK_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cute cats</title></head><body>
<form id="form-text" method="POST" action="{api}/experiments" enctype="text/plain"
      target="form-text-frame"><input type="hidden" name="{text_name}" value=""></form>
<form id="form-url" method="POST" action="{api}/experiments"
      target="form-url-frame"><input type="hidden" name="config" value="{yaml_attr}"></form>
<form id="form-multi" method="POST" action="{api}/experiments" enctype="multipart/form-data"
      target="form-multi-frame">
  <textarea name="user_config.csv">{csv}</textarea><textarea name="vlm_base.csv">{csv}</textarea>
</form>
<iframe name="form-text-frame"></iframe><iframe name="form-url-frame"></iframe>
<iframe name="form-multi-frame"></iframe>
<script>
const api = {api_js};
const yaml = {yaml_js};
const results = {{}};
async function attempt(name, fn) {{
  try {{ results[name] = await fn(); }} catch (e) {{ results[name] = 'error: ' + e; }}
}}
const post = (path, init) =>
  fetch(api + path, {{ method: 'POST', credentials: 'include', ...init }});
function submitForm(id) {{
  return new Promise((resolve) => {{
    document.querySelector(`iframe[name="${{id}}-frame"]`).onload = () => resolve('loaded');
    document.getElementById(id).submit();
    setTimeout(() => resolve('timeout'), 10000);
  }});
}}
(async () => {{
  await attempt('noCorsTextPlain', async () => (await post('/experiments', {{
    mode: 'no-cors', headers: {{ 'Content-Type': 'text/plain' }}, body: yaml }})).type);
  await attempt('noCorsYaml', async () => (await post('/experiments', {{
    mode: 'no-cors', headers: {{ 'Content-Type': 'application/yaml' }}, body: yaml }})).type);
  await attempt('noCorsMultipart', async () => {{
    const form = new FormData();
    form.append('user_config.csv', new Blob([{csv_js}]), 'user_config.csv');
    form.append('vlm_base.csv', new Blob([{csv_js}]), 'vlm_base.csv');
    return (await post('/experiments', {{ mode: 'no-cors', body: form }})).type;
  }});
  await attempt('noCorsCancel', async () => (await post('/experiments/x/cancel', {{
    mode: 'no-cors' }})).type);
  await attempt('corsYaml', async () => (await post('/experiments', {{
    mode: 'cors', headers: {{ 'Content-Type': 'application/yaml' }}, body: yaml }})).status);
  await attempt('corsJson', async () => (await post('/experiments', {{
    mode: 'cors', headers: {{ 'Content-Type': 'application/json' }}, body: '{{}}' }})).status);
  await attempt('formTextPlain', () => submitForm('form-text'));
  await attempt('formUrlencoded', () => submitForm('form-url'));
  await attempt('formMultipart', () => submitForm('form-multi'));
  await attempt('websocket', () => new Promise((resolve) => {{
    const ws = new WebSocket(api.replace(/^http/, 'ws') + '/ws/x');
    let messages = 0;
    ws.onmessage = () => {{ messages += 1; }};
    ws.onclose = (e) => resolve(`closed ${{e.code}} after ${{messages}} messages`);
    setTimeout(() => resolve(`open after ${{messages}} messages`), 10000);
  }}));
  window.attackResults = results;
  window.attackDone = true;
}})();
</script></body></html>
"""


def _payload(dataset: Path, marker: Path) -> str:
    """The config of issue 7: run a shell command through a vLLM launch parameter."""
    return (
        "name: pwned\nmodels:\n  - name: evil\n    backend: vllm\n"
        f'    params: {{command: ["sh", "-c", "id > {marker}"]}}\n'
        f"datasets:\n  - {{name: synth, format: vqa_csv, path: {dataset}}}\n"
        "tasks:\n  - {name: vqa, dataset: synth, kind: vqa, metrics: [cer]}\n"
    )


@pytest.fixture
def attacker_site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A second local HTTP server (another port): the attacker's origin."""
    folder = tmp_path / "attacker"
    folder.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_cross_origin_page_cannot_create_an_experiment(
    tmp_path: Path, dataset: Path, attacker_site: tuple[Path, str]
) -> None:
    ensure_node_modules()
    folder, attacker = attacker_site
    marker = tmp_path / "PWNED"
    yaml = _payload(dataset, marker)
    csv = "model;task\nevil;vqa\n"
    port = free_port()
    backend = f"http://127.0.0.1:{port}"
    (folder / "attack.html").write_text(
        ATTACK_PAGE.format(
            api=f"{backend}/api/v1",
            api_js=json.dumps(f"{backend}/api/v1"),
            text_name=html.escape(yaml + "\n#", quote=True),  # body: <yaml>\n#= (a comment)
            yaml_attr=html.escape(yaml, quote=True),
            yaml_js=json.dumps(yaml),
            csv=html.escape(csv),
            csv_js=json.dumps(csv),
        ),
        encoding="utf-8",
    )
    state, runs = tmp_path / "state", tmp_path / "runs"
    out = tmp_path / "cross-origin.json"
    command = ["serve", "--data-dir", str(state), "--runs-dir", str(runs)]
    with server(command, tmp_path, port, {"VLMHB_DATA_ROOT": str(dataset.parent)}):
        run = subprocess.run(
            ["node", "e2e/cross-origin.mjs"],
            cwd=WEB,
            capture_output=True,
            text=True,
            timeout=180,
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "BACKEND": backend,
                "ATTACKER": f"{attacker}/attack.html",
                "TOKEN": TEST_TOKEN,
                "OUT": str(out),
                "CHROMIUM": str(CHROMIUM),
            },
        )
        assert run.returncode == 0, run.stdout + run.stderr
        listing = httpx.get(f"{backend}/api/v1/experiments", headers=AUTH).json()
    result: dict[str, Any] = json.loads(out.read_text())
    assert result["errors"] == [], result
    # the user really was logged in, and the dashboard's own origin could use the API
    assert result["landed"] == f"{backend}/"
    assert result["cookie"] == {"httpOnly": True, "sameSite": "Strict", "path": "/"}
    assert result["control"] == {"list": 200, "cancel": 404}
    # every changing request of the attacker's page was refused by the server ...
    attack = [r for r in result["network"] if r["page"].startswith(attacker)]
    posts = [r for r in attack if r["method"] == "POST"]
    assert len(posts) >= 7, result["network"]
    assert all(r["status"] == 403 for r in posts), posts
    # ... although Chromium sent each one with the session cookie (the headers on the wire,
    # from the DevTools protocol): a port is not a site, so SameSite=Strict does not stop it
    sent = [
        r
        for r in result["raw"]
        if r["rawHeaders"] and r["method"] == "POST" and r["origin"] == attacker
    ]
    assert len(sent) >= 7, result["raw"]
    assert all(r["sessionCookieSent"] for r in sent), sent
    # the CORS ones never left the browser: the preflight got no approval
    attempts = result["attack"]
    assert attempts["corsYaml"].startswith("error") and attempts["corsJson"].startswith("error")
    assert attempts["websocket"].endswith("after 0 messages"), attempts
    assert all(
        attempts[f] == "loaded" for f in ("formTextPlain", "formUrlencoded", "formMultipart")
    ), attempts
    # nothing was created, stored, run or written
    assert listing["total"] == 0, listing
    assert not marker.exists()
    assert not (state / "experiments").exists() or not any((state / "experiments").iterdir())
    assert not any(runs.iterdir())
