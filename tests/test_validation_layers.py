"""The root owns the user-facing input rules; a module's rules only protect its own contract.

envs/common/variables.tf refuses a wrong value before any API call (tests/test_bad_inputs.py),
in the words of the variable the user set. A module repeats only what keeps its own resources
valid or safe when some other root calls it (a parseable CIDR inside AWS's VPC sizes, no SSH
from /0, an RDS identifier without a double hyphen), so its rules may be looser than the
root's, never stricter: a value the root accepts must pass every module it reaches, or a user
would meet a module's message, late, for an input the root let through.

This file proves that with Terraform itself. One throwaway configuration calls the root's
variable declarations (linked in as a module) and each module once per probe value, and one
`terraform validate` evaluates every call's validation rules: no provider, no plan, no API.
Where the root and a module state the same rule (SAME), they must agree on every probe.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.tf_sandbox import REPO_ROOT, init, terraform, tf_environ

# Every test reads the verdicts of plans of each module and of the root.
pytestmark = pytest.mark.slow

# Values the root passes as they are, by root variable: (module folder, module variable).
WIRES: dict[str, list[tuple[str, str]]] = {
    "project_name": [("vpc", "name"), ("ec2", "name"), ("db", "name"),
                     ("instance-roles", "project_name")],
    "vpc_cidr": [("vpc", "vpc_cidr")],
    "public_subnet_cidrs": [("vpc", "public_subnet_cidrs")],
    "private_subnet_cidrs": [("vpc", "private_subnet_cidrs")],
    "enable_nat_gateway": [("vpc", "enable_nat_gateway")],
    "ssh_allowed_cidrs": [("ec2", "ssh_allowed_cidrs")],
    "web_instance_type": [("ec2", "instance_type")],
    "key_name": [("ec2", "key_name")],
    "aws_region": [("ec2", "region"), ("db", "region"), ("instance-roles", "region")],
    "detailed_monitoring": [("ec2", "detailed_monitoring"), ("db", "detailed_monitoring")],
    "db_mode": [("db", "mode")],
    # The pin's id (var.ami.id), which instance-base passes on unchanged to both tiers.
    "ami": [("instance-base", "ami_id"), ("ec2", "ami_id"), ("db", "ami_id")],
}  # fmt: skip
LABELS = {
    "vpc": "vpc",
    "web": "ec2",
    "db": "db",
    "instance_base": "instance-base",
    "instance_roles": "instance-roles",
}
SAME = {"web_instance_type", "db_mode", "ami"}  # one rule, stated in the root and the module


def pin(image_id: str) -> dict[str, str]:
    """An AMI pin for ROOT_BASE's region."""
    return {"id": image_id, "region": "us-east-1", "name": "al2023-ami-2023.12.20260930.0-x"}


PROBES: dict[str, list[Any]] = {
    "project_name": ["study-local", "abc", "a" * 32, "study--local", "study-", "Study", "1study",
                     "ab", "study_local", "a" * 33],
    "vpc_cidr": ["10.0.0.0/16", "10.20.0.0/24", "172.16.0.0/16", "172.17.0.0/16",
                 "192.168.0.0/20", "10.0.0.0/8", "10.0.0.0/28", "10.0.1.0/16",
                 "10.0.0/16", "my-vpc", "10.0.0.256/16", " 10.0.0.0/16", "10.0.0.0/33"],
    "public_subnet_cidrs": [["10.0.1.0/24"], ["10.0.1.0/28", "10.0.2.0/24"], [], ["10.0.1/24"],
                            ["10.0.1.5/24"], ["192.168.1.0/24"], ["10.0.1.0/24", "10.0.1.0/24"]],
    "private_subnet_cidrs": [["10.0.11.0/24", "10.0.12.0/24"], ["10.0.11.0/24"],
                             ["10.0.11.0/24", "10.1.12.0/24"], ["10.0.8.0/21", "10.0.12.0/24"],
                             ["10.0.11.0/24", "not-a-cidr"]],
    "enable_nat_gateway": [True, False],
    "ssh_allowed_cidrs": [[], ["203.0.113.10/32"], ["198.51.100.0/24", "10.0.0.0/8"],
                          ["0.0.0.0/0"], ["64.0.0.0/4"], ["203.0.113.10"], ["office.example.com"]],
    "web_instance_type": ["t3.micro", "m7g.large", "c7i.metal-24xl", "u-6tb1.56xlarge",
                          "m7i-flex.large", "mac2-m2pro.metal", "t3.123", "t3micro", "T3.MICRO",
                          "t3.", "micro", "db.t3.micro", "t3.micro-"],
    "key_name": [None, "deploy"],
    "aws_region": ["ap-northeast-2", "us-gov-west-1", "seoul", "ap-northeast-2a"],
    "detailed_monitoring": [True, False],
    "db_mode": ["rds", "ec2", "mysql", "RDS", ""],
    # The pin's id; its region and name are the root's own rules (tests/test_bad_inputs.py).
    "ami": [pin(i) for i in ("ami-0123456789abcdef0", "ami-12345678", "ami-xyz", "AMI-12345678",
                             "al2023-ami-kernel-default-x86_64", "ami-0123456789abcdef01")],
}  # fmt: skip

