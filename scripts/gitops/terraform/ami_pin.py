"""The AMI pin in an environment's terraform.tfvars: its form, and the offline checks on it.

`make ami ENV=<env>` (gitops.terraform.ami) writes it, one block:

    ami = {
      id     = "ami-0870825cefcaafcc8"
      region = "ap-northeast-2"
      name   = "al2023-ami-2023.12.20260930.0-kernel-6.18-x86_64"
    } # make ami: /aws/service/ami-amazon-linux-latest/... on 2026-09-30

An AMI ID names an image in one region only, so the pin records the region it was resolved for
and the image's name (which says its release). envs/common/variables.tf refuses at plan time a
pin whose region is not aws_region; `problems` (run by `gitops envs check`) refuses the same
without Terraform or credentials, and also an ID that two environments in different regions
pin, as a folder copied from another region and edited everywhere would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
# EC2's rule for an image name (CreateImage/RegisterImage: 3-128 letters, digits and ( ) [ ]
# space . / - ' @ _); envs/common/variables.tf states it too, and a test holds them together.
AMI_NAME = re.compile(r"^[A-Za-z0-9()\[\] ./'@_-]{3,128}$")
# Amazon Linux 2023's release in an image name: al2023-ami-2023.12.20260930.0-kernel-...
_RELEASE = re.compile(r"^al2023-ami(?:-minimal)?-(\d{4}\.\d+\.\d{8}\.\d+)-")

_BLOCK = re.compile(r"^ami[ \t]*=[ \t]*\{(?P<body>[^{}]*)\}[^\n]*\n?", re.MULTILINE)
_FIELD = re.compile(r'^\s*(\w+)\s*=\s*"([^"\\]*)"\s*,?\s*$')
_LEGACY = re.compile(r"^[ \t]*ami_id[ \t]*=[^\n]*\n?", re.MULTILINE)
FIELDS = ("id", "region", "name")


class PinError(ValueError):
    """A pin that is there but not in the form `make ami` writes."""


@dataclass(frozen=True)
class AmiPin:
    id: str
    region: str
    name: str

    @property
    def release(self) -> str | None:
        """The Amazon Linux 2023 release the image is of ("2023.12.20260930.0"), if it says."""
        match = _RELEASE.match(self.name)
        return match.group(1) if match else None

    def block(self, note: str) -> str:
        """The pin as terraform.tfvars holds it (as `terraform fmt` lays it out)."""
        width = max(len(f) for f in FIELDS)
        lines = [f'  {f.ljust(width)} = "{getattr(self, f)}"' for f in FIELDS]
        return "ami = {\n" + "\n".join(lines) + f"\n}} # {note}\n"

    def problem(self) -> str | None:
        """What makes the pin unusable (an ID or a name of the wrong form), or None."""
        if not AMI_ID.match(self.id):
            return f"id {self.id!r} is not an AMI ID such as ami-0123456789abcdef0"
        if not AMI_NAME.match(self.name):
            return f"name {self.name!r} is not an image name (3-128 characters)"
        return None


def read(tfvars: str) -> AmiPin | None:
    """The pin in a terraform.tfvars text; None when there is none; PinError when the block is
    not one `make ami` would write (a field missing or not a plain string, the old form)."""
    match = _BLOCK.search(tfvars)
    if match is None:
        if _LEGACY.search(tfvars):
            raise PinError("`ami_id = ...` is the old form of the pin, without its region and "
                           "image name")  # fmt: skip
        return None
    found: dict[str, str] = {}
    for line in match.group("body").replace(",", "\n").splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        field = _FIELD.match(line)
        if field is None or field.group(1) not in FIELDS:
            raise PinError(f'`{line.strip()}` is not one of {", ".join(FIELDS)} = "..."')
        found[field.group(1)] = field.group(2)
    missing = [f for f in FIELDS if f not in found]
    if missing:
        raise PinError(f"the ami block has no {', '.join(missing)}")
    return AmiPin(found["id"], found["region"], found["name"])


def write(tfvars: str, pin: AmiPin, note: str) -> str:
    """tfvars with its pin replaced by `pin` (an old `ami_id` line too), or added at the end;
    everything else as it was."""
    problem = pin.problem()
    if problem:
        raise PinError(problem)
    block = pin.block(note)
    if _BLOCK.search(tfvars):
        return _BLOCK.sub(lambda m: block, tfvars, count=1)
    if _LEGACY.search(tfvars):
        return _LEGACY.sub(lambda m: block, tfvars, count=1)
    return tfvars.rstrip("\n") + "\n" + block


class Described(Protocol):
    """What the checks need of an environment (gitops.environments.Environment)."""

    name: str
    region: str
    root: Path


def problems(envs: Iterable[Described]) -> list[str]:
    """Every environment's pin: there, of the right form, resolved for its own region, and not
    an ID another environment pins in another region. One line a problem, with what to do."""
    out: list[str] = []
    pinned: dict[str, dict[str, str]] = {}  # AMI ID -> {environment: its region}
    for env in envs:
        where = f"envs/{env.name}: ami"
        fix = f"run `make ami ENV={env.name}` (AWS credentials for {env.region})"
        try:
            pin = read((env.root / "terraform.tfvars").read_text(encoding="utf-8"))
        except PinError as err:
            out.append(f"{where}: {err}: {fix}")
            continue
        if pin is None:
            out.append(f"{where}: terraform.tfvars pins no AMI: {fix}")
        elif problem := pin.problem():
            out.append(f"{where}: {problem}: {fix}")
        elif pin.region != env.region:
            out.append(f"{where}: {pin.id} was resolved for {pin.region}, but the environment "
                       f"runs in {env.region}, and an AMI ID names an image in one region only: "
                       f"{fix}")  # fmt: skip
        else:
            pinned.setdefault(pin.id, {})[env.name] = env.region
    for image, users in pinned.items():
        if len(set(users.values())) > 1:
            named = " and ".join(f"envs/{name} ({region})" for name, region in users.items())
            out.append(f"{named}: ami: the same {image}, but an AMI ID names an image in one "
                       "region only, so a pin was copied from another region: run `make ami "
                       "ENV=<name>` for the copy")  # fmt: skip
    return out
