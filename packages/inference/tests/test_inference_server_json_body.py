"""Chat bodies are parsed by pydantic's JSON parser, with ``json.loads`` for what it refuses:
the values and the errors are those of FastAPI's own parsing."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx

from vlmhb.core.contracts import ModelSpec
from vlmhb.inference.backends.base import Backend
from vlmhb.inference.backends.scripted import ScriptedBackend

ServeFn = Callable[[Backend], AbstractContextManager[str]]
JSON = {"content-type": "application/json"}


def test_bodies_parse_as_json_loads_does_and_fail_with_its_messages(serve: ServeFn) -> None:
    backend = ScriptedBackend(
        ModelSpec(name="scripted", backend="scripted", model="m1", params={"rule": "echo"})
    )
    with serve(backend) as url, httpx.Client(base_url=url) as http:
        while http.get("/health").status_code != 200:
            pass

        def post(body: bytes, headers: dict[str, str] = JSON) -> httpx.Response:
            return http.post("/v1/chat/completions", content=body, headers=headers)

        body = {"messages": [{"role": "user", "content": "séria 45"}], "temperature": 0.5}
        plain = post(json.dumps(body, ensure_ascii=False).encode())
        assert plain.json()["choices"][0]["message"]["content"] == "séria 45"
        # refused by pydantic's parser, read by json.loads: a BOM, a lone surrogate
        assert post(b"\xef\xbb\xbf" + json.dumps(body).encode()).status_code == 200
        lone = b'{"messages": [{"role": "user", "content": "ok"}], "user": "a\\ud800"}'
        assert post(lone).json()["choices"][0]["message"]["content"] == "ok"
        for bad in (b"{oops", b'{"messages": [1,]}', b'{"messages": "\t"}'):
            try:
                json.loads(bad)
            except json.JSONDecodeError as exc:
                expected = f"request body is not valid JSON: {exc.msg}"
            refused = post(bad)
            assert refused.status_code == 400
            assert refused.json()["error"]["message"] == expected
        not_json = post(json.dumps(body).encode(), {"content-type": "text/plain"})
        assert not_json.status_code == 400 and "invalid request body" in not_json.text
