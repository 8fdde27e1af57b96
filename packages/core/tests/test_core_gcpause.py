"""``frozen_heap``: what is alive at entry is out of the collector's sight inside the
block (nested blocks too) and handed back after, so nothing stays uncollectable."""

from __future__ import annotations

import gc
import weakref

from vlmhb.core.gcpause import frozen_heap


def test_objects_alive_at_entry_are_frozen_inside_and_handed_back_after() -> None:
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        frozen = gc.get_freeze_count()  # falls a little as frozen objects are freed
        assert frozen > 0
        # objects a second freeze would take too
        made_since: list[dict[str, int]] = [{} for _ in range(5000)]
        with frozen_heap():  # nested: no second freeze...
            assert gc.get_freeze_count() <= frozen
        assert frozen - 1000 < gc.get_freeze_count() <= frozen  # ...and no early unfreeze
        del made_since
    assert gc.get_freeze_count() == 0


def test_a_cycle_made_before_the_block_is_collected_after_it() -> None:
    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    with frozen_heap():
        del a, b
        gc.collect()
        assert alive() is not None  # frozen: the collector does not see the cycle
    gc.collect()
    assert alive() is None  # handed back: collected
