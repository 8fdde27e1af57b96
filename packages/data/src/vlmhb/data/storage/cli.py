"""``vlmhb data ...``: datasets in storage (push, pull, ls, verify) and this node's cache
(``cache ls|gc|verify``). Exit codes: 0 ok, 1 a check found problems, 2 an error (one
line, no traceback)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.filesize import decimal
from rich.markup import escape

from vlmhb.core.errors import settings_problems
from vlmhb.core.storage import DATASET_MANIFEST, StorageError, uri_scheme
from vlmhb.data.storage.cache import Cache
from vlmhb.data.storage.housekeeping import Refetch, plan_gc, repair, run_gc, verify_cache
from vlmhb.data.storage.manifest import (
    Manifest,
    ManifestEntry,
    read_manifest,
    sha256_file,
    write_manifest,
)
from vlmhb.data.storage.progress import TransferProgress
from vlmhb.data.storage.settings import StorageSettings
from vlmhb.data.storage.store import ProviderStore, storage_errors, store_for
from vlmhb.data.storage.transfer import fetch_manifest, push_folder, require_manifest
from vlmhb.data.storage.uri import safe_join, safe_relpath
from vlmhb.data.storage.verify import verify_folder, verify_remote

app = typer.Typer(
    help="Datasets in storage (s3://bucket/prefix, file:///path): push, pull, ls, verify; "
    "this node's dataset cache.",
    no_args_is_help=True,
)
cache_app = typer.Typer(
    help="This node's dataset cache (VLMHB_DATA_CACHE_DIR).", no_args_is_help=True
)
app.add_typer(cache_app, name="cache")
console = Console()
err_console = Console(stderr=True)

UriArg = Annotated[str, typer.Argument(help="s3://bucket/prefix or file:///abs/path")]


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@contextmanager
def _errors() -> Iterator[None]:
    """A storage or settings error as one line on stderr and exit code 2."""
    try:
        yield
    except StorageError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    except ValidationError as exc:
        err_console.print(
            f"[red]error:[/red] bad setting: {escape(settings_problems(exc))}", soft_wrap=True
        )
        raise typer.Exit(2) from None


def _store(uri: str) -> ProviderStore:
    return store_for(uri, StorageSettings())


@app.command()
def push(
    folder: Annotated[Path, typer.Argument(help="Dataset folder.")],
    uri: UriArg,
) -> None:
    """Upload a folder: files missing or changed there, then its manifest (also written into
    DIR)."""
    with _errors():
        store = _store(uri)
        with TransferProgress(console) as progress, storage_errors(uri):
            count, manifest = push_folder(store.provider(uri), folder, store.settings, (), progress)
            write_manifest(folder, manifest)
    _say(
        f"pushed {count} of {len(manifest.files)} files ({decimal(manifest.total_bytes)}) "
        f"to {uri}; dataset hash {manifest.dataset_hash()}"
    )


@app.command()
def pull(
    uri: UriArg,
    folder: Annotated[Path, typer.Argument(help="Folder to fill (created).")],
    overwrite: Annotated[
        bool, typer.Option(help="Replace local files that differ from the dataset.")
    ] = False,
) -> None:
    """Sync a dataset through this node's cache, then copy it (and its manifest) into DIR."""
    with _errors():
        store = _store(uri)
        with TransferProgress(console) as progress, store.materialise(uri, progress) as cached:
            manifest = read_manifest(cached)
            with storage_errors(str(folder)):
                copied, kept = _copy_dataset(cached, folder, manifest, overwrite)
                write_manifest(folder, manifest)
    _say(
        f"{len(manifest.files)} files ({decimal(manifest.total_bytes)}) in {folder}, "
        f"{copied} copied; dataset hash {manifest.dataset_hash()}"
    )
    if kept:
        _say(f"kept {kept} local files that differ from the dataset (--overwrite replaces them)")


def _copy_dataset(
    cached: Path, folder: Path, manifest: Manifest, overwrite: bool
) -> tuple[int, int]:
    """Copy the cached dataset's files into ``folder`` (new files, not links to the
    cache); how many were copied and how many differing local files were kept."""
    copied = kept = 0
    for entry in manifest.files:
        relpath = safe_relpath(entry.path)
        target = safe_join(folder, relpath)
        same_size = target.is_file() and target.stat().st_size == entry.size
        if same_size and sha256_file(target) == entry.sha256:
            continue
        if target.exists() and not overwrite:
            kept += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.vlmhb-part")
        try:
            shutil.copyfile(cached / relpath, temp)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        copied += 1
    return copied, kept


