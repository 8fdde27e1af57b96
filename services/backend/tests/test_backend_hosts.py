"""Hosts through the API (``docs/hosts.md``): add, edit, delete; a key is named by
reference and never leaves the keys folder; a dry-run bootstrap of this machine with real
Ansible (connection local, check mode) streams its events and stores its facts; no key,
token or password shows in the database, the job's folder or any response."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from vlmhb_backend_testkit import TEST_TOKEN, api_client

KEY_TEXT = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + secrets.token_hex(32) + "\n-----END-----\n"


def keys_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    (folder / "fleet").write_text(KEY_TEXT)
    (folder / "fleet").chmod(0o600)
    outside = tmp_path / "outside-key"
    outside.write_text(KEY_TEXT)
    (folder / "escape").symlink_to(outside)
    return folder


def host_body(**fields: Any) -> dict[str, Any]:
    return {"name": "gpu-01", "address": "10.1.2.3", "ssh_user": "ops", **fields}


async def test_hosts_are_added_edited_listed_and_deleted(
    make_settings: Any, tmp_path: Path
) -> None:
    settings = make_settings(ssh_keys_dir=keys_folder(tmp_path))
    async with api_client(settings) as client:
        assert (await client.get("/api/v1/hosts")).json() == []
        added = await client.post("/api/v1/hosts", json=host_body(ssh_key="fleet"))
        assert added.status_code == 201, added.text
        host = added.json()
        assert (host["name"], host["status"], host["ssh_key"]) == ("gpu-01", "new", "fleet")
        assert host["facts"] is None and host["last_job"] is None and not host["healthy"]
        again = await client.post("/api/v1/hosts", json=host_body())
        assert again.status_code == 409 and "exists" in again.json()["detail"]

        patched = await client.patch("/api/v1/hosts/gpu-01", json={"ssh_port": 2222})
        assert patched.json()["ssh_port"] == 2222 and patched.json()["address"] == "10.1.2.3"
        listed = (await client.get("/api/v1/hosts")).json()
        assert [h["name"] for h in listed] == ["gpu-01"]

        assert (await client.delete("/api/v1/hosts/gpu-01")).status_code == 204
        assert (await client.get("/api/v1/hosts/gpu-01")).status_code == 404
        assert (await client.delete("/api/v1/hosts/gpu-01")).status_code == 404


@pytest.mark.parametrize(
    "ssh_key",
    [
        "../fleet",
        "/root/.ssh/id_rsa",
        "escape",
        "missing",
        KEY_TEXT,
        KEY_TEXT * 3,
        "sub/fleet",
        "..",
        "",
    ],
)
async def test_a_key_reference_that_is_not_a_key_name_is_a_field_error(
    make_settings: Any, tmp_path: Path, ssh_key: str
) -> None:
    settings = make_settings(ssh_keys_dir=keys_folder(tmp_path))
    async with api_client(settings) as client:
        added = await client.post("/api/v1/hosts", json=host_body(ssh_key=ssh_key))
        assert added.status_code == 422, added.text
        assert "ssh_key" in added.text
        assert KEY_TEXT.split("\n")[1] not in added.text  # the key is never echoed
        assert (await client.get("/api/v1/hosts")).json() == []
        await client.post("/api/v1/hosts", json=host_body(ssh_key="fleet"))
        patched = await client.patch("/api/v1/hosts/gpu-01", json={"ssh_key": ssh_key})
        assert patched.status_code == 422 and "ssh_key" in patched.text
        assert (await client.get("/api/v1/hosts/gpu-01")).json()["ssh_key"] == "fleet"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connection", "local"),  # allowed only where VLMHB_HOST_CONNECTIONS says so
        ("connection", "paramiko; rm -rf /"),
        ("address", "host; touch /tmp/x"),
        ("address", "-oProxyCommand=sh"),
        ("ssh_user", "root -i /etc/shadow"),
        ("name", "../etc"),
        ("ssh_port", 0),
        ("ansible_ssh_common_args", "-oProxyCommand=sh"),
    ],
)
async def test_host_fields_that_could_run_something_are_refused(
    client: httpx.AsyncClient, field: str, value: Any
) -> None:
    added = await client.post("/api/v1/hosts", json=host_body(**{field: value}))
    assert added.status_code == 422, added.text
    assert field in added.text
    assert (await client.get("/api/v1/hosts")).json() == []


async def test_bootstrap_of_an_unknown_host_and_jobs_of_nothing_are_404(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.post("/api/v1/hosts/nope/bootstrap", json={"check": True})
    assert missing.status_code == 404
    assert (await client.get("/api/v1/host-jobs/0123456789abcdef")).status_code == 404
    assert (await client.get("/api/v1/host-jobs/not-a-job/events")).status_code == 422


async def follow(client: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    """Every event of the job by long polling, as the UI does, until it finishes."""
    events: list[dict[str, Any]] = []
    for _ in range(600):
        page = await client.get(
            f"/api/v1/host-jobs/{job_id}/events",
            params={"after": events[-1]["seq"] if events else 0, "wait": 5},
        )
        page.raise_for_status()
        body = page.json()
        events += body["events"]
        if body["finished"]:
            return events
    raise AssertionError(f"job {job_id} did not finish; events so far: {events[-3:]}")


def all_bytes_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database file is grepped
async def test_a_dry_run_bootstrap_of_this_machine_streams_events_and_stores_facts(
    make_settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Real Ansible against this machine (connection local, check mode: nothing changes)."""
    caplog.set_level(logging.DEBUG)
    agent_token = secrets.token_urlsafe(32)
    token_file = tmp_path / "agent-token"
    token_file.write_text(agent_token)
    token_file.chmod(0o600)
    settings = make_settings(
        ssh_keys_dir=keys_folder(tmp_path),
        host_connections=["ssh", "local"],
        agent_token_file=token_file,
    )
    async with api_client(settings) as client:
        body = host_body(name="this-machine", address="127.0.0.1", connection="local")
        body["ssh_key"] = "fleet"
        assert (await client.post("/api/v1/hosts", json=body)).status_code == 201
        started = await client.post("/api/v1/hosts/this-machine/bootstrap", json={"check": True})
        assert started.status_code == 202, started.text
        job = started.json()
        assert job["status"] in ("queued", "running") and job["check"] is True
        busy = await client.post("/api/v1/hosts/this-machine/bootstrap", json={"check": True})
        assert busy.status_code == 409 and job["id"] in busy.json()["detail"]

        events = await follow(client, job["id"])
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        tasks = [e["task"] for e in events if e["event"] == "playbook_on_task_start"]
        assert tasks[:2] == ["Gathering Facts", "Free disk on the cache path"]
        assert events[-1]["message"].startswith("RECAP ")

        done = (await client.get(f"/api/v1/host-jobs/{job['id']}")).json()
        assert done["status"] == "successful", done
        assert done["rc"] == 0 and done["finished_at"]
        host = (await client.get("/api/v1/hosts/this-machine")).json()
        assert host["status"] == "new"  # a dry run installs no agent
        assert host["agent_url"] is None
        facts = host["facts"]
        assert facts["kernel"] == os.uname().release
        assert facts["cpus"] == os.cpu_count()
        assert facts["memory_mb"] > 100 and facts["disk_free_bytes"] > 0
        assert host["last_job"]["id"] == job["id"]
        jobs = (await client.get("/api/v1/hosts/this-machine/jobs")).json()
        assert [j["id"] for j in jobs] == [job["id"]]
        host_events = (await client.get("/api/v1/host-events")).json()
        assert host_events[-1]["kind"] == "bootstrap_finished"
        assert "check successful" in host_events[-1]["message"]

        again = await client.post("/api/v1/hosts/this-machine/bootstrap", json={"check": True})
        assert again.status_code == 202
        await follow(client, again.json()["id"])
        rerun = (await client.get(f"/api/v1/host-jobs/{again.json()['id']}")).json()
        assert rerun["status"] == "successful"

        responses = [
            (await client.get(path)).text
            for path in (
                "/api/v1/hosts",
                "/api/v1/hosts/this-machine/jobs",
                f"/api/v1/host-jobs/{job['id']}/events",
                "/api/v1/host-events",
            )
        ]
    database = [p.read_bytes() for p in tmp_path.glob("vlmhb.db*")]  # with its WAL
    assert database, "the SQLite file is where the settings put it"
    stored = b"".join(database) + all_bytes_under(settings.data_dir)  # jobs' folders too
    shown = "".join(responses) + str(events) + caplog.text
    for secret in (agent_token, TEST_TOKEN, KEY_TEXT.split("\n")[1]):
        assert secret.encode() not in stored
        assert secret not in shown


