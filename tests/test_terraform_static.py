"""Terraform's own checks over the tree: formatting, and validation of both roots."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from gitops import environments
from gitops.terraform import runner as tf

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_terraform_fmt_is_clean() -> None:
    proc = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-list=true"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
        env=tf.terraform_environ("seoul"),
    )  # fmt: skip
    assert proc.returncode == 0, f"unformatted: {proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("env", environments.names())
def test_root_validates_without_backend_or_credentials(env: str) -> None:
    tf.init(env, backend=False)
    proc = tf.terraform(env, ["validate", "-json", "-no-color"], capture=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"valid": true' in proc.stdout


@pytest.mark.parametrize("env", environments.names())
def test_roots_share_the_common_files(env: str) -> None:
    root = tf.env_dir(env)
    for name in ("variables", "outputs", "stack"):
        link = root / f"common_{name}.tf"
        assert link.is_symlink(), f"{link} should link to envs/common/{name}.tf"
        assert link.resolve() == (REPO_ROOT / "envs" / "common" / f"{name}.tf").resolve()


def test_modules_have_the_four_standard_files_and_no_provider_block() -> None:
    for module in sorted((REPO_ROOT / "modules").iterdir()):
        names = {p.name for p in module.glob("*.tf")}
        assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= names, module.name
        for path in module.glob("*.tf"):
            assert 'provider "aws"' not in path.read_text(), f"provider block in {path}"


def test_seoul_state_takes_the_buckets_kms_encryption() -> None:
    """`encrypt = true` without `kms_key_id` makes every state and lock write SSE-S3 (AES256),
    overriding the bucket's SSE-KMS default that docs/SECURITY.md promises."""
    text = (REPO_ROOT / "envs" / "seoul" / "backend.tf").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    encrypt = re.search(r"^\s*encrypt\s*=\s*true\b", code, re.MULTILINE)
    kms_key = re.search(r"^\s*kms_key_id\s*=", code, re.MULTILINE)
    assert not encrypt or kms_key, "encrypt = true without kms_key_id forces SSE-S3 (AES256)"
    bucket = (REPO_ROOT / "bootstrap" / "state-bucket" / "main.tf").read_text()
    assert 'sse_algorithm = "aws:kms"' in bucket


def test_the_ami_lookup_and_the_ec2_trust_policy_exist_once() -> None:
    """modules/instance-base is the AMI's one home, modules/instance-roles the trust policy's;
    the root hands the AMI and the instance profiles to the web and db tiers."""
    homes: dict[str, set[str]] = {"ami": set(), "trust": set()}
    for path in (REPO_ROOT / "modules").glob("*/*.tf"):
        text = path.read_text()
        if 'data "aws_ssm_parameter"' in text or "ami-amazon-linux-latest" in text:
            homes["ami"].add(path.parent.name)
        if '"ec2.amazonaws.com"' in text:
            homes["trust"].add(path.parent.name)
    assert homes == {"ami": {"instance-base"}, "trust": {"instance-roles"}}
    stack = (REPO_ROOT / "envs" / "common" / "stack.tf").read_text()
    assert stack.count("= module.instance_base.ami_id") == 2
    assert stack.count("_instance_profile") == 2  # web's and db's, from module.instance_roles
