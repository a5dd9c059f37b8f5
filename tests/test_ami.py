"""gitops.terraform.ami and ami_pin: the pinned AMI moves only when `make ami` rewrites it from
SSM and EC2, and the pin records the region and image it was resolved for.

Unit tests with moto, whose SSM and EC2 carry a copy of the regions' public AMI parameters and
their images; the environments' own tfvars must hold a pin the roots accept, for their region.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from gitops import environments
from gitops.preview import model, sections
from gitops.terraform import ami, ami_pin
from gitops.terraform import runner as tf
from gitops.terraform.ami_pin import AmiPin
from moto import mock_aws

TFVARS = """# Non-secret values only.
project_name = "study-seoul"
aws_region   = "ap-northeast-2"
ami = {
  id     = "ami-00000000000000000"
  region = "ap-northeast-2"
  name   = "al2023-ami-2023.1.20230101.0-kernel-6.1-x86_64"
} # an old pin
web_instance_type = "t3.micro"
"""
OLD_PIN = AmiPin(
    "ami-00000000000000000", "ap-northeast-2", "al2023-ami-2023.1.20230101.0-kernel-6.1-x86_64"
)
NEW_PIN = AmiPin(
    "ami-0123456789abcdef0", "ap-northeast-2", "al2023-ami-2023.12.20260930.0-kernel-6.18-x86_64"
)


def aws_clients(region: str) -> tuple:
    kwargs = {"region_name": region, "aws_access_key_id": "test",
              "aws_secret_access_key": "test"}  # moto's dummy credential  # fmt: skip
    return boto3.client("ssm", **kwargs), boto3.client("ec2", **kwargs)


@pytest.fixture
def seoul_aws():
    """moto's SSM and EC2 in Seoul: a copy of AWS's public AMI parameters and their images."""
    with mock_aws():
        yield aws_clients("ap-northeast-2")


def test_current_ami_reads_the_regions_public_parameter(seoul_aws) -> None:
    ssm, _ = seoul_aws
    expected = ssm.get_parameter(Name=ami.AMI_PARAMETER)["Parameter"]["Value"]
    assert ami.current_ami(ssm) == expected
    assert ami_pin.AMI_ID.match(expected)


def test_a_parameter_that_is_not_an_ami_id_is_an_error(seoul_aws) -> None:
    ssm, _ = seoul_aws
    ssm.put_parameter(Name="/test/not-an-ami", Value="latest", Type="String")
    with pytest.raises(ami.AmiError, match="'latest', which is not an AMI ID"):
        ami.current_ami(ssm, "/test/not-an-ami")


@pytest.mark.parametrize("region", ["ap-northeast-2", "ap-northeast-1"])
def test_resolve_records_the_region_and_the_images_name(region: str) -> None:
    """The ID from the parameter, the name from DescribeImages: the release the ID is."""
    with mock_aws():
        ssm, ec2 = aws_clients(region)
        pin = ami.resolve(ssm, ec2, region)
        image_id = ssm.get_parameter(Name=ami.AMI_PARAMETER)["Parameter"]["Value"]
        (image,) = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert pin == AmiPin(image_id, region, image["Name"])
    assert pin.name.startswith("al2023-ami-") and pin.release and pin.problem() is None


def test_resolve_refuses_an_image_ec2_does_not_know(seoul_aws) -> None:
    ssm, ec2 = seoul_aws
    ssm.put_parameter(Name="/test/gone", Value="ami-0123456789abcdef0", Type="String")
    with pytest.raises(ami.AmiError, match="describes 0 images of that ID"):
        ami.resolve(ssm, ec2, "ap-northeast-2", "/test/gone")


def test_the_pin_reads_back_what_it_writes_and_only_its_block_changes() -> None:
    assert ami_pin.read(TFVARS) == OLD_PIN
    out = ami_pin.write(TFVARS, NEW_PIN, "note")
    assert ami_pin.read(out) == NEW_PIN
    assert out.count("ami = {") == 1 and "} # note\n" in out
    assert out.replace(NEW_PIN.block("note"), "") == TFVARS.replace(OLD_PIN.block("an old pin"), "")


def test_the_pin_is_added_when_there_is_none_and_replaces_the_old_ami_id_line() -> None:
    bare = TFVARS.replace(OLD_PIN.block("an old pin"), "")
    assert ami_pin.read(bare) is None
    out = ami_pin.write(bare, NEW_PIN, "note")
    assert out.startswith(bare) and ami_pin.read(out) == NEW_PIN
    legacy = bare + 'ami_id = "ami-00000000000000000" # before pins recorded their region\n'
    with pytest.raises(ami_pin.PinError, match="the old form of the pin"):
        ami_pin.read(legacy)
    migrated = ami_pin.write(legacy, NEW_PIN, "note")
    assert "ami_id" not in migrated and ami_pin.read(migrated) == NEW_PIN


def test_the_pin_is_read_in_either_hcl_layout_and_a_stray_field_is_refused() -> None:
    one_line = 'ami = { id = "ami-0123456789abcdef0", region = "ap-northeast-2", name = "x-1" }\n'
    assert ami_pin.read(one_line) == AmiPin("ami-0123456789abcdef0", "ap-northeast-2", "x-1")
    with pytest.raises(ami_pin.PinError, match="no name"):
        ami_pin.read('ami = {\n  id = "ami-0123456789abcdef0"\n  region = "eu-west-1"\n}\n')
    with pytest.raises(ami_pin.PinError, match='`arch = "x86_64"` is not one of id'):
        ami_pin.read(TFVARS.replace("  region", '  arch = "x86_64"\n  region'))
    with pytest.raises(ami_pin.PinError, match="not one of id"):
        ami_pin.read(TFVARS.replace('"ap-northeast-2"\n  name', "var.aws_region\n  name"))


def test_write_refuses_a_pin_that_is_not_an_ami_or_an_image_name() -> None:
    with pytest.raises(ami_pin.PinError, match="not an AMI ID"):
        ami_pin.write(TFVARS, AmiPin('ami-1" ; evil = "x', "ap-northeast-2", "n-1"), "note")
    with pytest.raises(ami_pin.PinError, match="not an image name"):
        ami_pin.write(TFVARS, AmiPin("ami-0123456789abcdef0", "ap-northeast-2", 'a"b'), "note")


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws, *args: str) -> tuple[int, str]:
    path = tmp_path / "terraform.tfvars"
    monkeypatch.setattr(ami, "tfvars_path", lambda env: path)
    monkeypatch.setattr(ami, "clients", lambda env, region: aws)
    return ami.main(["seoul", *args]), path.read_text()


def test_main_writes_the_current_ami_and_check_then_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seoul_aws, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "terraform.tfvars").write_text(TFVARS)
    latest = ami.resolve(*seoul_aws, "ap-northeast-2")

    code, _ = _run(tmp_path, monkeypatch, seoul_aws, "--check")
    assert code == 1 and "behind" in capsys.readouterr().out

    code, text = _run(tmp_path, monkeypatch, seoul_aws)
    assert code == 0 and ami_pin.read(text) == latest
    out = capsys.readouterr().out
    assert "ami-00000000000000000 (al2023-ami-2023.1.20230101.0-kernel-6.1-x86_64, " in out
    assert f"-> {latest.id} ({latest.name}, ap-northeast-2)" in out
    assert re.search(r"\} # make ami: .* on \d{4}-\d{2}-\d{2}\n", text)

    code, again = _run(tmp_path, monkeypatch, seoul_aws, "--check")
    assert code == 0 and again == text


def test_a_pin_for_another_region_is_behind_and_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seoul_aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same ID recorded for Tokyo is not Seoul's pin, even when the ID matches."""
    latest = ami.resolve(*seoul_aws, "ap-northeast-2")
    copied = AmiPin(latest.id, "ap-northeast-1", latest.name)
    (tmp_path / "terraform.tfvars").write_text(ami_pin.write(TFVARS, copied, "copied"))
    code, _ = _run(tmp_path, monkeypatch, seoul_aws, "--check")
    assert code == 1 and f"pins {latest.id} ({latest.name}, ap-northeast-1)" in (
        capsys.readouterr().out
    )
    code, text = _run(tmp_path, monkeypatch, seoul_aws)
    assert code == 0 and ami_pin.read(text) == latest


