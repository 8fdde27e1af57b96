"""``PageCache`` on real synthetic document pages: the bytes sent are exactly those of
reading and cropping each page afresh; each page is read and decoded once however many
questions ask about it (also from 16 threads at once); memory stays bounded; a changed
file is read again."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import threading
from pathlib import Path

import pytest
from PIL import Image

from vlmhb.data.synth import generate_dataset
from vlmhb.inference.images import ImageError, encode_image
from vlmhb.inference.page_cache import PageCache

Box = tuple[int, int, int, int]


@pytest.fixture(scope="module")
def questions(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Box]]:
    """Every field question of 6 generated pages: (page, answer box)."""
    folder = tmp_path_factory.mktemp("docs")
    generate_dataset(folder, n=2, seed=5, formats=["vqa_csv"])
    with (folder / "annotation.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    return [(folder / r["image_path"], tuple(json.loads(r["answer_bbox"]))) for r in rows]


def fresh(path: Path, box: Box | None) -> str:
    """The reference: read the file now; crop and PNG-encode the box, else send as is."""
    data = path.read_bytes()
    if box is None:
        return "data:image/jpeg;base64," + base64.b64encode(data).decode()
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).crop(box).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_cached_urls_are_the_bytes_of_a_fresh_read(questions: list[tuple[Path, Box]]) -> None:
    cache, uncached = PageCache(), PageCache(max_bytes=0)
    for path, box in questions:
        for region in (box, None):
            expected = fresh(path, region)
            assert cache.data_url(path, region) == expected
            assert uncached.data_url(path, region) == expected
    pages = {path for path, _ in questions}
    assert len(questions) > 3 * len(pages)  # several questions per page
    assert cache.reads == len(pages) and cache.decodes == len(pages)  # once per page
    assert uncached.reads == 2 * len(questions)  # without a cache: every call reads


def test_threads_asking_for_one_page_share_one_read_and_decode(
    questions: list[tuple[Path, Box]],
) -> None:
    cache = PageCache()
    path = questions[0][0]
    boxes = [box for page, box in questions if page == path]
    urls: list[str] = []
    start = threading.Barrier(16)

    def ask(box: Box) -> None:
        start.wait()
        urls.append(cache.data_url(path, box))

    threads = [threading.Thread(target=ask, args=(boxes[i % len(boxes)],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (cache.reads, cache.decodes) == (1, 1)
    assert sorted(urls) == sorted(fresh(path, boxes[i % len(boxes)]) for i in range(16))


def test_memory_is_bounded_and_evicted_pages_are_read_again(
    questions: list[tuple[Path, Box]],
) -> None:
    pages = sorted({path for path, _ in questions})
    one_page = 3 * pages[0].stat().st_size + 1000 * 1000 * 3  # its bytes, URL and pixels
    cache = PageCache(max_bytes=2 * one_page)
    for path in pages:
        cache.data_url(path, (0, 0, 10, 10))
        cache.data_url(path)
        assert cache._held <= cache.max_bytes
    assert cache.reads == len(pages)
    cache.data_url(pages[0])  # evicted by now: read again
    assert cache.reads == len(pages) + 1
    cache.data_url(pages[-1])  # still held
    assert cache.reads == len(pages) + 1


def test_a_changed_file_is_read_again_and_bad_input_is_an_image_error(tmp_path: Path) -> None:
    page = tmp_path / "page.png"
    Image.new("RGB", (40, 20), "white").save(page)
    cache = PageCache()
    first = encode_image(page, (0, 0, 10, 10), pages=cache)
    Image.new("RGB", (40, 20), "black").save(page)
    os.utime(page, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    assert encode_image(page, (0, 0, 10, 10), pages=cache) != first
    assert cache.reads == 2
    with pytest.raises(ImageError, match=r"^crop box \(0, 0, 99, 99\) is outside the image"):
        encode_image(page, (0, 0, 99, 99), pages=cache)
    with pytest.raises(ImageError, match="cannot read image"):
        encode_image(tmp_path / "missing.png", pages=cache)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ImageError, match="cannot read image"):
        encode_image(tmp_path / "junk.png", pages=cache)


def test_a_ready_url_is_only_a_whole_page_made_already(tmp_path: Path) -> None:
    page = tmp_path / "page.png"
    Image.new("RGB", (40, 20), "white").save(page)
    cache = PageCache()
    assert cache.ready_url(page) is None and cache.reads == 0  # nothing read to answer
    whole = cache.data_url(page)
    assert cache.ready_url(page) == whole and cache.reads == 1
    cache.data_url(page, (0, 0, 10, 10))
    assert cache.ready_url(page) == whole  # a crop is made per question, the page is kept
    Image.new("RGB", (40, 20), "black").save(page)
    os.utime(page, ns=(1, 1))
    assert cache.ready_url(page) is None  # changed on disk: not the page cached
    assert cache.ready_url(tmp_path / "missing.png") is None
