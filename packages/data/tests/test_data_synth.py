"""Synthetic document generator: determinism, ground truth, degradations, real OCR."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlmhb.core.contracts import DatasetSpec
from vlmhb.core.errors import ConfigError
from vlmhb.data.readers import JsonExtractionReader, VqaCsvReader
from vlmhb.data.synth import generate_dataset
from vlmhb.data.synth.degrade import rotate_box
from vlmhb.data.synth.values import snils_number

N = 2
FIELD_COUNTS = {"passport": 10, "invoice": 8, "snils": 8}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "clean"
    generate_dataset(out, n=N, seed=7)
    return out


@pytest.fixture(scope="module")
def degraded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "degraded"
    generate_dataset(
        out,
        n=N,
        seed=7,
        degradations=["noise", "rotate", "blur", "gray", "brightness"],
        strength=1.0,
    )
    return out


def test_same_seed_gives_identical_bytes(clean: Path, tmp_path: Path) -> None:
    generate_dataset(tmp_path / "again", n=N, seed=7)
    assert _files(tmp_path / "again") == _files(clean)
    generate_dataset(tmp_path / "other", n=N, seed=8)
    assert _files(tmp_path / "other")["annotation.csv"] != _files(clean)["annotation.csv"]


def test_documents_do_not_depend_on_other_kinds(clean: Path, tmp_path: Path) -> None:
    generate_dataset(tmp_path / "snils", kinds=["snils"], n=N, seed=7)
    alone = json.loads((tmp_path / "snils" / "jsons" / "0.json").read_text(encoding="utf-8"))
    mixed = json.loads((clean / "jsons" / str(2 * N)).with_suffix(".json").read_text("utf-8"))
    assert alone["fields"] == mixed["fields"]


def test_layout_and_description(clean: Path) -> None:
    assert sorted(p.name for p in clean.iterdir()) == [
        "README.txt",
        "annotation.csv",
        "dataset.json",
        "images",
        "jsons",
    ]
    assert len(list((clean / "images" / "clean").glob("*.jpg"))) == 3 * N
    info = json.loads((clean / "dataset.json").read_text(encoding="utf-8"))
    assert info["seed"] == 7
    assert info["documents"] == {"passport": N, "invoice": N, "snils": N}
    assert info["vqa_rows"] == N * sum(FIELD_COUNTS.values())
    assert "seed: 7" in (clean / "README.txt").read_text(encoding="utf-8")


def test_readers_load_everything_back(clean: Path) -> None:
    vqa = VqaCsvReader().read(DatasetSpec(name="s", format="vqa_csv", path=clean))
    assert vqa.problems == []
    assert len(vqa.samples) == N * sum(FIELD_COUNTS.values())
    for kind, count in FIELD_COUNTS.items():
        assert sum(s.doc_class == kind for s in vqa.samples) == N * count
    first = vqa.samples[0]
    assert first.question == f"Напиши {first.question_type}"
    assert first.split == "clean"

    docs = JsonExtractionReader().read(DatasetSpec(name="s", format="json_extraction", path=clean))
    assert docs.problems == []
    assert [s.doc_class for s in docs.samples] == ["passport"] * N + ["invoice"] * N + ["snils"] * N
    rows: dict[str, dict[str, str]] = {}
    for sample in vqa.samples:
        rows.setdefault(f"clean/{sample.extra['data_index']}", {})[sample.question_type] = (
            sample.answer
        )
    assert rows == {doc.id: doc.fields for doc in docs.samples}


def test_boxes_are_inside_images_and_tall_enough(clean: Path, degraded: Path) -> None:
    for folder in (clean, degraded):
        load = VqaCsvReader().read(DatasetSpec(name="s", format="vqa_csv", path=folder))
        assert load.problems == []
        for sample in load.samples:
            assert sample.bbox is not None and sample.image_path is not None
            width, height = Image.open(sample.image_path).size
            x1, y1, x2, y2 = sample.bbox
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            assert width <= 1000
            if folder is clean:
                assert y2 - y1 >= 28  # value font of 28-36 px: capitals alone are ≥ 20 px


def test_box_holds_the_ink(clean: Path) -> None:
    """Outside the value box, the value's row band holds no dark pixels right of the label."""
    load = VqaCsvReader().read(DatasetSpec(name="s", format="vqa_csv", path=clean))
    for sample in load.samples[:10]:
        assert sample.bbox is not None and sample.image_path is not None
        gray = np.asarray(Image.open(sample.image_path).convert("L"))
        x1, y1, x2, y2 = (int(v) for v in sample.bbox)
        band = gray[y1:y2, x2 : gray.shape[1] - 20]
        assert (band < 100).sum() == 0
        assert (gray[y1:y2, x1:x2] < 100).sum() > 50