@pytest.mark.parametrize("env", tf.known())
def test_every_environment_pins_an_ami_for_its_own_region(env: str) -> None:
    pin = ami_pin.read(ami.tfvars_path(env).read_text())
    assert pin is not None, f"envs/{env}/terraform.tfvars pins no AMI"
    assert pin.problem() is None and pin.region == tf.describe(env).region
    assert ami_pin.problems(environments.load().values()) == []


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


def test_missing_permissions_end_the_run_with_what_to_grant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seoul_aws, capsys: pytest.CaptureFixture[str]
) -> None:
    ssm, _ = seoul_aws

    class Denied:
        def describe_images(self, **kwargs: object) -> None:
            error = {"Error": {"Code": "UnauthorizedOperation", "Message": "not authorized"}}
            raise ClientError(error, "DescribeImages")

    (tmp_path / "terraform.tfvars").write_text(TFVARS)
    with pytest.raises(SystemExit) as stop:
        _run(tmp_path, monkeypatch, (ssm, Denied()))
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "UnauthorizedOperation" in err and "ec2:DescribeImages" in err
    assert (tmp_path / "terraform.tfvars").read_text() == TFVARS  # nothing half-written


# --- Offline: `gitops envs check` refuses a pin recorded for another region -----------------


@pytest.fixture
def envs_copy(tmp_path: Path) -> Path:
    """A copy of the repository's envs/ (links kept), to edit."""
    copy = tmp_path / "envs"
    shutil.copytree(environments.ENVS_DIR, copy, symlinks=True,
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))  # fmt: skip
    return copy


