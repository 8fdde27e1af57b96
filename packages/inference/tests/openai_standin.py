"""Stand-in for an OpenAI-compatible server: a remote API (cloud endpoints cannot be reached
from tests) or the server vLLM/SGLang start (they need a GPU). Not a test module.

In-process: ``create_standin_app(StandinState(...))`` served in a thread. As a script it
plays an engine: ``python openai_standin.py --port P --model NAME [--argv-file F]
[--spawn-child PIDFILE] [--ignore-sigterm] [--exit-code N]``; unknown arguments (engine
args) are accepted and written to ``--argv-file``.

Answers echo the last user text (``{"echo": text}`` with ``response_format`` json_object);
usage counts words. ``throttle_every=k`` answers the first attempt of every k-th distinct
prompt with 429 and ``Retry-After``; an attempt of that prompt before the deadline counts
as ``early`` and gets 429 again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse


@dataclass
class StandinState:
    """What the stand-in saw, and how it misbehaves."""

    model: str = "standin-model"
    api_key: str | None = None
    throttle_every: int = 0
    retry_after_s: float = 0.1
    arrivals: list[float] = field(default_factory=list)
    token_log: list[tuple[float, int]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    throttled: int = 0
    early: int = 0
    _prompts: dict[str, float | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, prompt: str) -> float | None:
        """None to answer; else the seconds to send in ``Retry-After``."""
        now = time.monotonic()
        with self._lock:
            self.arrivals.append(now)
            if prompt not in self._prompts:
                self._prompts[prompt] = None
                if self.throttle_every and len(self._prompts) % self.throttle_every == 0:
                    self._prompts[prompt] = now + self.retry_after_s
                    self.throttled += 1
                    return self.retry_after_s
                return None
            deadline = self._prompts[prompt]
            if deadline is not None and now < deadline:
                self.early += 1
                return deadline - now
            return None


def _user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return " ".join(p["text"] for p in content or [] if p.get("type") == "text")
    return ""


def _rate_limited(wait: float) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": "rate limited", "type": "rate_limit_error"}},
        status_code=429,
        headers={"retry-after-ms": str(round(wait * 1000)), "retry-after": str(math.ceil(wait))},
    )


def _completion(body: dict[str, Any], answer: str, usage: dict[str, int]) -> JSONResponse:
    return JSONResponse(
        {
            "id": "cmpl-standin",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model"),
            "usage": usage,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": answer},
                }
            ],
        }
    )


async def _events(body: dict[str, Any], words: list[str], usage: dict[str, int]) -> Any:
    """The streamed answer: one chunk per word, the finish chunk, usage when asked."""
    for index, word in enumerate(words):
        piece = word if index == 0 else " " + word
        chunk = {
            "object": "chat.completion.chunk",
            "model": body.get("model"),
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        }
        yield f"data: {json.dumps(chunk)}\n\n"
        await asyncio.sleep(0)
    done = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    yield f"data: {json.dumps(done)}\n\n"
    if (body.get("stream_options") or {}).get("include_usage"):
        yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
    yield "data: [DONE]\n\n"


def create_standin_app(state: StandinState) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    def authorized(request: Request) -> bool:
        return (
            state.api_key is None
            or request.headers.get("authorization") == f"Bearer {state.api_key}"
        )

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        return JSONResponse({"object": "list", "data": [{"id": state.model, "object": "model"}]})

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        body = await request.json()
        state.bodies.append(body)
        text = _user_text(body["messages"])
        wait = state.admit(text)
        if wait is not None:
            return _rate_limited(wait)
        if (body.get("response_format") or {}).get("type") == "json_object":
            text = json.dumps({"echo": text})
        words = text.split(" ")[: body.get("max_tokens") or None]
        answer = " ".join(words)
        usage = {
            "prompt_tokens": len(text.split()),
            "completion_tokens": len(words),
            "total_tokens": len(text.split()) + len(words),
        }
        state.token_log.append((time.monotonic(), usage["total_tokens"]))
        if not body.get("stream"):
            return _completion(body, answer, usage)
        return StreamingResponse(_events(body, words, usage), media_type="text/event-stream")

    return app


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread on a free port; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("stand-in server thread died during startup")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model", default="standin-model")
    parser.add_argument("--argv-file")
    parser.add_argument("--spawn-child", help="start a sleeping child, write its pid here")
    parser.add_argument("--ignore-sigterm", action="store_true")
    parser.add_argument("--exit-code", type=int)
    args, _engine_args = parser.parse_known_args()
    print(f"stand-in engine starting on port {args.port}", flush=True)
    if args.argv_file:
        Path(args.argv_file).write_text(json.dumps(sys.argv[1:]), encoding="utf-8")
    if args.exit_code is not None:
        print("stand-in engine: simulated startup failure", flush=True)
        sys.exit(args.exit_code)
    if args.spawn_child:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        Path(args.spawn_child).write_text(str(child.pid), encoding="utf-8")
    server = uvicorn.Server(
        uvicorn.Config(
            create_standin_app(StandinState(model=args.model)),
            host=args.host,
            port=args.port,
            log_level="warning",
        )
    )
    if args.ignore_sigterm:  # uvicorn installs no signal handlers outside the main thread
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        thread = threading.Thread(target=server.run)
        thread.start()
        thread.join()
    else:
        server.run()


if __name__ == "__main__":
    main()
