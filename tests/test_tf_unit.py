"""scripts/tf.py: the environment Terraform runs with, backend settings, error hints."""

from __future__ import annotations

import pytest

from scripts import tf


def test_localstack_endpoint_comes_from_aws_endpoint_url() -> None:
    environ = tf.terraform_environ("localstack", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4599"})
    assert environ["TF_VAR_localstack_endpoint"] == "http://127.0.0.1:4599"
    assert environ["TF_INPUT"] == "0"
    default = tf.terraform_environ("localstack", {})
    assert default["TF_VAR_localstack_endpoint"] == "http://localhost:4566"


def test_seoul_never_gets_a_localstack_endpoint() -> None:
    environ = tf.terraform_environ("seoul", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4599"})
    assert "TF_VAR_localstack_endpoint" not in environ


def test_seoul_backend_needs_a_bucket(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("TF_STATE_BUCKET", raising=False)
    with pytest.raises(SystemExit) as exc:
        tf.backend_args("seoul")
    assert exc.value.code == 2
    assert "TF_STATE_BUCKET is not set" in capsys.readouterr().err


def test_seoul_backend_from_partial_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_STATE_BUCKET", "my-state")
    monkeypatch.delenv("TF_STATE_KEY", raising=False)
    assert tf.backend_args("seoul") == [
        "-backend-config=bucket=my-state",
        "-backend-config=key=seoul/terraform.tfstate",
    ]
    assert tf.backend_args("localstack") == []


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("Error: Saved plan is stale", "run the plan again"),
        ("Error: Error acquiring the state lock", "make unlock"),
        ("dial tcp 127.0.0.1:4566: connect: connection refused", "make up"),
        ("No valid credential sources found", "AWS_PROFILE"),
        ("something else", "make help"),
    ],
)
def test_hints_name_the_next_step(stderr: str, expected: str) -> None:
    assert expected in tf.hint_for(stderr)


def test_unknown_environment_is_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        tf.env_dir("prod")
    assert "unknown environment 'prod'" in capsys.readouterr().err


def test_apply_refuses_a_missing_plan_file(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        tf.apply("seoul", tmp_path / "nope.tfplan")
    assert exc.value.code == 2
    assert "does not exist" in capsys.readouterr().err
