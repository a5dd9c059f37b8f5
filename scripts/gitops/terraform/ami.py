"""Pin an environment's AMI: write the region's current Amazon Linux 2023 into its tfvars.

    gitops ami ENV [--check]          (make ami ENV=seoul)

The AMI is pinned in envs/<env>/terraform.tfvars (the `ami = { id, region, name }` block of
gitops.terraform.ami_pin), so a new Amazon Linux release never replaces an instance on an
unrelated deploy. This reads the region's SSM public parameter for the current image and the
image's name (ec2:DescribeImages), and rewrites that block, recording the region and the image
name with the ID: an ID means nothing in another region, and the name says the release. Commit
the change, and the plan preview of its pull request shows the release and the replacement it
causes. --check only compares, and exits 1 when the pin is behind or was resolved for another
region (for a scheduled reminder; nothing is written).

The region comes from the environment's description (envs/<env>/environment.toml); credentials
from the standard chain (AWS_PROFILE, OIDC), allowed ssm:GetParameter on the parameter and
ec2:DescribeImages. For an emulated environment the endpoint is AWS_ENDPOINT_URL (default
gitops.aws.DEFAULT_ENDPOINT) with LocalStack's dummy credentials.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from gitops import aws
from gitops.progress import fail
from gitops.terraform import runner as tf
from gitops.terraform.ami_pin import AMI_ID, AmiPin, PinError, read, write

# x86_64, as the instance types are (t3.micro); a Graviton type needs the arm64 parameter.
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


class AmiError(ValueError):
    """The parameter or the image is not what this script can work with."""


def tfvars_path(env: str) -> Path:
    return tf.env_dir(env) / "terraform.tfvars"


def current_ami(ssm: Any, parameter: str = AMI_PARAMETER) -> str:
    """The AMI ID the region's public parameter names now (ssm: a boto3 SSM client)."""
    value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    if not AMI_ID.match(value):
        raise AmiError(f"{parameter} holds {value!r}, which is not an AMI ID")
    return value


def resolve(ssm: Any, ec2: Any, region: str, parameter: str = AMI_PARAMETER) -> AmiPin:
    """The pin of the region's current image: its ID from `parameter`, its name from EC2."""
    image_id = current_ami(ssm, parameter)
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as err:
        if not aws.error_code(err).startswith("InvalidAMIID"):
            raise
        images = []
    if len(images) != 1:
        raise AmiError(f"{parameter} names {image_id}, but EC2 in {region} describes "
                       f"{len(images)} images of that ID")  # fmt: skip
    pin = AmiPin(image_id, region, str(images[0].get("Name") or ""))
    problem = pin.problem()
    if problem:
        raise AmiError(f"the image {image_id} in {region}: {problem}")
    return pin


def clients(env: str, region: str) -> tuple[Any, Any]:
    """(ssm, ec2) for the environment's region (its emulator, when it is emulated)."""
    endpoint = aws.endpoint_from_env() if tf.describe(env).emulated else None
    return aws.client("ssm", region, endpoint), aws.client("ec2", region, endpoint)


def describe_pin(pin: AmiPin | None) -> str:
    return "no pin" if pin is None else f"{pin.id} ({pin.name}, {pin.region})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pin ENV's AMI to the region's current AL2023.")
    parser.add_argument("env", choices=tf.known())
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if behind")
    args = parser.parse_args(argv)

    path = tfvars_path(args.env)
    text = path.read_text(encoding="utf-8")
    region = tf.describe(args.env).region
    try:
        pinned = read(text)
    except PinError as err:
        print(f"{path}: {err}; writing the pin anew")
        pinned = None
    try:
        latest = resolve(*clients(args.env, region), region)
    except AmiError as err:
        raise fail(str(err), "check AMI_PARAMETER in gitops.terraform.ami") from err
    except (BotoCoreError, ClientError) as err:
        raise fail(
            f"reading the current AMI of {region}: {err}",
            f"use AWS credentials for {region} allowed ssm:GetParameter on {AMI_PARAMETER} and "
            "ec2:DescribeImages (AWS_PROFILE=...)",
        ) from err
    if pinned == latest:
        print(f"ok: {args.env} pins {describe_pin(latest)}, the current {AMI_PARAMETER}")
        return 0
    if args.check:
        print(f"behind: {args.env} pins {describe_pin(pinned)}, {region} has "
              f"{describe_pin(latest)}: `make ami ENV={args.env}`")  # fmt: skip
        return 1
    note = f"make ami: {AMI_PARAMETER} on {datetime.date.today().isoformat()}"
    path.write_text(write(text, latest, note), encoding="utf-8")
    print(f"pinned: {args.env} ami {describe_pin(pinned)} -> {describe_pin(latest)}; commit the "
          "change and review the plan")  # fmt: skip
    return 0
