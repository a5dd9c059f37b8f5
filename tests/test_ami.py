"""gitops.terraform.ami: the pinned AMI moves only when `make ami` rewrites it from SSM.

Unit tests with moto, whose SSM carries a copy of the regions' public AMI parameters; the
environments' own tfvars must hold a pin the roots accept.
"""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import pytest
from gitops.terraform import ami
from gitops.terraform import runner as tf
from moto import mock_aws

TFVARS = """# Non-secret values only.
project_name = "study-seoul"
aws_region   = "ap-northeast-2"
ami_id = "ami-00000000000000000" # an old pin
web_instance_type = "t3.micro"
"""


@pytest.fixture
def seoul_ssm():
    with mock_aws():
        yield boto3.client(
            "ssm",
            region_name="ap-northeast-2",
            aws_access_key_id="test",
            aws_secret_access_key="test",  # moto's dummy credential
        )


def test_current_ami_reads_the_regions_public_parameter(seoul_ssm) -> None:
    expected = seoul_ssm.get_parameter(Name=ami.AMI_PARAMETER)["Parameter"]["Value"]
    assert ami.current_ami(seoul_ssm) == expected
    assert ami.AMI_ID.match(expected)


def test_a_parameter_that_is_not_an_ami_id_is_an_error(seoul_ssm) -> None:
    seoul_ssm.put_parameter(Name="/test/not-an-ami", Value="latest", Type="String")
    with pytest.raises(ami.AmiError, match="'latest', which is not an AMI ID"):
        ami.current_ami(seoul_ssm, "/test/not-an-ami")


def test_with_pin_rewrites_only_the_ami_line() -> None:
    out = ami.with_pin(TFVARS, "ami-0123456789abcdef0", "note")
    assert ami.pinned_ami(out) == "ami-0123456789abcdef0"
    assert out.count("ami_id") == 1
    assert out.replace('ami_id = "ami-0123456789abcdef0" # note', "") == TFVARS.replace(
        'ami_id = "ami-00000000000000000" # an old pin', ""
    )


def test_with_pin_adds_a_line_when_there_is_none() -> None:
    text = TFVARS.replace('ami_id = "ami-00000000000000000" # an old pin\n', "")
    out = ami.with_pin(text, "ami-0123456789abcdef0", "note")
    assert out.startswith(text)
    assert ami.pinned_ami(out) == "ami-0123456789abcdef0"


def test_with_pin_refuses_a_value_that_is_not_an_ami_id() -> None:
    with pytest.raises(ami.AmiError):
        ami.with_pin(TFVARS, 'ami-1" ; evil = "x', "note")


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ssm, *args: str) -> tuple[int, str]:
    path = tmp_path / "terraform.tfvars"
    monkeypatch.setattr(ami, "tfvars_path", lambda env: path)
    monkeypatch.setattr(ami, "ssm_client", lambda env, region: ssm)
    return ami.main(["seoul", *args]), path.read_text()


def test_main_writes_the_current_ami_and_check_then_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seoul_ssm, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "terraform.tfvars").write_text(TFVARS)
    latest = seoul_ssm.get_parameter(Name=ami.AMI_PARAMETER)["Parameter"]["Value"]

    code, _ = _run(tmp_path, monkeypatch, seoul_ssm, "--check")
    assert code == 1 and "behind" in capsys.readouterr().out

    code, text = _run(tmp_path, monkeypatch, seoul_ssm)
    assert code == 0 and ami.pinned_ami(text) == latest
    assert f"ami-00000000000000000 -> {latest}" in capsys.readouterr().out
    assert re.search(
        rf'ami_id = "{latest}" # .* in ap-northeast-2 on \d{{4}}-\d{{2}}-\d{{2}}', text
    )

    code, again = _run(tmp_path, monkeypatch, seoul_ssm, "--check")
    assert code == 0 and again == text


@pytest.mark.parametrize("env", tf.known())
def test_every_environment_pins_its_ami(env: str) -> None:
    text = ami.tfvars_path(env).read_text()
    pinned = ami.pinned_ami(text)
    assert pinned and ami.AMI_ID.match(pinned), f"envs/{env}/terraform.tfvars pins no AMI"


@pytest.mark.parametrize("env", tf.known())
def test_each_root_says_whether_its_instances_run_user_data_as_its_description_does(
    env: str,
) -> None:
    """envs/<env>/main.tf's instances_run_user_data is the Terraform side of `emulated` in
    environment.toml: only an emulator skips user data (and so needs no egress for it)."""
    text = (tf.env_dir(env) / "main.tf").read_text()
    found = re.search(r"^\s*instances_run_user_data\s*=\s*(true|false)\b", text, re.MULTILINE)
    assert found, f"envs/{env}/main.tf sets no instances_run_user_data"
    assert (found.group(1) == "true") is (not tf.describe(env).emulated)
