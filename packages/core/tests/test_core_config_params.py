"""Backend params are checked by ``vlmhb validate`` against each backend's ``Params``
model: unknown names (with did-you-mean), types, ranges and input files, at file:line;
load settings are the model's typed ``load``, not params."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmhb.core.config import load_experiment
from vlmhb.core.errors import ConfigError

EXPERIMENT = """\
name: params
models:
  - name: oracle
    backend: {backend}
    params: {params}
{extra}datasets:
  - {{name: mini, format: vqa_csv, path: data/mini}}
tasks:
  - name: mini_vqa
    dataset: mini
    metrics: [cer]
{task_extra}"""


def load(
    tmp: Path, params: str, backend: str = "scripted", extra: str = "", task_extra: str = ""
) -> object:
    path = tmp / "exp.yaml"
    path.write_text(
        EXPERIMENT.format(backend=backend, params=params, extra=extra, task_extra=task_extra),
        encoding="utf-8",
    )
    return load_experiment(path)


def error(tmp: Path, params: str, **kwargs: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp, params, **kwargs)
    return str(caught.value)


@pytest.mark.parametrize(
    ("backend", "params", "wrong", "meant"),
    [
        ("scripted", "{latency: 40}", "latency", "latency_ms"),
        ("scripted", "{answer_colum: answer}", "answer_colum", "answer_column"),
        ("tesseract", "{langs: rus}", "langs", "lang"),
        ("openai", "{request_per_s: 5}", "request_per_s", "requests_per_s"),
        ("vllm", "{engine_arg: [--x]}", "engine_arg", "engine_args"),
        ("transformers", "{max_batchsize: 4}", "max_batchsize", "max_batch_size"),
    ],
)
def test_a_typo_is_an_error_with_did_you_mean(
    vqa_dataset: Path, backend: str, params: str, wrong: str, meant: str
) -> None:
    message = error(vqa_dataset.parent.parent, params, backend=backend)
    assert f"exp.yaml:5: field 'models.0.params.{wrong}'" in message
    assert f"unknown param {wrong!r}" in message and f"Did you mean {meant!r}" in message


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ("{latency_ms: fast}", "latency_ms", "valid number"),
        ("{noise: 3}", "noise", "less than or equal to 1"),
        ("{fail_first_n: -1}", "fail_first_n", "greater than or equal to 0"),
        ("{rule: shout}", "rule", "unknown rule"),
    ],
)
def test_bad_types_and_ranges(vqa_dataset: Path, params: str, field: str, words: str) -> None:
    message = error(vqa_dataset.parent.parent, params)
    assert f"exp.yaml:5: field 'models.0.params.{field}'" in message and words in message


def test_other_backends_check_types_too(vqa_dataset: Path) -> None:
    tmp = vqa_dataset.parent.parent
    assert "params.psm" in error(tmp, "{psm: 20}", backend="tesseract")
    assert "params.dtype" in error(tmp, "{dtype: int4}", backend="transformers")
    assert "params.stop_grace_s" in error(tmp, "{stop_grace_s: soon}", backend="sglang")


def test_a_missing_answers_file_is_caught_by_validate(vqa_dataset: Path) -> None:
    message = error(vqa_dataset.parent.parent, "{answers_file: data/nope.csv}")
    assert "exp.yaml:5: field 'models.0.params.answers_file'" in message
    assert "nope.csv does not exist" in message


def test_good_params_load_with_defaults_filled_by_the_backend(vqa_dataset: Path) -> None:
    tmp = vqa_dataset.parent.parent
    (tmp / "answers.csv").write_text("id;model_answer\n", encoding="utf-8")
    spec = load(tmp, "{answers_file: answers.csv, latency_ms: 5, fail_ids: [3]}")
    assert spec.models[0].params["answers_file"] == str((tmp / "answers.csv").resolve())


def test_load_settings_are_typed_and_not_params(vqa_dataset: Path) -> None:
    tmp = vqa_dataset.parent.parent
    spec = load(tmp, "{}", extra="    load: {request_rate: 5, warmup: 2, slo: 'ttft:500'}\n")
    assert spec.models[0].load.request_rate == 5 and spec.models[0].load.warmup == 2
    assert spec.models[0].load.slo == {"ttft": 500.0}
    message = error(tmp, "{warmup: 2}")
    assert "exp.yaml:5: field 'models.0.params.warmup'" in message
    assert "'models.0.load.warmup'" in message
    message = error(tmp, "{}", task_extra="    options: {request_rate: 3}\n")
    assert "field 'tasks.0.options.request_rate'" in message and "load" in message
    message = error(tmp, "{}", extra="    load: {warmpu: 2}\n")
    assert "exp.yaml:6: field 'models.0.load.warmpu'" in message
    message = error(tmp, "{}", extra="    load: {slo: 'speed:3'}\n")
    assert "models.0.load.slo" in message and "unknown SLO" in message


def test_load_settings_change_the_run_id_only_when_set(vqa_dataset: Path) -> None:
    from vlmhb.core.contracts import LoadSpec, ModelSpec, stable_hash

    plain = ModelSpec(name="m", backend="scripted")
    default = plain.model_copy(update={"load": LoadSpec(warmup=0)})
    warm = plain.model_copy(update={"load": LoadSpec(warmup=2)})
    assert plain.answer_fingerprint() == default.answer_fingerprint()
    assert stable_hash(warm.answer_fingerprint()) != stable_hash(plain.answer_fingerprint())