def test_degraded_subset_differs_but_keeps_truth(clean: Path, degraded: Path) -> None:
    assert (degraded / "images" / "rotate-gray-brightness-blur-noise").is_dir()
    one = json.loads((clean / "jsons" / "0.json").read_text(encoding="utf-8"))
    two = json.loads((degraded / "jsons" / "0.json").read_text(encoding="utf-8"))
    assert {k: v["value"] for k, v in one["fields"].items()} == {
        k: v["value"] for k, v in two["fields"].items()
    }
    image = Image.open(degraded / "images" / "rotate-gray-brightness-blur-noise" / "0.jpg")
    assert image.mode == "L"


def test_rotate_box_follows_a_pixel() -> None:
    image = Image.new("L", (400, 300), 0)
    image.putpixel((300, 50), 255)
    ys, xs = np.nonzero(np.asarray(image.rotate(10, resample=Image.Resampling.NEAREST)))
    x1, y1, x2, y2 = rotate_box((300, 50, 301, 51), 10, (400, 300))
    assert x1 <= xs[0] < x2 and y1 <= ys[0] < y2


def test_snils_check_sum() -> None:
    assert snils_number([1, 1, 2, 2, 3, 3, 4, 4, 5]) == "112-233-445 95"


def test_bad_arguments(tmp_path: Path, clean: Path) -> None:
    with pytest.raises(ConfigError, match="unknown kind"):
        generate_dataset(tmp_path / "a", kinds=["visa"])
    with pytest.raises(ConfigError, match="unknown degradation"):
        generate_dataset(tmp_path / "a", degradations=["fog"])
    with pytest.raises(ConfigError, match="strength"):
        generate_dataset(tmp_path / "a", degradations=["blur"], strength=2)
    with pytest.raises(ConfigError, match="unknown format"):
        generate_dataset(tmp_path / "a", formats=["coco"])
    with pytest.raises(ConfigError, match="--overwrite"):
        generate_dataset(clean, n=1)


def test_overwrite_and_single_format(tmp_path: Path) -> None:
    out = tmp_path / "out"
    generate_dataset(out, kinds=["invoice"], n=3, formats=["json_extraction"])
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    summary = generate_dataset(out, kinds=["invoice"], n=1, formats=["vqa_csv"], overwrite=True)
    assert summary.documents == {"invoice": 1}
    assert not (out / "jsons").exists()
    assert (out / "keep.txt").exists()
    assert len(list((out / "images" / "clean").iterdir())) == 1


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract binary not installed")
def test_tesseract_reads_cropped_fields(clean: Path, tmp_path: Path) -> None:
    langs = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True).stdout
    if "rus" not in langs.split():
        pytest.skip("tesseract has no 'rus' language data (apt-get install tesseract-ocr-rus)")
    load = VqaCsvReader().read(DatasetSpec(name="s", format="vqa_csv", path=clean))
    samples = load.samples[::3]  # a third of the fields keeps the test short
    exact = 0
    for sample in samples:
        assert sample.bbox is not None and sample.image_path is not None
        crop = tmp_path / f"{sample.id}.png"
        Image.open(sample.image_path).crop(sample.bbox).save(crop)
        result = subprocess.run(
            ["tesseract", str(crop), "-", "-l", "rus", "--psm", "7"],
            capture_output=True,
            text=True,
            check=True,
        )
        exact += result.stdout.strip() == sample.answer
    assert exact >= 0.8 * len(samples), f"only {exact}/{len(samples)} fields read exactly"


def test_missing_font_has_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vlmhb.data.synth import fonts

    monkeypatch.setattr(fonts, "FONT_DIRS", (tmp_path / "none",))
    monkeypatch.delenv(fonts.FONT_ENV, raising=False)
    with pytest.raises(ConfigError, match="fonts-dejavu-core"):
        fonts.find_font()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "DejaVuSans.ttf").write_bytes(b"font")
    monkeypatch.setenv(fonts.FONT_ENV, str(tmp_path / "mine"))
    assert fonts.find_font() == tmp_path / "mine" / "DejaVuSans.ttf"