@app.command("ls")
def list_dataset(uri: UriArg) -> None:
    """List a dataset's files, total size and hash (or the objects, without a manifest)."""
    with _errors():
        provider = _store(uri).provider(uri)
        manifest = fetch_manifest(provider)
        objects = {item.key: item.size for item in provider.list()}
    if manifest is None:
        _say(f"no dataset manifest at {uri}; {len(objects)} objects:")
        for key, size in sorted(objects.items()):
            _say(f"{size:>14,}  {key}")
        _say(f"{len(objects)} objects, {decimal(sum(objects.values()))}")
        return
    for entry in manifest.files:
        note = "" if entry.path in objects else "  (missing)"
        _say(f"{entry.size:>14,}  {entry.path}{note}")
    extra = sorted(set(objects) - set(manifest.by_path()) - {DATASET_MANIFEST})
    for key in extra:
        _say(f"{objects[key]:>14,}  {key}  (not in the manifest)")
    _say(
        f"{len(manifest.files)} files, {decimal(manifest.total_bytes)}, "
        f"dataset hash {manifest.dataset_hash()}"
        + (f"; {len(extra)} objects not in the manifest" if extra else "")
    )


@app.command()
def verify(
    target: Annotated[str, typer.Argument(help="Dataset folder, or its URI.")],
    deep: Annotated[
        bool, typer.Option(help="URI: download every object and check its sha256.")
    ] = False,
) -> None:
    """Check a folder (rehashed) or a URI (sizes, sha256 metadata) against its manifest."""
    notes: list[str] = []
    with _errors():
        settings = StorageSettings()
        if uri_scheme(target) is None:
            folder = Path(target)
            manifest = read_manifest(folder)
            with storage_errors(target):
                problems = verify_folder(folder, manifest, settings.transfer_workers)
        else:
            provider = store_for(target, settings).provider(target)
            manifest = require_manifest(provider)
            problems, notes = verify_remote(provider, manifest, settings.transfer_workers, deep)
    for line in [*problems, *notes]:
        _say(line)
    status = f"{len(problems)} problems" if problems else "ok"
    _say(f"{target}: {len(manifest.files)} files checked, {status}")
    if problems:
        raise typer.Exit(1)


def _cache() -> tuple[Cache, StorageSettings]:
    settings = StorageSettings()
    return Cache(settings.data_cache_dir), settings


@cache_app.command("ls")
def cache_ls() -> None:
    """The cached datasets: hash, source, files, bytes, last used, in use."""
    with _errors():
        cache, _ = _cache()
        datasets = cache.describe()
    for item in datasets:
        used = datetime.fromtimestamp(item.last_used).isoformat(timespec="seconds")
        flags = ("in use" if item.in_use else "") + ("" if item.complete else " incomplete")
        _say(
            f"{item.dataset_hash[:16]}  {item.source or '?'}  {item.files} files  "
            f"{decimal(item.bytes)}  last used {used}  {flags.strip()}".rstrip()
        )
    _say(f"{len(datasets)} datasets, {decimal(cache.size_bytes())} in {cache.root}")


@cache_app.command("gc")
def cache_gc(
    max_bytes: Annotated[
        int | None,
        typer.Option(
            help="Size limit (default VLMHB_DATA_CACHE_MAX_BYTES; none: no LRU eviction)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only say what would be removed.")] = False,
) -> None:
    """Remove unfinished datasets, unused blobs and, over the size limit, LRU datasets."""
    with _errors(), storage_errors("the cache"):
        cache, settings = _cache()
        limit = max_bytes if max_bytes is not None else settings.data_cache_max_bytes
        plan = plan_gc(cache, limit)
        verb = "would remove" if dry_run else "removing"
        for dataset_hash in plan.datasets:
            _say(f"{verb} dataset {dataset_hash[:16]} ({cache.source(dataset_hash) or '?'})")
        freed = plan.bytes_freed if dry_run else run_gc(cache, plan)
    _say(
        f"{'would free' if dry_run else 'freed'} {decimal(freed)} "
        f"({len(plan.datasets)} datasets, {len(plan.blobs)} blobs, {len(plan.parts)} partial "
        f"files); cache {decimal(plan.size_before)} before"
    )


@cache_app.command("verify")
def cache_verify(
    repair_: Annotated[
        bool, typer.Option("--repair", help="Fetch bad blobs again from their source.")
    ] = False,
) -> None:
    """Rehash every cached blob and check the dataset folders (exit 1 on problems)."""
    failures: list[str] = []
    with _errors(), storage_errors("the cache"):
        cache, settings = _cache()
        problems = verify_cache(cache, settings.transfer_workers)
        for problem in problems:
            _say(str(problem))
        if problems and repair_:
            failures = repair(cache, problems, _refetcher(settings))
    if not problems:
        _say(f"{len(cache.blob_shas())} blobs ok")
        return
    if not repair_:
        _say(f"{len(problems)} problems (--repair fetches the bad blobs again)")
        raise typer.Exit(1)
    for failure in failures:
        _say(f"not repaired: {failure}")
    if failures:
        raise typer.Exit(1)
    _say(f"repaired {len(problems)} problems")


def _refetcher(settings: StorageSettings) -> Refetch:
    """Fetch from a dataset's source URI, one store (and S3 client) per scheme."""
    stores: dict[str, ProviderStore] = {}

    def refetch(uri: str, entry: ManifestEntry, part: Path) -> None:
        scheme = uri_scheme(uri) or ""
        if scheme not in stores:
            stores[scheme] = store_for(uri, settings)
        stores[scheme].refetch(uri, entry, part)

    return refetch


if __name__ == "__main__":  # ``python -m vlmhb.data.storage.cli``: without the other plugins
    app()
