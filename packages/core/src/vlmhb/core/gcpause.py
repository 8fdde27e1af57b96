"""The cyclic garbage collector kept out of hot paths: ``paused_gc`` holds it off while a
run file is read into many small objects; ``frozen_heap`` hides what is alive from it
while a load of requests runs.

With it running, each full collection walks the whole growing heap: reading 100,000
samples and a half-finished ``answers.csv`` took 14-22 × the time of 10,000
(``benchmarks/scale.py``), about 9 × with it paused. Reference counting still frees
everything at once; only reference cycles made inside wait for the next collection.
Nesting and threads are safe: the collector comes back when the last reader leaves, and
only if it was on when the first came in.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_readers = 0
_was_enabled = False
_freezers = 0


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector for the block (and re-enable it after, as it was)."""
    global _readers, _was_enabled
    with _lock:
        if _readers == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _readers += 1
    try:
        yield
    finally:
        with _lock:
            _readers -= 1
            if _readers == 0 and _was_enabled:
                gc.enable()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Move the objects alive at entry out of the collector's sight (``gc.freeze``) for
    the block and hand them back after (``gc.unfreeze``): a collection during the block
    walks only what it allocated, not a run's samples and every module. (A full
    collection in the middle of a load took 30-75 ms, a stall of every request in
    flight.) The collector stays on; nested blocks unfreeze when the last one leaves."""
    global _freezers
    with _lock:
        if _freezers == 0:
            gc.freeze()
        _freezers += 1
    try:
        yield
    finally:
        with _lock:
            _freezers -= 1
            if _freezers == 0:
                gc.unfreeze()