def aws_env(envs: Path) -> str:
    return next(name for name, env in environments.load(envs).items() if not env.emulated)


def unused_region(envs: Path) -> str:
    """A region no environment of the checkout runs in (a user may have added Osaka)."""
    used = {env.region for env in environments.load(envs).values()}
    return next(r for r in ("ap-northeast-3", "ap-southeast-1", "eu-west-1") if r not in used)


def own_project(tfvars: str) -> str:
    """The copy's own project_name: two stacks in one account may not share one."""
    return re.sub(r'^(project_name\s*=\s*)"[^"]*"', r'\1"kyoto-stack"', tfvars, flags=re.M)


def check(envs: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = environments.main(["check"], envs_dir=envs)
    return code, capsys.readouterr().err


def test_check_refuses_a_pin_resolved_for_another_region(
    envs_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder copied to a new region, with aws_region and the description edited by hand:
    the pin still says where it came from, and the check names it."""
    name = aws_env(envs_copy)
    described = environments.load(envs_copy)[name]
    region_b = unused_region(envs_copy)
    copy = envs_copy / "kyoto"
    shutil.copytree(envs_copy / name, copy, symlinks=True)
    tfvars = copy / "terraform.tfvars"
    text = re.sub(r'^(aws_region\s*=\s*)"[^"]*"', rf'\1"{region_b}"', tfvars.read_text(),
                  flags=re.M)  # fmt: skip
    tfvars.write_text(own_project(text))
    toml = (copy / "environment.toml").read_text()
    toml = toml.replace(f'"{described.region}"', f'"{region_b}"')
    toml = toml.replace(f'"{described.state_key}"', '"kyoto/terraform.tfstate"')
    toml = toml.replace(f'gate = "{described.gate}"', 'gate = "kyoto"')
    if described.nightly is not None:
        toml = toml.replace(f'"{described.nightly.environment}"', '"kyoto-nightly"')
    (copy / "environment.toml").write_text(toml)
    assert "kyoto" in environments.load(envs_copy)  # the description itself is sound
    pin = ami_pin.read(tfvars.read_text())
    assert pin is not None and pin.region == described.region
    code, err = check(envs_copy, capsys)
    assert code == 1
    assert err.splitlines() == [
        f"ERROR: envs/kyoto: ami: {pin.id} was resolved for {described.region}, but the "
        f"environment runs in {region_b}, and an AMI ID names an image in one region only: "
        f"run `make ami ENV=kyoto` (AWS credentials for {region_b})"
    ]


def test_check_refuses_an_id_pinned_in_two_regions(
    envs_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Search-and-replace of the region, pin included: the ID gives the copy away."""
    name = aws_env(envs_copy)
    region = environments.load(envs_copy)[name].region
    region_b = unused_region(envs_copy)
    copy = envs_copy / "kyoto"
    shutil.copytree(envs_copy / name, copy, symlinks=True)
    for file in ("terraform.tfvars", "environment.toml"):
        text = (copy / file).read_text().replace(f'"{region}"', f'"{region_b}"')
        text = text.replace(f'"{name}/terraform.tfstate"', '"kyoto/terraform.tfstate"')
        text = text.replace(f'gate = "{name}"', 'gate = "kyoto"')
        (copy / file).write_text(own_project(text.replace(f'"{name}-nightly"', '"kyoto-nightly"')))
    pin = ami_pin.read((copy / "terraform.tfvars").read_text())
    assert pin is not None and pin.region == region_b
    code, err = check(envs_copy, capsys)
    assert code == 1
    assert err.splitlines() == [
        f"ERROR: envs/kyoto ({region_b}) and envs/{name} ({region}): ami: the same "
        f"{pin.id}, but an AMI ID names an image in one region only, so a pin was copied from "
        "another region: run `make ami ENV=<name>` for the copy"
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: re.sub(r"ami = \{.*?\}[^\n]*\n", "", t, flags=re.S),
         "terraform.tfvars pins no AMI: run `make ami ENV={env}`"),
        (lambda t: re.sub(r"ami = \{.*?\}[^\n]*\n", 'ami_id = "ami-0123456789abcdef0"\n', t,
                          flags=re.S),
         "`ami_id = ...` is the old form of the pin, without its region and image name: run "
         "`make ami ENV={env}`"),
        (lambda t: re.sub(r'id( +)= "ami-[0-9a-f]+"', r'id\1= "ami-xyz"', t),
         "id 'ami-xyz' is not an AMI ID such as ami-0123456789abcdef0: run `make ami ENV={env}`"),
    ],
)  # fmt: skip
def test_check_refuses_a_missing_old_or_malformed_pin(
    envs_copy: Path, capsys: pytest.CaptureFixture[str], edit, expected: str
) -> None:
    name = aws_env(envs_copy)
    tfvars = envs_copy / name / "terraform.tfvars"
    tfvars.write_text(edit(tfvars.read_text()))
    code, err = check(envs_copy, capsys)
    assert code == 1 and f"ERROR: envs/{name}: ami: {expected.format(env=name)}" in err


