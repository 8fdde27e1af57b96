"""``vlmhb-api serve`` as a real subprocess: API key from the environment (never in its
log, even at debug level), ``--allowed-root`` and ``--max-image-bytes``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image

from vlmhb.inference.launcher import free_port

KEY = "topsecret-4f9a1c"
WRONG = "guessed-77e1b0"


def test_served_wrapper_enforces_key_roots_and_size_and_logs_no_secret(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    Image.new("RGB", (8, 8), "white").save(root / "small.png")
    Image.effect_noise((64, 64), 100).convert("RGB").save(root / "big.png")
    port = free_port()
    log_path = tmp_path / "server.log"
    command = [
        sys.executable,
        "-m",
        "vlmhb.inference.cli",
        "serve",
        "--backend",
        "scripted",
        "--port",
        str(port),
        "--allowed-root",
        str(root),
        "--max-image-bytes",
        "2000",
        "--log-level",
        "debug",
    ]
    env = {**os.environ, "VLMHB_API_KEY": KEY}
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"authorization": f"Bearer {KEY}"}
        ) as http:
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)

            def ask(name: str, **headers: str) -> httpx.Response:
                return http.post(
                    "/v1/chat/completions",
                    headers=headers,
                    json={
                        "messages": [
                            {
                                "role": "user",
                                "content": [
                                    {
                                        "type": "image_url",
                                        "image_url": {"url": (root / name).as_uri()},
                                    },
                                    {"type": "text", "text": "hi"},
                                ],
                            }
                        ]
                    },
                )

            assert ask("small.png").status_code == 200
            assert ask("big.png").status_code == 413
            assert ask("small.png", authorization=f"Bearer {WRONG}").status_code == 401
            assert ask("small.png", authorization="").status_code == 401
            outside = http.post(
                "/v1/chat/completions",
                json={
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "image_url",
                                    "image_url": {"url": (tmp_path / "server.log").as_uri()},
                                }
                            ],
                        }
                    ]
                },
            )
            assert outside.status_code == 403
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = log_path.read_text(encoding="utf-8")
    assert "backend scripted ready" in text
    assert KEY not in text and WRONG not in text
