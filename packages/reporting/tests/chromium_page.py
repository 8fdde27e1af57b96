"""A page in headless Debian Chromium driven over the DevTools protocol (a pipe: no port,
no library): open a ``file://`` report, evaluate JavaScript in it, click where a real user
would. The browser gets no network (a proxy that answers nothing), so what renders came
from the files."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",  # nothing listens: any network fetch fails
    "--window-size=1280,1000",
    "--remote-debugging-pipe",
]


class ChromiumPage:
    """One browser with one page; ``with ChromiumPage(path) as page: page.evaluate(...)``."""

    def __init__(self, path: Path, timeout_s: float = 30.0) -> None:
        self.url = path.resolve().as_uri()
        self.timeout_s = timeout_s
        self._ids = 0
        self._buffer = b""

    def __enter__(self) -> ChromiumPage:
        self._profile = tempfile.TemporaryDirectory(prefix="vlmhb-chromium-")
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()

        def wire() -> None:  # the pipe ends DevTools expects: fd 3 in, fd 4 out
            reading, writing = os.dup(to_browser), os.dup(from_browser)  # neither is 3 or 4 then
            os.dup2(reading, 3)
            os.dup2(writing, 4)

        self._proc = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            pass_fds=(3, 4),
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.send("Page.enable", session=True)
        self.send("Page.navigate", session=True, url=self.url)
        self.wait_for("document.readyState === 'complete'")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._write)
        os.close(self._read)
        self._profile.cleanup()

    def send(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        """One DevTools command (to the page's session when ``session``); its result."""
        self._ids += 1
        message: dict[str, Any] = {"id": self._ids, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._next_message()
            if reply.get("id") == self._ids:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    def _next_message(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise AssertionError("Chromium did not answer in time")
            chunk = os.read(self._read, 65536)
            if not chunk:
                raise AssertionError(f"Chromium exited (code {self._proc.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send(
            "Runtime.evaluate",
            session=True,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str) -> Any:
        """The first truthy value of ``expression``, polled until the timeout."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")

    def click(self, element: str) -> None:
        """A real mouse click (move, press, release) at the middle of the element the
        JavaScript expression ``element`` gives, scrolled into view first."""
        box = self.evaluate(
            f"(() => {{ const e = {element}; e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                session=True,
                type=kind,
                x=x,
                y=y,
                button="left" if kind != "mouseMoved" else "none",
                clickCount=1,
            )
