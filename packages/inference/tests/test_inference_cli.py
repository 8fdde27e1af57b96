"""``vlmhb-api`` argument handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlmhb.inference.backends.scripted import ScriptedBackend
from vlmhb.inference.cli import build_spec, make_backend, parser


def test_params_are_json_when_they_parse_and_override_the_spec_file(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(
        '{"name": "n", "backend": "scripted", "params": {"noise": 0.5, "rule": "echo"}}',
        encoding="utf-8",
    )
    args = parser().parse_args(
        [
            "serve",
            "--model-spec",
            str(spec_file),
            "--model",
            "/m/answers.csv",
            "--param",
            "noise=0.1",
            "--param",
            'fail_ids=["1", "2"]',
            "--param",
            "rule=constant:a=b",
        ]
    )
    spec = build_spec(args)
    assert (spec.name, spec.backend, spec.model_path) == ("n", "scripted", "/m/answers.csv")
    assert spec.params == {"noise": 0.1, "rule": "constant:a=b", "fail_ids": ["1", "2"]}
    assert isinstance(make_backend(spec), ScriptedBackend)


def test_bad_param_syntax_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["serve", "--backend", "scripted", "--param", "novalue"])
    assert "key=value" in capsys.readouterr().err
