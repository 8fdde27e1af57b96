"""Smart Sync: a dataset behind a provider brought into the cache, downloading only the
blobs it lacks, once per node however many processes ask."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vlmhb.core.storage import ProgressFn
from vlmhb.data.storage.cache import Cache
from vlmhb.data.storage.housekeeping import shrink
from vlmhb.data.storage.manifest import Manifest, ManifestEntry
from vlmhb.data.storage.provider import StorageProvider
from vlmhb.data.storage.settings import StorageSettings
from vlmhb.data.storage.transfer import Tally, download_verified, require_manifest, run_parallel
from vlmhb.data.storage.uri import safe_join, safe_relpath


class SmartSync:
    """Syncs datasets into ``cache`` with the transfer settings of ``settings``."""

    def __init__(self, cache: Cache, settings: StorageSettings) -> None:
        self.cache = cache
        self.settings = settings

    @contextmanager
    def materialise(
        self, provider: StorageProvider, progress: ProgressFn | None = None
    ) -> Iterator[Path]:
        """The dataset's complete folder in the cache, held in use until the block ends.
        One GET (the manifest) when it is cached already."""
        manifest = require_manifest(provider)
        dataset_hash = manifest.dataset_hash()
        with self.cache.in_use(dataset_hash):
            if not self.cache.is_complete(dataset_hash):
                self._build(provider, manifest, progress)
                if self.settings.data_cache_max_bytes is not None:
                    shrink(self.cache, self.settings.data_cache_max_bytes)
            yield self.cache.files_dir(dataset_hash)

    def _build(
        self, provider: StorageProvider, manifest: Manifest, progress: ProgressFn | None
    ) -> None:
        dataset_hash = manifest.dataset_hash()
        with self.cache.building(dataset_hash, provider.uri) as folder:
            if self.cache.is_complete(dataset_hash):  # another process built it meanwhile
                return
            by_blob: dict[str, list[ManifestEntry]] = {}
            for entry in manifest.files:
                by_blob.setdefault(entry.sha256, []).append(entry)
            missing = {sha for sha in by_blob if not self.cache.has_blob(sha)}
            counted = [e for sha in missing for e in by_blob[sha]]
            tally = Tally(
                f"sync {provider.uri}", len(counted), sum(e.size for e in counted), progress
            )

            def bring(sha: str) -> None:
                entries = by_blob[sha]
                links = [safe_join(folder, safe_relpath(e.path)) for e in entries]
                streamed = [0]

                def on_bytes(count: int) -> None:
                    streamed[0] += count
                    tally.add(nbytes=count)

                def fill(part: Path) -> None:
                    download_verified(provider, entries[0], part, self.settings, on_bytes)

                self.cache.add_blob(entries[0], fill, links)
                if sha in missing:  # counted whoever fetched it: this process or another
                    total = sum(e.size for e in entries)
                    tally.add(files=len(entries), nbytes=total - streamed[0])

            run_parallel(bring, list(by_blob), self.settings.transfer_workers)
            self.cache.finish(dataset_hash, manifest)
