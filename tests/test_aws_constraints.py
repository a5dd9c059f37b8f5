"""What real EC2 refuses but the provider and LocalStack accept: security group descriptions.

EC2 allows in a security group's description (CreateSecurityGroup GroupDescription) and in a
rule's description (IpRange, IpPermission, UserIdGroupPair Description) at most 255 characters
out of a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$* (EC2 API Reference). The AWS provider
checks the length only, and LocalStack checks nothing, so an apostrophe passed every local gate
and failed CreateSecurityGroup half-way through the first real apply. This test reads every
description inside a security group or security group rule resource in modules/ and the
bootstrap, including nested ingress/egress blocks, and holds each to EC2's rule.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("modules", "bootstrap")
SG_TYPES = (
    "aws_security_group",
    "aws_default_security_group",
    "aws_security_group_rule",
    "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule",
)
EC2_DESCRIPTION = re.compile(r"^[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]*$")
MAX_LENGTH = 255
# Interpolations a description may hold, replaced by the longest value their validation allows
# (var.name: 32 characters of [a-z0-9-]), so the length check sees the worst case.
SAMPLE_VALUES = {"var.name": "a" * 32}

_RESOURCE = re.compile(r'^resource\s+"(\w+)"\s+"(\w+)"\s*\{', re.MULTILINE)
_DESCRIPTION = re.compile(r'^\s*description\s*=\s*"', re.MULTILINE)


def _string_end(text: str, start: int) -> int:
    """Index just past the HCL string literal whose opening quote is at start."""
    i, depth = start + 1, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if ch == "}" and depth:
            depth -= 1
        elif ch == '"' and not depth:
            return i + 1
        i += 1
    raise ValueError(f"unterminated string at {start}")


def _block_end(text: str, open_brace: int) -> int:
    """Index just past the brace that closes the block opened at open_brace."""
    i, depth = open_brace, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i = _string_end(text, i)
            continue
        if ch == "#" or text.startswith("//", i):
            i = text.find("\n", i)
            i = len(text) if i < 0 else i
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced braces")


def descriptions(text: str) -> list[tuple[str, str]]:
    """(resource address, description literal) for each SG-type resource in an HCL text."""
    found = []
    for match in _RESOURCE.finditer(text):
        rtype, rname = match.groups()
        if rtype not in SG_TYPES:
            continue
        body = text[match.end() - 1 : _block_end(text, match.end() - 1)]
        for desc in _DESCRIPTION.finditer(body):
            quote = desc.end() - 1
            literal = body[quote + 1 : _string_end(body, quote) - 1]
            found.append((f"{rtype}.{rname}", literal))
    return found


def rendered(literal: str) -> str:
    """The literal with its interpolations replaced by worst-case sample values."""

    def sample(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        if expr not in SAMPLE_VALUES:
            raise AssertionError(f"no sample value for ${{{expr}}}: add one to SAMPLE_VALUES")
        return SAMPLE_VALUES[expr]

    return re.sub(r"\$\{([^}]*)\}", sample, literal).replace('\\"', '"')


def problem(description: str) -> str | None:
    """Why EC2 would refuse this description, or None."""
    if len(description) > MAX_LENGTH:
        return f"{len(description)} characters, more than {MAX_LENGTH}"
    bad = sorted({ch for ch in description if not EC2_DESCRIPTION.match(ch)})
    if bad:
        return f"characters EC2 refuses: {' '.join(repr(ch) for ch in bad)}"
    return None


def all_descriptions() -> list[tuple[str, str, str]]:
    found = []
    for top in SCANNED:
        for path in sorted((REPO_ROOT / top).rglob("*.tf")):
            if ".terraform" in path.parts:
                continue
            for address, literal in descriptions(path.read_text(encoding="utf-8")):
                found.append((str(path.relative_to(REPO_ROOT)), address, literal))
    return found


def test_every_security_group_description_is_one_ec2_accepts() -> None:
    found = all_descriptions()
    # The web group, its three egress and two ingress rules, the db group and its rules: if the
    # scan finds fewer, it has stopped seeing them and would pass vacuously.
    assert len(found) >= 8, found
    wrong = [
        f"{path} {address}: {literal!r}: {why}"
        for path, address, literal in found
        if (why := problem(rendered(literal)))
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Database tier: MySQL only from the web tier's security group", '"\'"'),
        ("Web tier \u2013 HTTP", "'\u2013'"),
        ("x" * 256, "256 characters"),
        ('Say "hi"', "'\"'"),
    ],
)
def test_the_check_names_what_ec2_would_refuse(text: str, expected: str) -> None:
    why = problem(text)
    assert why is not None and expected in why


def test_the_check_accepts_every_character_ec2_allows() -> None:
    assert problem("aZ09 ._-:/()#,@[]+=&;{}!$*" + "x" * 228) is None


def test_the_scanner_reads_nested_rules_and_interpolations() -> None:
    hcl = """
resource "aws_security_group" "this" {
  name_prefix = "${var.name}-x-"
  description = "Group of ${var.name}"
  ingress {
    description = "From {the} web tier's group" # a comment with a " quote
    from_port   = 1
  }
  dynamic "egress" {
    content {
      description = "Out"
    }
  }
}
resource "aws_instance" "other" {
  description = "not a security group"
}
"""
    assert descriptions(hcl) == [
        ("aws_security_group.this", "Group of ${var.name}"),
        ("aws_security_group.this", "From {the} web tier's group"),
        ("aws_security_group.this", "Out"),
    ]
    assert rendered("Group of ${var.name}") == "Group of " + "a" * 32
