"""v0.1 model packages run unchanged: a ``vlm_base.csv`` row naming a package, module and
``ModelInterface`` class is served by the ``model_interface`` backend. The package is
written here, installed from its local path into a cached model env by a real
``vlmhb run`` of a v0.1 folder; a submitted config may only pick such a model by name."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from vlmhb.core.config.loader import load_experiment
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.contracts import ModelSpec
from vlmhb.core.errors import ConfigError
from vlmhb.inference.backends.base import BackendError, GenerationRequest
from vlmhb.inference.backends.model_interface import ModelInterfaceBackend

VLMHB = [sys.executable, "-m", "vlmhb.core.cli.main"]
USER_HEADER = (
    "dataset;task;framework;model_name;system_prompt;prompt_collection;metrics;"
    "only_evaluate_metrics;metrics_aggregators;filter_doc_class;filter_question_type"
)
BASE_HEADER = (
    "framework;model_family;model_name;docker_image;git_python_package;"
    "python_package;module;class_name"
)
PACKAGE = "v01_demo_model"
INTERFACE = '''from abc import ABC, abstractmethod
from typing import Any


class ModelInterface(ABC):
    """v0.1's interface (model_interface.model_interface)."""

    def __init__(self, model_name: str, system_prompt: str, cache_dir: str) -> None:
        self.model_name = model_name
        self.system_prompt = system_prompt
        self.cache_dir = cache_dir
        self.framework = ""

    @abstractmethod
    def predict_on_image(self, image: Any, question: str) -> str: ...

    @abstractmethod
    def predict_on_images(self, images: list[Any], question: str) -> str: ...
'''
MODELS = '''from v01_demo_model.model_interface import ModelInterface


class DemoModel(ModelInterface):
    """Answers with its model name and the image size."""

    def predict_on_image(self, image, question):
        return f"{self.model_name}:{image.width}x{image.height}"

    def predict_on_images(self, images, question):
        return " ".join(self.predict_on_image(i, question) for i in images)
