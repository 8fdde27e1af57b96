"""Registries find plugins from installed-package entry points and registry YAML folders."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vlmhb.core.errors import ConfigError, UnknownNameError
from vlmhb.core.registries import get_registries
from vlmhb.core.registry import Registry

PLUGIN_MODULE = '''
class WordCount:
    """A metric from a third-party package: number of words in the answer."""
    name = "word_count"
    def score(self, prediction, reference):
        return float(len(prediction.split()))
'''


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny package installed the way pip lays it out: a module plus dist-info metadata
    with an ``entry_points.txt`` — no core code knows about it."""
    site = tmp_path / "site"
    (site / "vlmhb_wordcount").mkdir(parents=True)
    (site / "vlmhb_wordcount" / "__init__.py").write_text(PLUGIN_MODULE, encoding="utf-8")
    dist = site / "vlmhb_wordcount-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: vlmhb-wordcount\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[vlmhb.metrics]\nword_count = vlmhb_wordcount:WordCount\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("vlmhb_wordcount", None)


def test_entry_point_plugin_is_registered_without_core_changes(installed_plugin: Path) -> None:
    metrics: Registry[type] = Registry("metric")
    assert "word_count" in metrics.names()
    entry = metrics.entry("word_count")
    assert "vlmhb-wordcount" in entry.source
    plugin = metrics.get("word_count")()
    assert plugin.score("a b c", "") == 3.0


def test_builtin_plugins_of_each_kind_are_listed() -> None:
    registries = get_registries()
    assert {"scripted", "tesseract"} <= set(registries.models.names())
    assert {"vqa", "extraction", "classification", "ordering"} == set(registries.tasks.names())
    assert {"inference", "evaluation", "report", "experiment_report"} <= set(
        registries.stages.names()
    )
    assert {"vqa_csv", "json_extraction"} <= set(registries.datasets.names())


def test_unknown_name_suggests_closest() -> None:
    registry: Registry[int] = Registry("widget", group="vlmhb.none")
    registry.register("alpha", 1)
    registry.register("beta", 2)
    with pytest.raises(UnknownNameError) as info:
        registry.get("alpah")
    assert "Did you mean 'alpha'" in str(info.value)
    assert info.value.suggestions == ["alpha"]


def test_registry_yaml_folder_adds_model_presets(tmp_path: Path) -> None:
    folder = tmp_path / "registry"
    folder.mkdir()
    (folder / "models.yaml").write_text(
        "- kind: model\n  name: ocr-rus\n  backend: tesseract\n  params: {lang: rus}\n"
        "- kind: dataset\n  name: snils-demo\n  format: json_extraction\n  path: /data/snils\n",
        encoding="utf-8",
    )
    registries = get_registries([folder])
    assert registries.model_presets.get("ocr-rus")["backend"] == "tesseract"
    assert registries.dataset_presets.get("snils-demo")["format"] == "json_extraction"
    assert "registry file" in registries.model_presets.entry("ocr-rus").source


def test_registry_yaml_errors_name_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "x.yaml").write_text("- kind: gadget\n  name: g\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x\.yaml \[g\].*unknown registry kind 'gadget'"):
        get_registries([folder])
    (folder / "x.yaml").write_text("- kind: model\n  name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x\.yaml:\d+: invalid YAML"):
        get_registries([folder / ".." / "bad"])


def test_registry_yaml_metric_variant_is_a_usable_metric(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "variants.yaml").write_text(
        "kind: metric\nname: cer_yo\nbase: cer\noptions: {yo_to_e: true, casefold: true}\n",
        encoding="utf-8",
    )
    metric = get_registries([folder]).metrics.get("cer_yo")
    assert metric.name == "cer_yo"
    assert metric.score("ПЁТР", "петр") == 0.0
    assert get_registries().metrics.get("cer").score("ПЁТР", "петр") == 1.0
