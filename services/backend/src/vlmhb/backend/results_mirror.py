"""Run folders read from ``results_uri``: the dashboard's copy of runs whose stages ran on
other hosts, or whose local folders are gone.

An experiment whose stored config names ``results_uri`` keeps each run folder at
``<results_uri>/<experiment>/<run>/`` and its own files (the experiment report) at
``<results_uri>/<experiment>/`` (``vlmhb.core.envs.stage_data``). When a route needs such
a folder and the runs root lacks it, the folder is pulled from there (the remote wins)
and marked as a mirror: ``.vlmhb-mirror`` records the size and mtime of every file the
mirror wrote. A mirror is refreshed at most every ``refresh_s`` seconds.

A folder without the marker was written by a stage on this host and is never touched.
A mirror in which a stage of this host has since written (a file the mirror wrote has
changed, or a stage took its lock there) has become local work: its marker is removed
and it is never touched again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from vlmhb.core.config import load_experiment
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.errors import ConfigError
from vlmhb.core.fileio import atomic_write_text
from vlmhb.core.files import TASKS_DIR
from vlmhb.core.storage import DataStore, StorageError, data_store, join_uri, uri_scheme

MARKER = ".vlmhb-mirror"
log = logging.getLogger(__name__)
Stamps = dict[str, list[int]]


class ResultsMirror:
    """Mirrors of experiment and run folders under ``runs_root``, from the ``results_uri``
    of each experiment's stored config (read under ``policy``, as it was submitted)."""

    def __init__(self, runs_root: Path, policy: SubmissionPolicy, refresh_s: float) -> None:
        self.runs_root = runs_root
        self.policy = policy
        self.refresh_s = refresh_s
        self._bases: dict[str, str | None] = {}
        self._stores: dict[str, DataStore] = {}
        self._pulled: dict[Path, float] = {}
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def experiment(self, experiment_id: str, name: str, config_path: str, runs: list[str]) -> None:
        """Bring the experiment's own folder and its ``runs``' folders up to date (where
        they are absent or mirrors); ``StorageError`` naming the URI when storage fails."""
        base = self.results_base(experiment_id, config_path)
        if base is None:
            return
        self._sync(self.runs_root / name, base)
        for run in runs:
            self._sync(self.runs_root / name / run, join_uri(base, run))

    def run(self, experiment_id: str, name: str, config_path: str, run: str) -> None:
        """Bring one run's folder up to date (and the experiment folder holding it)."""
        base = self.results_base(experiment_id, config_path)
        if base is None:
            return
        self._sync(self.runs_root / name, base)
        self._sync(self.runs_root / name / run, join_uri(base, run))

    def results_base(self, experiment_id: str, config_path: str) -> str | None:
        """``<results_uri>/<experiment name>`` of the stored config (None: it names no
        ``results_uri``, or the config no longer loads under the server's policy)."""
        with self._guard:
            if experiment_id in self._bases:
                return self._bases[experiment_id]
        try:
            spec = load_experiment(config_path, check=False, policy=self.policy)
            base = join_uri(spec.results_uri, spec.name) if spec.results_uri else None
        except (ConfigError, OSError, ValueError) as exc:
            log.warning("experiment %s: its stored config does not load (%s)", experiment_id, exc)
            base = None
        with self._guard:
            self._bases[experiment_id] = base
        return base

    def _sync(self, folder: Path, uri: str) -> None:
        """Pull ``uri`` into ``folder`` when it is absent, or a mirror not refreshed for
        ``refresh_s`` that is still a mirror."""
        with self._lock(folder):
            marker = folder / MARKER
            exists = folder.exists()
            if exists and not marker.is_file():
                return  # written here: never touched
            pulled = self._pulled.get(folder)
            if exists and pulled is not None and time.monotonic() - pulled < self.refresh_s:
                return
            record = _read_record(marker) if exists else {}
            if record is None or _local_work(folder, record):
                log.info("%s: written here since it was mirrored; no longer a mirror", folder)
                marker.unlink(missing_ok=True)
                return
            folder.mkdir(parents=True, exist_ok=True)
            before = _stamps(folder)
            atomic_write_text(marker, json.dumps({"uri": uri, "pulling": True}))
            try:
                self._store(uri).pull_folder(uri, folder, overwrite=True)
            finally:
                after = _stamps(folder)
                written = {rel for rel, stamp in after.items() if before.get(rel) != stamp}
                files = {rel: after[rel] for rel in {*record, *written} if rel in after}
                atomic_write_text(marker, json.dumps({"uri": uri, "files": files}))
            self._pulled[folder] = time.monotonic()

    def _store(self, uri: str) -> DataStore:
        """One store per scheme (its client and connections are reused)."""
        scheme = uri_scheme(uri) or ""
        with self._guard:
            if scheme not in self._stores:
                self._stores[scheme] = data_store(uri)
            return self._stores[scheme]

    def _lock(self, folder: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(folder, threading.Lock())


def _stamps(folder: Path) -> Stamps:
    """Size and mtime of each file under ``folder`` (the marker left out)."""
    stamps: Stamps = {}
    for top, _, files in os.walk(folder):
        for name in files:
            path = Path(top) / name
            rel = path.relative_to(folder).as_posix()
            if rel == MARKER:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # replaced meanwhile (a temporary file)
            stamps[rel] = [stat.st_size, stat.st_mtime_ns]
    return stamps


def _read_record(marker: Path) -> Stamps | None:
    """The files the mirror wrote, from its marker: ``{}`` while a pull had not finished
    (the process died: the remote wins again), None when the marker is unreadable (the
    folder is then left alone)."""
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if record.get("pulling"):
        return {}
    files = record.get("files")
    return files if isinstance(files, dict) else None


def _local_work(folder: Path, record: Stamps) -> bool:
    """Whether a stage of this host wrote in ``folder`` since the mirror did: a file the
    mirror wrote has changed, or a stage process took its lock (``.tasks/*.lock``, never
    uploaded, so never pulled)."""
    if any((folder / TASKS_DIR).glob("*.lock")):
        return True
    for rel, stamp in record.items():
        try:
            stat = (folder / rel).stat()
        except FileNotFoundError:
            continue  # removed here: pulled again
        if [stat.st_size, stat.st_mtime_ns] != stamp:
            return True
    return False


def storage_problem(exc: StorageError) -> str:
    """The message a route answers with when storage fails (it names the URI)."""
    return f"cannot read the results from storage: {exc}"