'''


def write_package(root: Path) -> Path:
    """A v0.1-style model package (pyproject + module) at ``root``."""
    source = root / PACKAGE
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("", encoding="utf-8")
    (source / "model_interface.py").write_text(INTERFACE, encoding="utf-8")
    (source / "models.py").write_text(MODELS, encoding="utf-8")
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{PACKAGE.replace("_", "-")}"\nversion = "0.1.1"\n'
        '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n'
        f'[tool.setuptools]\npackages = ["{PACKAGE}"]\n',
        encoding="utf-8",
    )
    return root


def vlmhb(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*VLMHB, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
        timeout=500,
    )
    assert proc.returncode == 0, (
        f"vlmhb {' '.join(args)}: {proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


def test_the_backend_calls_predict_on_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process (the package on sys.path): one image, several pages, a bad class."""
    import asyncio

    write_package(tmp_path / "pkg")
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    spec = ModelSpec(
        name="demo",
        backend="model_interface",
        params={"module": f"{PACKAGE}.models", "class_name": "DemoModel"},
    )
    backend = ModelInterfaceBackend(spec)
    asyncio.run(backend.load())
    one = asyncio.run(
        backend.generate(GenerationRequest(user="Фамилия?", images=[Image.new("RGB", (30, 20))]))
    )
    assert one.text == "demo:30x20"
    pages = asyncio.run(
        backend.generate(
            GenerationRequest(user="?", images=[Image.new("RGB", (1, 2)), Image.new("RGB", (3, 4))])
        )
    )
    assert pages.text == "demo:1x2 demo:3x4"
    wrong = ModelInterfaceBackend(
        spec.model_copy(update={"params": {"module": f"{PACKAGE}.models", "class_name": "Nope"}})
    )
    with pytest.raises(BackendError, match="is not a class"):
        asyncio.run(wrong.load())


@pytest.mark.slow
def test_a_v01_package_runs_through_vlmhb_run(tmp_path: Path) -> None:
    """The package is installed from its path into a cached env; answers.csv has its
    answers for every sample."""
    package = write_package(tmp_path / "pkg")
    folder = tmp_path / "v01"
    dataset = folder / "data_dirs" / "Datasets" / "VQA" / "demo_mini"
    env = {"VLMHB_ENV_CACHE_DIR": str(tmp_path / "envs")}
    vlmhb(
        "datasets",
        "synth",
        "--out",
        str(dataset),
        "--n",
        "1",
        "--seed",
        "3",
        "--kind",
        "snils",
        "--format",
        "vqa_csv",
        cwd=tmp_path,
        env=env,
    )
    prompts = folder / "data_dirs" / "PromptCollections" / "VQA" / "demo_mini"
    prompts.mkdir(parents=True)
    with (dataset / "annotation.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    keys = sorted({f"{r['doc_class']} {r['question_type']}" for r in rows})
    (prompts / "p.csv").write_text(
        "prompt;doc_class_question_type\n" + "".join(f"Напиши {k}.;{k}\n" for k in keys),
        encoding="utf-8",
    )
    (folder / "vlm_base.csv").write_text(
        f"{BASE_HEADER};gpus\nHugging Face;Demo;demo-v01;;{package};{PACKAGE};models;DemoModel;0\n",
        encoding="utf-8",
    )
    (folder / "user_config.csv").write_text(
        f"{USER_HEADER}\ndemo_mini;VQA;Hugging Face;demo-v01;;demo_mini/p.csv;['CER'];False;;;\n",
        encoding="utf-8",
    )
    vlmhb("run", str(folder), "--output-dir", str(tmp_path / "runs"), cwd=tmp_path, env=env)
    run = next(p for p in (tmp_path / "runs" / "v01").iterdir() if (p / "run.json").is_file())
    with (run / "answers.csv").open(encoding="utf-8", newline="") as handle:
        answers = list(csv.DictReader(handle, delimiter=";"))
    assert len(answers) == len(rows)
    sizes = {Image.open(dataset / rows[0]["image_path"]).size}
    assert {a["model_answer"] for a in answers} == {f"demo-v01:{w}x{h}" for w, h in sizes}
    assert all(float(a["latency_ms"]) > 0 for a in answers)
    assert len(list((tmp_path / "envs").glob("*/.ready"))) == 1


def _v01_pair(folder: Path, data: Path, base_row: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "vlm_base.csv").write_text(f"{BASE_HEADER}\n{base_row}\n", encoding="utf-8")
    (folder / "user_config.csv").write_text(
        f"{USER_HEADER}\n{data};VQA;Hugging Face;demo-v01;;;['CER'];False;;;\n", encoding="utf-8"
    )
    return folder


def test_a_submitted_pair_cannot_name_a_v01_package(tmp_path: Path) -> None:
    """module/class_name name code to import: refused from a submitted legacy pair, with
    or without a package to install; the operator's preset is picked by name instead."""
    (tmp_path / "mini").mkdir()
    (tmp_path / "mini" / "annotation.csv").write_text(
        "data_index;split;image_path;question;answer;doc_class;question_type;answer_bbox\n",
        encoding="utf-8",
    )
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "models.yaml").write_text(
        "- kind: model\n  name: demo-v01\n  backend: model_interface\n"
        "  params: {module: v01_demo_model.models, class_name: DemoModel}\n"
        "  env: {packages: [/opt/v01_demo_model]}\n",
        encoding="utf-8",
    )
    policy = SubmissionPolicy(
        data_roots=(tmp_path,), output_root=tmp_path / "runs", registry_dirs=(registry,)
    )
    with_package = _v01_pair(
        tmp_path / "a",
        tmp_path / "mini",
        "Hugging Face;Demo;demo-v01;;git+https://x/y.git;v01_demo_model;models;DemoModel",
    )
    with pytest.raises(ConfigError, match=r"models\.0\.(env|params)"):
        load_experiment(with_package, policy=policy, check=False)
    no_package = _v01_pair(
        tmp_path / "b",
        tmp_path / "mini",
        "Hugging Face;Demo;demo-v01;;;;v01_demo_model.models;DemoModel",
    )
    with pytest.raises(ConfigError, match=r"models\.0\.params\.(module|class_name)"):
        load_experiment(no_package, policy=policy, check=False)
    assert load_experiment(no_package, check=False).models[0].backend == "model_interface"
    submitted = tmp_path / "submitted.yaml"
    submitted.write_text(
        "name: e\nmodels: [demo-v01]\ndatasets: [{name: mini, format: "
        "vqa_csv, path: mini}]\ntasks: [{name: t, dataset: mini}]\n",
        encoding="utf-8",
    )
    spec = load_experiment(submitted, policy=policy, check=False)
    assert spec.models[0].backend == "model_interface"
    assert spec.models[0].params["class_name"] == "DemoModel"