ROOT_BASE = {
    "project_name": "study-local",
    "aws_region": "us-east-1",
    "db_mode": "rds",
    "ami": pin("ami-0123456789abcdef0"),
}
MODULE_BASE: dict[str, dict[str, Any]] = {
    "vpc": {"name": "study-local", "public_subnet_cidrs": ["10.0.1.0/24"],
            "private_subnet_cidrs": ["10.0.11.0/24", "10.0.12.0/24"]},
    "ec2": {"name": "study-local", "vpc_id": "vpc-1", "vpc_cidr": "10.0.0.0/16",
            "subnet_id": "subnet-1", "ami_id": "ami-0123456789abcdef0",
            "instance_profile": "study-local-web", "app_files": {"app.py": "print(1)"},
            "region": "us-east-1", "db_host": "10.0.11.10", "db_name": "app", "db_user": "app",
            "db_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"},
    "db": {"name": "study-local", "mode": "ec2", "private_subnet_egress": True,
           "region": "us-east-1", "vpc_id": "vpc-1", "subnet_ids": ["subnet-1", "subnet-2"],
           "allowed_security_group_id": "sg-1", "schema_sql": "SELECT 1;",
           "ec2_private_ip": "10.0.11.10", "ami_id": "ami-0123456789abcdef0",
           "instance_profile": "study-local-db", "identifier": "study-local-db",
           "secret_name_prefix": "gitops/study-local/"},
    "instance-base": {},
    "instance-roles": {"project_name": "study-local", "region": "us-east-1",
                       "account_id": "123456789012"},
}  # fmt: skip


def module_value(root_variable: str, value: Any) -> Any:
    """What the root hands the module for `value` (envs/common/stack.tf)."""
    if root_variable == "ami":
        return value["id"]
    return value