def test_the_name_rule_is_the_same_in_python_and_terraform() -> None:
    """ami_pin.AMI_NAME and envs/common/variables.tf's ami.name rule are one rule."""
    text = (environments.ENVS_DIR / "common" / "variables.tf").read_text()
    found = re.search(r'can\(regex\("(\^\[A-Za-z0-9\(\)[^"]*)", var\.ami\.name\)\)', text)
    assert found, "envs/common/variables.tf lost the ami.name rule"
    assert found.group(1).replace("\\\\", "\\") == ami_pin.AMI_NAME.pattern
    found = re.search(r'can\(regex\("([^"]*)", var\.ami\.id\)\)', text)
    assert found and found.group(1) == ami_pin.AMI_ID.pattern


# --- The plan preview says which AMI release an environment runs ---------------------------

PLANS = Path(__file__).resolve().parent / "fixtures" / "plans"


def preview_of(plan: dict, tmp_path: Path) -> str:
    path = tmp_path / "seoul.json"
    path.write_text(json.dumps(plan), encoding="utf-8")
    (env,) = model.build([("seoul", path)], [], [])
    return "\n".join(sections.render_environment(env, sections.Style(long=True), "the summary"))


def test_the_preview_names_the_release_the_pin_is_and_what_instances_leave(
    tmp_path: Path,
) -> None:
    plan = json.loads((PLANS / "replace.json").read_text(encoding="utf-8"))
    assert "ami" not in plan["variables"]  # the fixture's own stack has no pin: no line
    assert "AMI:" not in preview_of(plan, tmp_path)
    plan["variables"]["ami"] = {"value": {"id": NEW_PIN.id, "region": NEW_PIN.region,
                                          "name": NEW_PIN.name}}  # fmt: skip
    text = preview_of(plan, tmp_path)
    assert (
        "🖼️ **AMI:** Amazon Linux 2023.12.20260930.0, "
        "`al2023-ami-2023.12.20260930.0-kernel-6.18-x86_64` (`ami-0123456789abcdef0`, pinned "
        "for ap-northeast-2)."
    ) in text
    # A new pin replaces the instances: the preview says what they ran before.
    (web,) = [rc for rc in plan["resource_changes"] if rc["type"] == "aws_instance"]
    old = web["change"]["before"]["ami"]
    web["change"]["after"]["ami"] = NEW_PIN.id
    assert f"pinned for ap-northeast-2); the instances move to it from `{old}`." in (
        preview_of(plan, tmp_path)
    )
