"""Pin an environment's AMI: write the region's current Amazon Linux 2023 into its tfvars.

    gitops ami ENV [--check]          (make ami ENV=seoul)

The AMI is pinned in envs/<env>/terraform.tfvars (`ami_id = "ami-..."`), so a new Amazon Linux
release never replaces an instance on an unrelated deploy. This reads the region's SSM public
parameter for the current image and rewrites that one line; commit the change, and the plan
preview of its pull request shows the replacement it causes. --check only compares, and exits
1 when the pin is behind (for a scheduled reminder; nothing is written).

The region comes from the environment's description (envs/<env>/environment.toml); credentials
from the standard chain (AWS_PROFILE, OIDC). For an emulated environment the endpoint is
AWS_ENDPOINT_URL (default gitops.aws.DEFAULT_ENDPOINT) with LocalStack's dummy credentials.
"""

from __future__ import annotations

import argparse
import datetime
import re
from pathlib import Path
from typing import Any

from gitops import aws
from gitops.progress import fail
from gitops.terraform import runner as tf

# x86_64, as the instance types are (t3.micro); a Graviton type needs the arm64 parameter.
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
_AMI_LINE = re.compile(r'^(\s*ami_id\s*=\s*)"([^"]*)"(.*)$', re.MULTILINE)


class AmiError(ValueError):
    """The parameter or the tfvars file is not what this script can work with."""


def tfvars_path(env: str) -> Path:
    return tf.env_dir(env) / "terraform.tfvars"


def pinned_ami(tfvars: str) -> str | None:
    match = _AMI_LINE.search(tfvars)
    return match.group(2) if match else None


def current_ami(ssm: Any, parameter: str = AMI_PARAMETER) -> str:
    """The AMI ID the region's public parameter names now (ssm: a boto3 SSM client)."""
    value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    if not AMI_ID.match(value):
        raise AmiError(f"{parameter} holds {value!r}, which is not an AMI ID")
    return value


def with_pin(tfvars: str, ami_id: str, note: str) -> str:
    """tfvars with its ami_id line set to ami_id (added at the end when there is none)."""
    if not AMI_ID.match(ami_id):
        raise AmiError(f"{ami_id!r} is not an AMI ID")
    line = f'ami_id = "{ami_id}" # {note}'
    if _AMI_LINE.search(tfvars):
        return _AMI_LINE.sub(lambda m: line, tfvars, count=1)
    return tfvars.rstrip("\n") + "\n" + line + "\n"


def ssm_client(env: str, region: str) -> Any:
    endpoint = aws.endpoint_from_env() if tf.describe(env).emulated else None
    return aws.client("ssm", region, endpoint)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pin ENV's AMI to the region's current AL2023.")
    parser.add_argument("env", choices=tf.known())
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if behind")
    args = parser.parse_args(argv)

    path = tfvars_path(args.env)
    text = path.read_text(encoding="utf-8")
    region = tf.describe(args.env).region
    try:
        latest = current_ami(ssm_client(args.env, region))
    except AmiError as err:
        raise fail(str(err), "check AMI_PARAMETER in gitops.terraform.ami") from err
    pinned = pinned_ami(text)
    if pinned == latest:
        print(f"ok: {args.env} pins {latest}, the current {AMI_PARAMETER} in {region}")
        return 0
    if args.check:
        print(f"behind: {args.env} pins {pinned}, {region} has {latest}: `make ami ENV={args.env}`")
        return 1
    note = f"{AMI_PARAMETER} in {region} on {datetime.date.today().isoformat()}"
    path.write_text(with_pin(text, latest, note), encoding="utf-8")
    print(f"pinned: {args.env} ami_id {pinned} -> {latest}; commit the change and review the plan")
    return 0