class Probe:
    """One configuration of module calls, one argument a line, for one `terraform validate`."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.at: dict[int, tuple[str, str]] = {}  # line number -> (call, argument)

    def call(self, name: str, source: str, args: dict[str, Any]) -> None:
        self.lines += [f'module "{name}" {{', f'  source = "{source}"']
        for key, value in args.items():
            self.lines.append(f"  {key} = {json.dumps(value) if value is not None else 'null'}")
            self.at[len(self.lines)] = (name, key)
        self.lines.append("}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], dict[str, bool]]:
    """(root variable, probe index) -> {"root": accepted, "<module>.<variable>": accepted}."""
    work = tmp_path_factory.mktemp("layers")
    (work / "root_rules").mkdir()
    (work / "root_rules" / "variables.tf").symlink_to(REPO_ROOT / "envs/common/variables.tf")
    probe, calls = Probe(), {}
    for variable, values in PROBES.items():
        for i, value in enumerate(values):
            name = f"root_{variable}_{i}"
            probe.call(name, "../root_rules", {**ROOT_BASE, variable: value})
            calls[name] = (variable, i, "root", variable)
            for module, argument in WIRES[variable]:
                name = f"m_{module.replace('-', '_')}_{argument}_{variable}_{i}"
                args = {**MODULE_BASE[module], argument: module_value(variable, value)}
                probe.call(name, str(REPO_ROOT / "modules" / module), args)
                calls[name] = (variable, i, f"{module}.{argument}", argument)
    root = work / "probe"
    root.mkdir()
    (root / "main.tf").write_text(probe.text(), encoding="utf-8")
    env = tf_environ()
    init(root, env)
    proc = terraform(root, "validate", "-json", "-no-color", env=env, timeout=300)
    diagnostics = json.loads(proc.stdout)["diagnostics"]
    refused: set[tuple[str, str]] = set()
    for diag in diagnostics:
        # Anything else is a rule that fails to evaluate instead of explaining the refusal.
        assert diag["summary"] == "Invalid value for variable", (
            f"{diag['summary']}: {diag['detail']} at {diag['range']}"
        )
        refused.add(probe.at[diag["range"]["start"]["line"]])
    out: dict[tuple[str, int], dict[str, bool]] = {}
    for name, (variable, i, side, argument) in calls.items():
        out.setdefault((variable, i), {})[side] = (name, argument) not in refused
    return out


def test_every_value_the_root_passes_on_to_a_module_has_probes() -> None:
    """A new wire in envs/common/stack.tf needs its probes here."""
    stack = (REPO_ROOT / "envs/common/stack.tf").read_text()
    wired: set[tuple[str, str, str]] = set()
    for label, body in re.findall(r'^module "(\w+)" \{\n(.*?)^\}', stack, re.M | re.S):
        for argument, variable in re.findall(
            r"^\s*(\w+)\s*=\s*var\.(\w+)(?:\.\w+)?\s*$", body, re.M
        ):
            wired.add((variable, LABELS[label], argument))
    listed = {(v, m, a) for v, pairs in WIRES.items() for m, a in pairs}
    assert wired <= listed, wired - listed
    assert set(PROBES) == set(WIRES)


@pytest.mark.parametrize("variable", sorted(PROBES))
def test_a_value_the_root_accepts_passes_every_module_it_reaches(
    variable: str, verdicts: dict[tuple[str, int], dict[str, bool]]
) -> None:
    for i, value in enumerate(PROBES[variable]):
        verdict = verdicts[(variable, i)]
        if verdict["root"]:
            refused_by = [side for side, ok in verdict.items() if not ok]
            assert not refused_by, f"root accepts {variable}={value!r}, {refused_by} refuse it"


@pytest.mark.parametrize("variable", sorted(SAME))
def test_a_rule_stated_twice_accepts_and_refuses_the_same_values(
    variable: str, verdicts: dict[tuple[str, int], dict[str, bool]]
) -> None:
    for i, value in enumerate(PROBES[variable]):
        verdict = verdicts[(variable, i)]
        assert len(set(verdict.values())) == 1, f"{variable}={value!r}: {verdict}"


def test_the_probes_reach_both_sides_of_each_rule(
    verdicts: dict[tuple[str, int], dict[str, bool]],
) -> None:
    """Not vacuous: each validated variable has a probe the root accepts and one it refuses."""
    free = {"enable_nat_gateway", "key_name", "detailed_monitoring"}  # no rule to probe
    for variable, values in PROBES.items():
        seen = {verdicts[(variable, i)]["root"] for i in range(len(values))}
        assert seen == ({True} if variable in free else {True, False}), variable


def test_the_module_rules_are_not_empty(verdicts: dict[tuple[str, int], dict[str, bool]]) -> None:
    """Each module still guards its contract: it refuses /0 SSH, a bad CIDR, a bad name."""
    assert not verdicts[("ssh_allowed_cidrs", PROBES["ssh_allowed_cidrs"].index(["0.0.0.0/0"]))][
        "ec2.ssh_allowed_cidrs"
    ]
    assert not verdicts[("vpc_cidr", PROBES["vpc_cidr"].index("my-vpc"))]["vpc.vpc_cidr"]
    assert not verdicts[("project_name", PROBES["project_name"].index("study--local"))]["db.name"]
