"""Run the bootstrap playbook (``deploy/ansible/bootstrap.yml``) against one host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vlmhb.hosts.child import CANCEL_FILE, REQUEST_FILE
from vlmhb.hosts.models import BootstrapOptions, BootstrapResult, HostTarget, JobEvent
from vlmhb.hosts.scrub import Scrubber
from vlmhb.hosts.wheelhouse import agent_wheelhouse

PLAYBOOK = "bootstrap.yml"
CANCEL_POLL_S = 0.2
# a host key is trusted on first use and checked after (never ignored)
SSH_ARGS = "-o StrictHostKeyChecking=accept-new -o ControlMaster=auto -o ControlPersist=60s"


class BootstrapError(Exception):
    """The bootstrap could not start (no playbook, no ansible-playbook, no wheelhouse)."""


def playbook_path() -> Path:
    """``deploy/ansible/bootstrap.yml``: under ``VLMHB_ANSIBLE_DIR``, else of the checkout
    this package runs from, else of the working directory's."""
    folders = [Path(os.environ["VLMHB_ANSIBLE_DIR"])] if os.environ.get("VLMHB_ANSIBLE_DIR") else []
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        folders += [parent / "deploy" / "ansible" for parent in start.parents]
    for folder in folders:
        if (folder / PLAYBOOK).is_file():
            return folder / PLAYBOOK
    raise BootstrapError("deploy/ansible/bootstrap.yml not found: set VLMHB_ANSIBLE_DIR")


def inventory(target: HostTarget) -> dict[str, Any]:
    """The one-host inventory for ``target`` (a key is a path, never its content)."""
    host: dict[str, Any] = {"ansible_python_interpreter": "/usr/bin/python3"}
    if target.connection == "local":
        host["ansible_connection"] = "local"
    elif target.connection == "docker":
        host.update(
            ansible_connection="community.docker.docker",
            ansible_host=target.address,
            ansible_user="root",
        )
    else:
        host.update(ansible_host=target.address, ansible_port=target.ssh_port, ansible_become=True)
        if target.ssh_user:
            host["ansible_user"] = target.ssh_user
        if target.ssh_key_file:
            host["ansible_ssh_private_key_file"] = str(target.ssh_key_file)
    return {"all": {"hosts": {target.name: host}}}


def run_bootstrap(
    target: HostTarget,
    options: BootstrapOptions,
    work_dir: Path,
    on_event: Callable[[JobEvent], None],
    cancelled: Callable[[], bool],
    secrets: tuple[str, ...] = (),
) -> BootstrapResult:
    """Bootstrap ``target``: blocking (call it from a worker thread). ``work_dir``: the
    runner's private data folder (inventory, artifacts; scrubbed when the run ends).
    ``on_event``: each event, scrubbed of ``secrets`` (and of the token file's content).
    ``cancelled``: polled by the runner; true stops the playbook (status ``canceled``)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    hidden = [*secrets, *_url_passwords(options.redis_url)]
    if options.token_file is not None:
        hidden.append(options.token_file.expanduser().read_text(encoding="utf-8").strip())
    request = _request(target, options)
    (work_dir / REQUEST_FILE).write_text(json.dumps(request), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vlmhb.hosts.child", str(work_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(hidden))
    proc.stdin.close()
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_cancel, args=(cancelled, work_dir, stop), daemon=True)
    watcher.start()
    scrub = Scrubber(hidden)
    result: BootstrapResult | None = None
    try:
        for line in proc.stdout:
            message = json.loads(line)
            if "event" in message:
                on_event(JobEvent.model_validate(message["event"]))
            elif "result" in message:
                result = BootstrapResult.model_validate(message["result"])
        stderr = proc.stderr.read() if proc.stderr else ""
        proc.wait()
    finally:
        stop.set()
    if result is None:
        tail = scrub(stderr.strip())[-800:]
        return BootstrapResult(
            status="failed", rc=proc.returncode, message=f"the bootstrap process failed: {tail}"
        )
    return result


def _request(target: HostTarget, options: BootstrapOptions) -> dict[str, Any]:
    if not (Path(sys.executable).parent / "ansible-playbook").is_file():
        # the child's PATH starts with this interpreter's bin folder (rc 127 otherwise)
        raise BootstrapError(f"ansible-playbook not found beside {sys.executable}")
    port = options.agent_port
    extravars: dict[str, Any] = {
        "vlmhb_agent_name": options.agent_name or target.name,
        "vlmhb_agent_bind": options.agent_bind,
        "vlmhb_agent_port": port,
        "vlmhb_cache_path": options.cache_path,
        "vlmhb_nvidia_toolkit": options.nvidia_toolkit,
        "vlmhb_agent_redis_url": options.redis_url or "",
        "vlmhb_token_file": str(options.token_file.expanduser()) if options.token_file else "",
        "vlmhb_uv_binary": "",
        "vlmhb_wheelhouse_tar": "",
    }
    if options.packages is not None:
        extravars["vlmhb_packages"] = options.packages
    if not options.check:  # a dry run copies nothing, so it needs no wheelhouse
        uv = shutil.which("uv")
        if uv is None:
            raise BootstrapError("uv is not on PATH (it is copied to the host)")
        extravars["vlmhb_uv_binary"] = uv
        extravars["vlmhb_wheelhouse_tar"] = str(
            options.wheelhouse or agent_wheelhouse(start=playbook_path())
        )
    host = "127.0.0.1" if target.connection in ("local", "docker") else target.address
    return {
        "playbook": str(playbook_path()),
        "inventory": inventory(target),
        "extravars": extravars,
        "check": options.check,
        "cache_path": options.cache_path,
        "agent_url": options.agent_url or f"http://{host}:{port}",
    }


def _child_env() -> dict[str, str]:
    """Only what ansible needs: no token, password or key of this process's environment."""
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "PATH": os.pathsep.join(
            [bin_dir, "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        ),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_SSH_ARGS": SSH_ARGS,
        "ANSIBLE_NOCOLOR": "1",
    }
    for name in ("DOCKER_HOST", "TMPDIR"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def _watch_cancel(cancelled: Callable[[], bool], work_dir: Path, stop: threading.Event) -> None:
    while not stop.wait(CANCEL_POLL_S):
        if cancelled():
            (work_dir / CANCEL_FILE).touch()
            return


def _url_passwords(url: str | None) -> list[str]:
    if not url:
        return []
    password = urlsplit(url).password
    return [password] if password else []