async def test_a_real_bootstrap_without_an_agent_token_fails_saying_which_setting(
    make_settings: Any, tmp_path: Path
) -> None:
    settings = make_settings(host_connections=["local"], agent_token_file=None)
    async with api_client(settings) as client:
        body = host_body(name="box", address="127.0.0.1", connection="local", ssh_user=None)
        await client.post("/api/v1/hosts", json=body)
        job = (await client.post("/api/v1/hosts/box/bootstrap", json={})).json()
        assert (await follow(client, job["id"])) == []
        done = (await client.get(f"/api/v1/host-jobs/{job['id']}")).json()
        assert done["status"] == "failed" and "VLMHB_AGENT_TOKEN_FILE" in done["message"]
        host = (await client.get("/api/v1/hosts/box")).json()
        assert host["status"] == "failed" and "VLMHB_AGENT_TOKEN_FILE" in host["status_message"]


async def test_a_job_left_running_by_a_stopped_backend_ends_failed_at_startup(
    make_settings: Any, tmp_path: Path
) -> None:
    from vlmhb.backend.db.engine import Database
    from vlmhb.backend.db.models import Host, HostJob
    from vlmhb.backend.hosts import store

    settings = make_settings()
    async with api_client(settings) as client:
        await client.post("/api/v1/hosts", json=host_body())
    db = Database(settings.resolved().url)
    with db.session() as session:
        host = store.find(session, "gpu-01")
        assert isinstance(host, Host)
        host.status = "bootstrapping"
        session.add(
            HostJob(
                id="00000000000000aa",
                host_id=host.id,
                status="running",
                failures=[],
                created_at=store.now(),
            )
        )
    db.dispose()
    async with api_client(settings) as client:
        job = (await client.get("/api/v1/host-jobs/00000000000000aa")).json()
        assert job["status"] == "failed" and "backend stopped" in job["message"]
        assert (await client.get("/api/v1/hosts/gpu-01")).json()["status"] == "failed"
