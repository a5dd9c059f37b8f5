"""make bootstrap applied for real on LocalStack (IAM, S3, STS), and the roles it makes held to
the rules a newcomer relies on: every OIDC subject the workflows present is trusted by exactly
the role it needs, and the escalation paths of hand-written CI roles are closed.

The workflow side is read from .github/workflows, never restated here: rename an environment
in a workflow without changing the trust policy and the cross-check fails."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from gitops import aws, environments
from gitops.hooks import iam_lint
from gitops.terraform import bootstrap, iam_render, unlock
from gitops.terraform import state as tf_state

from tests.s3_as_role import S3AsRole, answer_every_client
from tests.test_state_seed import versioned_bucket
from tests.tf_sandbox import REPO_ROOT, terraform

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
REPO = "octo-org/gitops-seoul"
# The numeric IDs bootstrap's rehearsal roots carry (its github.auto.tfvars.json)
OWNER_ID = bootstrap.REHEARSAL_IDS["github_owner_id"]
REPO_ID = bootstrap.REHEARSAL_IDS["github_repository_id"]
SUBJECT_PREFIX = f"repo:octo-org@{OWNER_ID}/gitops-seoul@{REPO_ID}"
PROJECT = "study-seoul"
REGION = "ap-northeast-2"
STATE_BUCKET = "tfstate-bootstrap-test"
MANAGED_POLICY_MAX = 6144  # IAM quota: characters of a managed policy, whitespace not counted

# --- Which sub claims the workflows present (read from the workflow files) --------------------


def _triggers(doc: dict[Any, Any]) -> set[str]:
    on = doc.get("on", doc.get(True))  # PyYAML reads the key `on` as True
    return set(on) if isinstance(on, dict) else {on} if isinstance(on, str) else set(on or [])


_SCHEDULE_SWITCH = re.compile(r"github\.event_name == 'schedule' && (\S+) \|\| (\S+)")


def _resolve(value: Any, event: str, matrix: dict[str, Any], inputs: dict[str, Any]) -> Any:
    """The value of a `with:` entry for one event and matrix entry: the few expression forms
    the workflows use (matrix.X, inputs.X, vars[...], vars.X, the schedule switch)."""
    text = str(value).strip()
    if not text.startswith("${{"):
        return value
    expr = text[3:-2].strip()
    if m := _SCHEDULE_SWITCH.fullmatch(expr):
        expr = m.group(1) if event == "schedule" else m.group(2)
    if m := re.fullmatch(r"vars\[(\S+)\]", expr):
        return "vars." + str(_resolve("${{ " + m.group(1) + " }}", event, matrix, inputs))
    if m := re.fullmatch(r"vars\.(\w+)", expr):
        return "vars." + m.group(1)
    if m := re.fullmatch(r"matrix\.(\w+)", expr):
        return matrix.get(m.group(1))
    if m := re.fullmatch(r"inputs\.([\w-]+)", expr):
        return inputs.get(m.group(1))
    return value


def _terraform_calls(
    path: Path, event: str, matrix: dict[str, Any], inputs: dict[str, Any], depth: int = 0
) -> list[dict[str, Any]]:
    """Every call of terraform.yml reached from the workflow at path, with resolved inputs."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    calls = []
    for job in (doc.get("jobs") or {}).values():
        uses = str(job.get("uses", ""))
        if not uses.startswith("./.github/workflows/"):
            continue
        bound = {k: _resolve(v, event, matrix, inputs) for k, v in (job.get("with") or {}).items()}
        target = path.parent / uses.split("/")[-1].split()[0]
        if target.name == "terraform.yml":
            calls.append(bound)
        elif depth < 3:
            calls += _terraform_calls(target, event, matrix, bound, depth + 1)
    return calls


def workflow_subjects(workflows: Path = WORKFLOWS) -> set[tuple[str, str]]:
    """(sub context, repository variable of the role) for every job that assumes an AWS role,
    following the reusable workflows and each AWS environment's matrix entry."""
    entries = [
        environments.matrix_entry(env) for env in environments.load().values() if not env.emulated
    ]
    found: set[tuple[str, str]] = set()
    for path in sorted(workflows.glob("*.y*ml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for event in _triggers(doc) - {"workflow_call"}:
            branch = "pull_request" if event.startswith("pull_request") else "ref:refs/heads/main"
            for entry in entries:
                for call in _terraform_calls(path, event, entry, {}):
                    role = str(call.get("role-to-assume") or "")
                    assert role.startswith("vars."), f"{path.name}: role {role!r} is no variable"
                    env = call.get("deployment-environment") or ""
                    if call.get("command") in ("apply", "destroy") and env:
                        found.add((f"environment:{env}", role[5:]))
                    else:
                        found.add((branch, role[5:]))
    return found


# Repository variables an admin sets by choice (docs/PIPELINE.md), not from the bootstrap.
OPERATOR_VARIABLES = {"LOCALSTACK_IMAGE"}


def workflow_variables(workflows: Path = WORKFLOWS) -> set[str]:
    """Every repository variable the workflows read: `vars.X` in their expressions (comments
    left out) and the role variables they read by name (`vars[inputs.role]`)."""
    names: set[str] = set()
    for path in workflows.glob("*.y*ml"):
        for line in path.read_text(encoding="utf-8").splitlines():
            code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
            names |= set(re.findall(r"\bvars\.([A-Z][A-Z0-9_]*)", code))
    return names | {role for _, role in workflow_subjects(workflows)}


def bootstrap_provided_variables() -> set[str]:
    """What make bootstrap prints: exactly the workflows' variables but the operator's own."""
    return workflow_variables() - OPERATOR_VARIABLES


def test_bootstrap_prints_exactly_the_variables_the_workflows_read() -> None:
    """Each AWS environment's [roles] names and TF_STATE_BUCKET, together exactly the
    variables the workflows read (region and state key come from the descriptions)."""
    wanted = bootstrap_provided_variables()
    assert {"TF_STATE_BUCKET", "AWS_PLAN_ROLE_ARN"} <= wanted
    assert not wanted & {"TF_STATE_KEY", "AWS_REGION"}  # envs/<name>/environment.toml's now
    provided: set[str] = set()
    for stack in bootstrap.aws_environments():
        provided |= set(bootstrap.workflow_variables(stack))
    assert provided == wanted
    outputs = dict.fromkeys([*wanted, "TF_STATE_KEY", "AWS_REGION"], "x")
    assert set(bootstrap.select_variables(outputs, sorted(wanted))) == wanted
    with pytest.raises(bootstrap.BootstrapError, match="TF_STATE_BUCKET"):
        bootstrap.select_variables({}, ["TF_STATE_BUCKET"])


def trust_mismatches(
    needed: set[tuple[str, str]], trusted: dict[str, set[str]], prefix: str
) -> list[str]:
    """Problems, empty when each needed sub is trusted by the roles that need it only (a pull
    request plans every AWS environment, each with its own plan role) and nothing else is."""
    problems = []
    roles_of: dict[str, set[str]] = {}
    for context, role in needed:
        roles_of.setdefault(context, set()).add(role)
    for context, roles in sorted(roles_of.items()):
        sub = f"{prefix}:{context}"
        holders = sorted(r for r, subs in trusted.items() if sub in subs)
        if holders != sorted(roles):
            need = ", ".join(sorted(roles))
            problems.append(f"{sub}: the workflows need {need}, trusted by {holders or 'none'}")
    wanted = {f"{prefix}:{c}" for c, _ in needed}
    for role, subs in sorted(trusted.items()):
        for sub in sorted(subs - wanted):
            problems.append(f"{role} trusts {sub}, which no workflow presents")
    return problems


def test_workflows_present_the_expected_kinds_of_subject() -> None:
    contexts = {c for c, _ in workflow_subjects()}
    assert "pull_request" in contexts and "ref:refs/heads/main" in contexts
    envs = {c for c in contexts if c.startswith("environment:")}
    assert len(envs) >= 2, envs  # the reviewed apply and the nightly destroy


def test_the_nightly_destroy_uses_its_own_role() -> None:
    roles = {role for c, role in workflow_subjects() if c == "environment:seoul-nightly"}
    assert roles == {"AWS_DESTROY_ROLE_ARN"}


def test_renamed_environment_is_caught(tmp_path: Path) -> None:
    shutil.copytree(WORKFLOWS, tmp_path / "wf")
    path = tmp_path / "wf" / "deploy.yml"
    text = path.read_text()
    assert "${{ matrix.gate }}" in text
    path.write_text(text.replace("${{ matrix.gate }}", "prod"))
    # What the bootstrap's roles trust, from every AWS environment's description.
    trusted: dict[str, set[str]] = {}
    for env in environments.load().values():
        if env.emulated or env.roles is None:
            continue
        roles = (env.roles.plan, env.roles.apply, env.roles.destroy)
        plan, apply, destroy = (trusted.setdefault(role, set()) for role in roles)
        plan.update({"p:pull_request", "p:ref:refs/heads/main"})
        apply.add(f"p:environment:{env.gate}")
        if env.nightly is not None:
            destroy.add(f"p:environment:{env.nightly.environment}")
    assert trust_mismatches(workflow_subjects(WORKFLOWS), trusted, "p") == []
    problems = trust_mismatches(workflow_subjects(tmp_path / "wf"), trusted, "p")
    assert any("p:environment:prod" in p and "none" in p for p in problems), problems


def test_credentials_come_after_make_setup() -> None:
    """No package install (make setup, here or in the shared setup action) runs with AWS
    credentials in its environment: the credentials step comes after every setup step."""
    doc = yaml.safe_load((WORKFLOWS / "terraform.yml").read_text())
    for name, job in doc["jobs"].items():
        steps = job["steps"]
        cred = next(
            i for i, s in enumerate(steps) if "configure-aws-credentials" in s.get("uses", "")
        )
        installs = [
            i
            for i, s in enumerate(steps)
            if "make setup" in s.get("run", "") or "actions/setup-project" in s.get("uses", "")
        ]
        assert installs and max(installs) < cred, f"{name}: setup runs with AWS credentials"


def test_bootstrap_refuses_ci_and_an_unknown_repository(tmp_path: Path) -> None:
    with pytest.raises(bootstrap.BootstrapError, match="refuses to run in CI"):
        bootstrap.run(environ={"GITHUB_ACTIONS": "true"}, bootstrap_dir=tmp_path)
    with pytest.raises(bootstrap.BootstrapError, match="unknown environment 'not-described'"):
        bootstrap.run(environ={}, env_name="not-described", bootstrap_dir=tmp_path)
    with pytest.raises(bootstrap.BootstrapError, match="emulated"):
        bootstrap.run(environ={}, env_name="localstack", bootstrap_dir=tmp_path)
    (tmp_path / "github-oidc").mkdir()
    with pytest.raises(bootstrap.BootstrapError, match="make github-setup REPO=OWNER/NAME"):
        bootstrap.run(environ={}, bootstrap_dir=tmp_path)
    with pytest.raises(bootstrap.BootstrapError, match="SUBJECT_FORMAT=name"):
        bootstrap.run(environ={}, repo=REPO, subject_format="id", bootstrap_dir=tmp_path)


def test_an_existing_oidc_provider_is_found() -> None:
    class FakeIam:  # unit level: the list call's shape, as boto3 returns it
        def list_open_id_connect_providers(self) -> dict[str, Any]:
            return {
                "OpenIDConnectProviderList": [
                    {"Arn": "arn:aws:iam::123456789012:oidc-provider/example.com"},
                    {
                        "Arn": "arn:aws:iam::123456789012:oidc-provider/"
                        "token.actions.githubusercontent.com"
                    },
                ]
            }

    assert bootstrap.find_oidc_provider(FakeIam()).endswith("/token.actions.githubusercontent.com")


# --- The policies, rendered by Terraform without AWS (as `make bootstrap` would apply them) ------


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """envs/seoul's bootstrap rendered: "policies" and "trust_policies", name => JSON."""
    stack = environments.load()["seoul"]
    return iam_render.render_outputs(stack, tmp_path_factory.mktemp("render") / "w")


@pytest.fixture(scope="module")
def policies(outputs: dict[str, dict[str, str]]) -> dict[str, str]:
    """Name => rendered permission policy (JSON) of envs/seoul's bootstrap."""
    return outputs["policies"]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(docs: list[dict[str, Any]], effect: str = "Allow") -> list[dict[str, Any]]:
    return [s for d in docs for s in _list(d["Statement"]) if s["Effect"] == effect]


def _allows(docs: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [
        s
        for s in _statements(docs)
        if any(fnmatch.fnmatch(action.lower(), a.lower()) for a in _list(s["Action"]))
    ]


# Which documents each role carries (bootstrap/github-oidc/main.tf, local.attachments).
ROLE_DOCUMENTS = {
    "plan": ("read", "state-read"),
    "apply": ("read", "state-write", "network", "data", "pass"),
    "destroy": ("read", "state-write", "destroy"),
    "web": ("instance-web",),
    "db": ("instance-db",),
}


def by_role(policies: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    docs = {name: json.loads(doc) for name, doc in policies.items()}
    return {role: [docs[n] for n in names] for role, names in ROLE_DOCUMENTS.items()}


@pytest.fixture(scope="module")
def rendered(policies: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return by_role(policies)


def test_each_role_gets_the_documents_the_bootstrap_attaches() -> None:
    main = (REPO_ROOT / "bootstrap" / "github-oidc" / "main.tf").read_text(encoding="utf-8")
    for role in ("plan", "apply", "destroy"):
        for doc in ROLE_DOCUMENTS[role]:
            name = doc if doc not in ("state-read", "state-write") else "state"
            assert name in main, (role, doc)


def test_the_policies_fit_iams_size_limit(policies: dict[str, str]) -> None:
    for name, doc in policies.items():
        size = len(json.dumps(json.loads(doc), separators=(",", ":")))
        assert size <= MANAGED_POLICY_MAX, f"{name}: {size} characters"


def test_no_pipeline_role_writes_iam(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The instance roles are the bootstrap's: the pipeline only passes them to EC2."""
    for role in ("plan", "apply", "destroy"):
        docs = rendered[role]
        for st in _statements(docs):
            for action in _list(st["Action"]):
                assert action.lower() not in ("*", "ec2:*", "rds:*", "secretsmanager:*",
                                              "iam:*", "ssm:*", "s3:*"), (role, action)  # fmt: skip
                if action.startswith("iam:"):
                    assert action in ("iam:PassRole", "iam:GetRole", "iam:GetInstanceProfile",
                                      "iam:CreateServiceLinkedRole"), (role, action)  # fmt: skip
        for st in _allows(docs, "iam:PassRole"):
            assert sorted(_list(st["Resource"])) == sorted([ROLE, DB_ROLE]), st
            assert st["Condition"]["StringEquals"]["iam:PassedToService"] in (
                "ec2.amazonaws.com", ["ec2.amazonaws.com"],
            )  # fmt: skip
    plan = rendered["plan"]
    for st in _statements(plan):
        for action in _list(st["Action"]):
            verb = action.split(":", 1)[1]
            assert verb.startswith(("Describe", "Get", "List")), f"plan role may {action}"
    assert not _allows(plan, "secretsmanager:GetSecretValue")
    for action in ("ec2:RunInstances", "ec2:CreateVpc", "rds:CreateDBInstance", "iam:PassRole"):
        assert not _allows(rendered["destroy"], action), f"destroy role may {action}"


def test_the_iam_linter_passes_and_can_fail(policies: dict[str, str]) -> None:
    """parliament (make lint's iam-lint hook) finds nothing unjustified in the rendered
    policies, every inline justification still matches a finding, and a wrong condition key
    is a finding (the linter is not a check that cannot fail)."""
    skips = iam_lint.justifications()
    found = iam_lint.findings(policies)
    assert [f for f in found if (f[1], f[2]) not in skips] == []
    assert {(f[1], f[2]) for f in found} == set(skips)
    bad = {"Statement": [{"Sid": "Bad", "Effect": "Allow", "Action": "rds:AddTagsToResource",
                          "Resource": "*",
                          "Condition": {"StringEquals": {"ec2:CreateAction": "x"}}}]}  # fmt: skip
    assert [f[2] for f in iam_lint.findings({"bad": json.dumps(bad)})] == [
        "UNKNOWN_CONDITION_FOR_ACTION"
    ]


def _trust_with(doc: str, **changes: Any) -> str:
    """The trust policy with its first statement changed (a key set to None is removed)."""
    parsed = json.loads(doc)
    st = parsed["Statement"][0]
    for key, value in changes.items():
        if value is None:
            st.pop(key, None)
        else:
            st[key] = value
    return json.dumps(parsed)


def test_the_iam_linter_checks_the_trust_policies_and_can_fail(
    outputs: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The hook checks every role's trust policy (parliament cannot: a trust open to Principal
    "*" gives it nothing a sound one does not), passes the real ones and fails an open or
    unconditioned one, naming the role and what is wrong."""
    trusts = outputs["trust_policies"]
    assert set(trusts) == {"plan", "apply", "destroy", "instance-web", "instance-db"}
    apply, web = trusts["apply"], trusts["instance-web"]
    star = _trust_with(apply, Principal="*")
    parliament = [sorted(f[2] for f in iam_lint.findings({"t": d})) for d in (apply, star)]
    assert set(parliament[1]) <= set(parliament[0]), parliament  # why the hook has own rules

    def lint_with(role: str, doc: str) -> list[str]:
        rendered = {**outputs, "trust_policies": {**trusts, role: doc}}
        monkeypatch.setattr(iam_render, "render_outputs", lambda *a, **k: rendered)
        return iam_lint.lint([environments.load()["seoul"]])

    assert lint_with("apply", apply) == []
    condition = json.loads(apply)["Statement"][0]["Condition"]["StringEquals"]
    aud, sub = (f"token.actions.githubusercontent.com:{c}" for c in ("aud", "sub"))
    bad = {
        "Principal": star,
        "'123456789012'": _trust_with(apply, Principal={"AWS": "123456789012"}),
        ":aud": _trust_with(apply, Condition={"StringEquals": {sub: condition[sub]}}),
        ":sub": _trust_with(apply, Condition={"StringEquals": {aud: condition[aud]}}),
        "'repo:*'": _trust_with(
            apply, Condition={"StringEquals": {aud: condition[aud], sub: "repo:*"}}
        ),  # fmt: skip
        "not sts:AssumeRoleWithWebIdentity": _trust_with(apply, Action="sts:AssumeRole"),
    }
    for problem, doc in bad.items():
        found = lint_with("apply", doc)
        assert len(found) == 1 and "trust apply/" in found[0] and problem in found[0], found
    services = ["ec2.amazonaws.com", "lambda.amazonaws.com"]
    service = {
        "{'Service': 'lambda": _trust_with(web, Principal={"Service": services[1]}),
        "TagSession": _trust_with(web, Action=["sts:AssumeRole", "sts:TagSession"]),
        "'lambda.amazonaws.com']": _trust_with(web, Principal={"Service": services}),
    }
    for problem, doc in service.items():
        found = lint_with("instance-web", doc)
        assert len(found) == 1 and "trust instance-web/" in found[0] and problem in found[0], found
    # the hook itself (gitops hook-iam-lint) fails on it, naming the role
    assert iam_lint.main(["seoul"]) == 1
    assert "FAILED envs/seoul trust instance-web/" in capsys.readouterr().out


# --- The calls the stack makes, evaluated against the rendered policies ------------------------
# Each row is one authorization AWS makes for a call of the stack's provider or scripts: the
# action, the resource it is checked against (Service Authorization Reference: one check per
# resource type the call names) and the condition keys present for that resource. A key absent
# from a row is absent from the request: aws:RequestTag is a key of the resource being created
# only, so the VPC a subnet is created in, the option group of a DB instance or the AMI of an
# instance are checked without it.

ACCOUNT = iam_render.ACCOUNT
EC2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
RDS = f"arn:aws:rds:{REGION}:{ACCOUNT}"
DB_ARN = f"{RDS}:db:{PROJECT}-db"
LOGS = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/rds/instance/{PROJECT}-db/error"
SECRETS = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret"
SECRET = f"{SECRETS}:gitops/{PROJECT}/db-20261126-AbCdEf"
RDS_SECRET = f"{SECRETS}:rds!db-0a1b2c3d-4e5f-AbCdEf"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/gitops/{PROJECT}/{PROJECT}-web"
DB_ROLE = f"arn:aws:iam::{ACCOUNT}:role/gitops/{PROJECT}/{PROJECT}-db"
PROFILE = f"arn:aws:iam::{ACCOUNT}:instance-profile/gitops/{PROJECT}/{PROJECT}-web"
BUCKET = f"arn:aws:s3:::{iam_render.BUCKET}"
STATE_KEY = "seoul/terraform.tfstate"
DEFAULT_GROUP = f"{PROJECT}-default-deny"
TAGS = ["Project", "Environment", "ManagedBy", "Repository", "Name"]  # default_tags + Name
NEW = {"aws:RequestTag/Project": PROJECT, "aws:TagKeys": TAGS}  # created here, tagged
OURS = {"aws:ResourceTag/Project": PROJECT}  # exists, carries the stack's tag
OTHER = {"aws:ResourceTag/Project": "payroll"}  # exists, another team's
UNTAGGED: dict[str, Any] = {}  # exists (or is created) without a tag
OUR_DB_SECRET = {"aws:ResourceTag/aws:rds:primaryDBInstanceArn": DB_ARN}
THEIR_DB_SECRET = {"aws:ResourceTag/aws:rds:primaryDBInstanceArn": f"{RDS}:db:payroll"}


def _tag_on_create(action: str) -> dict[str, Any]:
    return {**NEW, "ec2:CreateAction": action.split(":")[1]}


# (action, resource, context) the apply role must be allowed
APPLY_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    # modules/vpc
    ("ec2:CreateVpc", f"{EC2}:vpc/vpc-1", NEW),
    ("ec2:CreateTags", f"{EC2}:vpc/vpc-1", _tag_on_create("ec2:CreateVpc")),
    ("ec2:ModifyVpcAttribute", f"{EC2}:vpc/vpc-1", OURS),
    # aws_default_security_group: adopted, tagged once with the stack's tags and its Name
    ("ec2:CreateTags", f"{EC2}:security-group/sg-default",
     {**NEW, "aws:RequestTag/Name": DEFAULT_GROUP}),
    ("ec2:RevokeSecurityGroupIngress", f"{EC2}:security-group/sg-default",
     {**OURS, "aws:ResourceTag/Name": DEFAULT_GROUP}),
    ("ec2:RevokeSecurityGroupEgress", f"{EC2}:security-group/sg-default",
     {**OURS, "aws:ResourceTag/Name": DEFAULT_GROUP}),
    ("ec2:CreateInternetGateway", f"{EC2}:internet-gateway/igw-1", NEW),
    ("ec2:AttachInternetGateway", f"{EC2}:internet-gateway/igw-1", OURS),
    ("ec2:AttachInternetGateway", f"{EC2}:vpc/vpc-1", OURS),
    ("ec2:CreateSubnet", f"{EC2}:subnet/subnet-1", NEW),
    ("ec2:CreateSubnet", f"{EC2}:vpc/vpc-1", OURS),
    ("ec2:CreateTags", f"{EC2}:subnet/subnet-1", _tag_on_create("ec2:CreateSubnet")),
    ("ec2:CreateRouteTable", f"{EC2}:route-table/rtb-1", NEW),
    ("ec2:CreateRouteTable", f"{EC2}:vpc/vpc-1", OURS),
    ("ec2:CreateRoute", f"{EC2}:route-table/rtb-1", OURS),
    ("ec2:AssociateRouteTable", f"{EC2}:route-table/rtb-1", OURS),
    ("ec2:AssociateRouteTable", f"{EC2}:subnet/subnet-1", OURS),
    ("ec2:AllocateAddress", f"{EC2}:elastic-ip/eipalloc-1", NEW),
    ("ec2:CreateNatGateway", f"{EC2}:natgateway/nat-1", NEW),
    ("ec2:CreateNatGateway", f"{EC2}:subnet/subnet-1", OURS),
    ("ec2:CreateNatGateway", f"{EC2}:elastic-ip/eipalloc-1", OURS),
    # modules/ec2 and modules/db: security groups (inline rules)
    ("ec2:CreateSecurityGroup", f"{EC2}:security-group/sg-1", NEW),
    ("ec2:CreateSecurityGroup", f"{EC2}:vpc/vpc-1", OURS),
    ("ec2:CreateTags", f"{EC2}:security-group/sg-1", _tag_on_create("ec2:CreateSecurityGroup")),
    ("ec2:RevokeSecurityGroupEgress", f"{EC2}:security-group/sg-1", OURS),  # AWS's default rule
    ("ec2:AuthorizeSecurityGroupIngress", f"{EC2}:security-group/sg-1", OURS),
    ("ec2:AuthorizeSecurityGroupEgress", f"{EC2}:security-group/sg-1", OURS),
    ("ec2:DeleteSecurityGroup", f"{EC2}:security-group/sg-1", OURS),  # create_before_destroy
    # a tag changed on the stack's own resource (not its Project)
    ("ec2:CreateTags", f"{EC2}:instance/i-1", {**OURS, "aws:TagKeys": ["Name"]}),
    # instances: RunInstances checks every resource it names
    ("ec2:RunInstances", f"{EC2}:instance/*", NEW),
    ("ec2:RunInstances", f"{EC2}:volume/*", UNTAGGED),  # the root volume: no volume_tags
    ("ec2:RunInstances", f"{EC2}:network-interface/*", UNTAGGED),
    ("ec2:RunInstances", f"{EC2}:subnet/subnet-1", OURS),
    ("ec2:RunInstances", f"{EC2}:security-group/sg-1", OURS),
    ("ec2:RunInstances", f"arn:aws:ec2:{REGION}::image/ami-0870825cefcaafcc8", UNTAGGED),
    # key_name set: a key pair the operator tagged with the stack's Project
    ("ec2:RunInstances", f"{EC2}:key-pair/{PROJECT}-ops", OURS),
    ("ec2:CreateTags", f"{EC2}:instance/*", _tag_on_create("ec2:RunInstances")),
    ("iam:PassRole", ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}),
    ("iam:PassRole", DB_ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}),
    ("ec2:ModifyInstanceMetadataOptions", f"{EC2}:instance/i-1", OURS),
    ("ec2:StopInstances", f"{EC2}:instance/i-1", OURS),
    ("ec2:ModifyInstanceAttribute", f"{EC2}:instance/i-1", OURS),
    ("ec2:StartInstances", f"{EC2}:instance/i-1", OURS),
    ("ec2:MonitorInstances", f"{EC2}:instance/i-1", OURS),  # detailed_monitoring changed
    ("iam:GetInstanceProfile", PROFILE, UNTAGGED),
    ("iam:GetRole", ROLE, UNTAGGED),
    # modules/db, rds mode
    ("rds:CreateDBSubnetGroup", f"{RDS}:subgrp:{PROJECT}-db-1", NEW),
    ("rds:AddTagsToResource", f"{RDS}:subgrp:{PROJECT}-db-1", NEW),  # tags of the create call
    ("rds:CreateDBParameterGroup", f"{RDS}:pg:{PROJECT}-db-1", NEW),
    ("rds:AddTagsToResource", f"{RDS}:pg:{PROJECT}-db-1", NEW),
    ("rds:ModifyDBParameterGroup", f"{RDS}:pg:{PROJECT}-db-1", OURS),
    ("rds:CreateDBInstance", DB_ARN, NEW),
    ("rds:CreateDBInstance", f"{RDS}:og:default:mysql-8-4", UNTAGGED),
    ("rds:CreateDBInstance", f"{RDS}:pg:{PROJECT}-db-1", OURS),
    ("rds:CreateDBInstance", f"{RDS}:subgrp:{PROJECT}-db-1", OURS),
    ("rds:AddTagsToResource", DB_ARN, NEW),
    ("rds:AddTagsToResource", DB_ARN, {**OURS, "aws:TagKeys": ["Name"]}),
    # manage_master_user_password: RDS creates and tags its secret for this database
    ("secretsmanager:CreateSecret", RDS_SECRET,
     {"aws:RequestTag/aws:rds:primaryDBInstanceArn": DB_ARN}),
    ("secretsmanager:TagResource", RDS_SECRET,
     {"aws:RequestTag/aws:rds:primaryDBInstanceArn": DB_ARN}),
    ("secretsmanager:DescribeSecret", RDS_SECRET, OUR_DB_SECRET),
    ("secretsmanager:RotateSecret", RDS_SECRET, OUR_DB_SECRET),
    ("kms:DescribeKey", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k-1", UNTAGGED),
    ("rds:ModifyDBInstance", DB_ARN, OURS),
    ("rds:ModifyDBInstance", f"{RDS}:pg:{PROJECT}-db-2", OURS),
    ("rds:DeleteDBInstance", DB_ARN, OURS),
    ("logs:CreateLogGroup", LOGS, NEW),
    ("logs:TagResource", LOGS, NEW),
    ("logs:PutRetentionPolicy", LOGS, UNTAGGED),
    ("logs:ListTagsForResource", LOGS, UNTAGGED),
    ("logs:DeleteLogGroup", LOGS, UNTAGGED),
    ("iam:CreateServiceLinkedRole",
     f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS",
     {"iam:AWSServiceName": "rds.amazonaws.com"}),
    # modules/db, ec2 mode: the stack's own secret, an ephemeral random password
    ("secretsmanager:GetRandomPassword", "*", UNTAGGED),
    ("secretsmanager:CreateSecret", SECRET, NEW),
    ("secretsmanager:TagResource", SECRET, NEW),
    ("secretsmanager:PutSecretValue", SECRET, UNTAGGED),
    ("secretsmanager:GetSecretValue", SECRET, UNTAGGED),
    ("secretsmanager:DescribeSecret", SECRET, UNTAGGED),
    ("secretsmanager:GetResourcePolicy", SECRET, UNTAGGED),
    ("secretsmanager:DeleteSecret", SECRET, UNTAGGED),
]  # fmt: skip

# What every role reads: a refresh, the drift check, the smoke job.
READ_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("s3:ListBucket", BUCKET, {"s3:prefix": STATE_KEY}),
    ("s3:GetObject", f"{BUCKET}/{STATE_KEY}", UNTAGGED),
    ("ssm:GetParameter",
     f"arn:aws:ssm:{REGION}::parameter/aws/service/ami-amazon-linux-latest/x", {}),
    ("ec2:DescribeInstances", "*", UNTAGGED),
    ("ec2:DescribeSecurityGroups", "*", UNTAGGED),
    ("ec2:DescribeRouteTables", "*", UNTAGGED),
    ("ec2:DescribeInstanceAttribute", f"{EC2}:instance/i-1", OURS),
    ("rds:DescribeDBInstances", "*", UNTAGGED),
    ("logs:DescribeLogGroups", "*", UNTAGGED),
]  # fmt: skip

STATE_WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("s3:PutObject", f"{BUCKET}/{STATE_KEY}", UNTAGGED),
    ("s3:PutObject", f"{BUCKET}/{STATE_KEY}.tflock", UNTAGGED),
    ("s3:DeleteObject", f"{BUCKET}/{STATE_KEY}.tflock", UNTAGGED),
]

DESTROY_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("ec2:TerminateInstances", f"{EC2}:instance/i-1", OURS),
    ("ec2:DeleteSecurityGroup", f"{EC2}:security-group/sg-1", OURS),
    ("ec2:DisassociateRouteTable", f"{EC2}:route-table/rtb-1", OURS),
    ("ec2:DetachInternetGateway", f"{EC2}:internet-gateway/igw-1", OURS),
    ("ec2:DetachInternetGateway", f"{EC2}:vpc/vpc-1", OURS),
    ("ec2:DeleteVpc", f"{EC2}:vpc/vpc-1", OURS),
    ("rds:DeleteDBInstance", DB_ARN, OURS),
    ("rds:DeleteDBSubnetGroup", f"{RDS}:subgrp:{PROJECT}-db-1", OURS),
    ("secretsmanager:DeleteSecret", RDS_SECRET, OUR_DB_SECRET),
    ("secretsmanager:DeleteSecret", SECRET, UNTAGGED),
    ("logs:DeleteLogGroup", LOGS, UNTAGGED),
]

# What the instances' roles read at boot
INSTANCE_CALLS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "web": [
        ("secretsmanager:GetSecretValue", SECRET, UNTAGGED),  # ec2 mode: the app user's
        ("secretsmanager:GetSecretValue", RDS_SECRET, OUR_DB_SECRET),  # rds mode: the master
        # the SSM agent, for Session Manager (none of these actions names a resource)
        *[
            (action, "*", UNTAGGED)
            for action in (
                "ssm:UpdateInstanceInformation",
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            )
        ],
    ],
    "db": [("secretsmanager:GetSecretValue", SECRET, UNTAGGED)],
}

PROD = f"{PROJECT}-prod"  # another project whose name extends this one's
GROUP_OPENERS = ["ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
                 "ec2:ModifySecurityGroupRules", "ec2:DeleteSecurityGroup"]  # fmt: skip
ADOPTED = {**OURS, "aws:ResourceTag/Name": DEFAULT_GROUP}  # a group after step 1 below

# Attacks, each of which must be denied: (class, role, action, resource, context). Two-step
# attacks list their second step with the context the first step would leave behind.
ATTACKS: list[tuple[str, str, str, str, dict[str, Any]]] = [
    # 1. adopt by tagging: a neighbour's resource tagged for the stack, then changed
    ("adopt", "apply", "rds:AddTagsToResource", f"{RDS}:db:payroll", NEW),
    ("adopt", "apply", "rds:AddTagsToResource", f"{RDS}:db:payroll", {**NEW, **OTHER}),
    ("adopt", "apply", "rds:AddTagsToResource", f"{RDS}:pg:payroll-1", NEW),
    ("adopt", "apply", "rds:ModifyDBInstance", f"{RDS}:db:payroll", UNTAGGED),
    ("adopt", "apply", "rds:DeleteDBInstance", f"{RDS}:db:payroll", OTHER),
    ("adopt", "apply", "ec2:CreateTags", f"{EC2}:security-group/sg-other", NEW),
    ("adopt", "apply", "ec2:CreateTags", f"{EC2}:security-group/sg-other",
     {**NEW, **OTHER, "aws:RequestTag/Name": DEFAULT_GROUP}),
    ("adopt", "apply", "ec2:CreateTags", f"{EC2}:vpc/vpc-other", NEW),
    ("adopt", "apply", "ec2:CreateTags", f"{EC2}:instance/i-other", {**NEW, **OTHER}),
    ("adopt", "apply", "ec2:AssociateAddress", f"{EC2}:instance/i-other", OTHER),
    ("adopt", "apply", "ec2:AttachInternetGateway", f"{EC2}:vpc/vpc-other", UNTAGGED),
    # step 2 after adopting an untagged group under the default group's Name
    *[("adopt", role, action, f"{EC2}:security-group/sg-other", ADOPTED)
      for role in ("apply", "destroy") for action in GROUP_OPENERS],
    ("adopt", "apply", "ec2:CreateTags", f"{EC2}:security-group/sg-other",
     {**ADOPTED, "aws:TagKeys": ["Name"], "aws:RequestTag/Name": f"{PROJECT}-web"}),
    ("adopt", "apply", "ec2:DeleteTags", f"{EC2}:security-group/sg-other",
     {**ADOPTED, "aws:TagKeys": ["Name"]}),
    # ... nor hand one of the stack's resources to a neighbour
    ("adopt", "apply", "ec2:CreateTags", f"{EC2}:instance/i-1",
     {**OURS, "aws:TagKeys": ["Project"], "aws:RequestTag/Project": "payroll"}),
    ("adopt", "apply", "ec2:DeleteTags", f"{EC2}:vpc/vpc-1", {**OURS, "aws:TagKeys": ["Project"]}),
    ("adopt", "apply", "rds:RemoveTagsFromResource", DB_ARN, {**OURS, "aws:TagKeys": ["Project"]}),
    # DeleteTags without Tags deletes every tag (EC2 API reference) and names no key, so a
    # condition on aws:TagKeys never sees Project: untag a stack resource, or the adopted group
    ("adopt", "apply", "ec2:DeleteTags", f"{EC2}:vpc/vpc-1", OURS),
    ("adopt", "apply", "ec2:DeleteTags", f"{EC2}:security-group/sg-other", ADOPTED),
    ("adopt", "destroy", "ec2:CreateTags", f"{EC2}:vpc/vpc-other", NEW),
    # 2. names that only share a prefix
    ("prefix", "apply", "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/gitops/{PROD}/{PROD}-web",
     {"iam:PassedToService": "ec2.amazonaws.com"}),
    ("prefix", "apply", "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{PROD}-web",
     {"iam:PassedToService": "ec2.amazonaws.com"}),
    ("prefix", "apply", "iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/{PROD}-web",
     UNTAGGED),
    ("prefix", "apply", "secretsmanager:GetSecretValue", f"{SECRETS}:gitops/{PROD}/db-1",
     UNTAGGED),
    ("prefix", "apply", "secretsmanager:GetSecretValue", f"{SECRETS}:{PROD}-db-1", UNTAGGED),
    ("prefix", "web", "secretsmanager:GetSecretValue", f"{SECRETS}:gitops/{PROD}/db-1",
     UNTAGGED),
    ("prefix", "web", "secretsmanager:GetSecretValue", f"{SECRETS}:{PROD}-db-1", UNTAGGED),
    ("prefix", "apply", "logs:DeleteLogGroup",
     f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/rds/instance/{PROD}-db/error", UNTAGGED),
    ("prefix", "apply", "rds:AddTagsToResource", f"{RDS}:db:{PROD}-db", NEW),
    # 3. read the database master password through a role of one's own
    *[("master", "apply", action, f"arn:aws:iam::{ACCOUNT}:role/gitops/{PROJECT}/x",
       {"iam:PermissionsBoundary": "anything"})
      for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy",
                     "iam:UpdateAssumeRolePolicy", "iam:PutRolePermissionsBoundary",
                     "iam:DeleteRolePermissionsBoundary")],
    # ... with the boundary the pipeline once created roles under, which let them read it
    *[("master", "apply", action, f"arn:aws:iam::{ACCOUNT}:role/{PROJECT}-x",
       {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/{PROJECT}-instance-boundary"})
      for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy")],
    ("master", "apply", "iam:UpdateAssumeRolePolicy", ROLE, UNTAGGED),
    ("master", "apply", "iam:PutRolePolicy", ROLE, UNTAGGED),
    ("master", "apply", "iam:CreateInstanceProfile", PROFILE, UNTAGGED),
    ("master", "apply", "iam:AddRoleToInstanceProfile", PROFILE, UNTAGGED),
    ("master", "apply", "iam:PassRole", ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}),
    ("master", "apply", "iam:PassRole", ROLE, UNTAGGED),
    ("master", "apply", "secretsmanager:GetSecretValue", RDS_SECRET, OUR_DB_SECRET),
    ("master", "apply", "iam:AddRoleToInstanceProfile",
     f"arn:aws:iam::{ACCOUNT}:instance-profile/gitops/{PROD}/{PROD}-web", UNTAGGED),
    # ... or by widening the pipeline's own policies or roles (a new default policy version)
    *[("master", role, action, resource, UNTAGGED)
      for role in ("plan", "apply", "destroy")
      for action, resource in (
          ("iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/gha-{PROJECT}-network"),
          ("iam:SetDefaultPolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/gha-{PROJECT}-read"),
          ("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/gha-{PROJECT}-{role}"),
          ("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/gha-{PROJECT}-{role}"))],
    ("master", "apply", "iam:CreateServiceLinkedRole",
     f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot",
     {"iam:AWSServiceName": "spot.amazonaws.com"}),
    ("master", "plan", "secretsmanager:GetSecretValue", SECRET, UNTAGGED),
    # 4. RDS-managed secrets of other databases
    *[("rds-secret", role, f"secretsmanager:{verb}", RDS_SECRET, THEIR_DB_SECRET)
      for role in ("apply", "destroy")
      for verb in ("DeleteSecret", "RotateSecret", "TagResource", "DescribeSecret",
                   "GetSecretValue")],
    ("rds-secret", "apply", "secretsmanager:CreateSecret", RDS_SECRET,
     {"aws:RequestTag/aws:rds:primaryDBInstanceArn": f"{RDS}:db:payroll"}),
    ("rds-secret", "apply", "secretsmanager:RotateSecret", RDS_SECRET, UNTAGGED),
    ("rds-secret", "web", "secretsmanager:GetSecretValue", RDS_SECRET, THEIR_DB_SECRET),
    ("rds-secret", "web", "secretsmanager:GetSecretValue", RDS_SECRET, UNTAGGED),
    ("rds-secret", "db", "secretsmanager:GetSecretValue", RDS_SECRET, OUR_DB_SECRET),
    # ... nor any SSM parameter of the account (AmazonSSMManagedInstanceCore's GetParameter on
    # "*", other teams' SecureStrings included: the aws/ssm key lets any principal decrypt)
    *[("parameters", tier, action, f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/payroll/db-password",
       UNTAGGED)
      for tier in ("web", "db")
      for action in ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath")],
    ("parameters", "web", "ssm:GetDocument", f"arn:aws:ssm:{REGION}:{ACCOUNT}:document/payroll",
     UNTAGGED),
    # 5. the plan role: user data outside the stack, listing the bucket
    ("plan-read", "plan", "ec2:DescribeInstanceAttribute", f"{EC2}:instance/i-other", OTHER),
    ("plan-read", "plan", "ec2:DescribeInstanceAttribute", f"{EC2}:instance/i-other", UNTAGGED),
    ("plan-read", "plan", "ec2:DescribeLaunchTemplateVersions", "*", UNTAGGED),
    ("plan-read", "plan", "ec2:DescribeSpotInstanceRequests", "*", UNTAGGED),
    ("plan-read", "plan", "ec2:DescribeSpotFleetRequests", "*", UNTAGGED),
    ("plan-read", "plan", "ec2:GetLaunchTemplateData", f"{EC2}:instance/i-other", OTHER),
    ("plan-read", "plan", "s3:ListBucket", BUCKET, UNTAGGED),  # every key of every project
    ("plan-read", "plan", "s3:ListBucket", BUCKET, {"s3:prefix": ""}),
    ("plan-read", "plan", "s3:ListBucket", BUCKET, {"s3:prefix": "tokyo/"}),
    ("plan-read", "plan", "s3:GetObject", f"{BUCKET}/tokyo/terraform.tfstate", UNTAGGED),
    ("plan-read", "plan", "ssm:GetParameter",
     f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/payroll/db-password", UNTAGGED),
    # the state: never delete it, never another environment's
    ("state", "destroy", "s3:DeleteObject", f"{BUCKET}/{STATE_KEY}", UNTAGGED),
    ("state", "apply", "s3:PutObject", f"{BUCKET}/tokyo/terraform.tfstate", UNTAGGED),
    ("state", "apply", "s3:PutObject", f"{BUCKET}/seoul/terraform.tfstate.evil", UNTAGGED),
    ("state", "apply", "s3:PutObject", f"{BUCKET}/seoul-x/terraform.tfstate", UNTAGGED),
    ("state", "plan", "s3:GetObject", f"{BUCKET}/seoul-x/terraform.tfstate", UNTAGGED),
    ("state", "plan", "s3:ListBucket", BUCKET, {"s3:prefix": "seoul/"}),
    # creating or launching outside the stack
    ("create", "apply", "rds:CreateDBInstance", DB_ARN, UNTAGGED),
    ("create", "apply", "ec2:RunInstances", f"{EC2}:instance/*", UNTAGGED),
    ("create", "apply", "ec2:CreateSubnet", f"{EC2}:vpc/vpc-other", OTHER),
    ("create", "apply", "ec2:RunInstances", f"{EC2}:subnet/subnet-other", UNTAGGED),
    ("create", "apply", "ec2:RunInstances", f"{EC2}:security-group/sg-other", UNTAGGED),
    ("create", "destroy", "ec2:RunInstances", f"{EC2}:instance/*", NEW),
    *[("create", "destroy", action, resource, NEW) for action, resource in (
        ("ec2:CreateVpc", f"{EC2}:vpc/*"), ("rds:CreateDBInstance", DB_ARN),
        ("secretsmanager:CreateSecret", SECRET), ("logs:CreateLogGroup", LOGS))],
    # ... nor with the tags of a create reaching the resources the call only names. The Service
    # Authorization Reference lists aws:RequestTag as a key of the whole RDS create action, so
    # RDS evaluates the request's tags for the subnet and parameter group it names as well; EC2
    # lists it on the new resource only, which the policy must not depend on either.
    ("create", "apply", "rds:CreateDBInstance", f"{RDS}:subgrp:payroll-db", {**NEW, **OTHER}),
    ("create", "apply", "rds:CreateDBInstance", f"{RDS}:subgrp:default-vpc-1", NEW),
    ("create", "apply", "rds:CreateDBInstance", f"{RDS}:pg:payroll-db", {**NEW, **OTHER}),
    ("create", "apply", "ec2:CreateSubnet", f"{EC2}:vpc/vpc-other", {**NEW, **OTHER}),
    ("create", "apply", "ec2:CreateSecurityGroup", f"{EC2}:vpc/vpc-other", NEW),
    ("create", "apply", "ec2:CreateRouteTable", f"{EC2}:vpc/vpc-other", NEW),
    ("create", "apply", "ec2:CreateNatGateway", f"{EC2}:subnet/subnet-other", {**NEW, **OTHER}),
    ("create", "apply", "ec2:CreateNatGateway", f"{EC2}:elastic-ip/eipalloc-other", NEW),
    ("create", "apply", "ec2:RunInstances", f"{EC2}:subnet/subnet-other", {**NEW, **OTHER}),
    ("create", "apply", "ec2:RunInstances", f"{EC2}:security-group/sg-other", NEW),
    # ... nor with an EXISTING network interface (NetworkInterfaces[].NetworkInterfaceId): the
    # instance would run with its subnet, address and groups. Another team's, untagged or
    # tagged; one in the stack's own subnet that someone else made; one someone tagged with the
    # project (the apply role cannot tag it itself: step 1 below)
    *[("launch-with", "apply", "ec2:RunInstances", f"{EC2}:network-interface/eni-0other", ctx)
      for ctx in (UNTAGGED, OTHER, OURS,
                  {"ec2:Subnet": f"{EC2}:subnet/subnet-1", "ec2:Vpc": f"{EC2}:vpc/vpc-1"})],
    ("launch-with", "apply", "ec2:CreateTags", f"{EC2}:network-interface/eni-0other", NEW),
    ("launch-with", "apply", "ec2:CreateTags", f"{EC2}:network-interface/eni-0other",
     {**NEW, **OTHER}),
    # ... nor with a key pair that is not the stack's (SSH with a key someone else holds),
    # tagged for it by the apply role first, or imported by it
    ("launch-with", "apply", "ec2:RunInstances", f"{EC2}:key-pair/payroll-admin", OTHER),
    ("launch-with", "apply", "ec2:RunInstances", f"{EC2}:key-pair/payroll-admin", UNTAGGED),
    ("launch-with", "apply", "ec2:CreateTags", f"{EC2}:key-pair/payroll-admin", NEW),
    ("launch-with", "apply", "ec2:ImportKeyPair", f"{EC2}:key-pair/{PROJECT}-x", NEW),
    ("launch-with", "apply", "ec2:CreateKeyPair", f"{EC2}:key-pair/{PROJECT}-x", NEW),
    # ... nor from another team's launch template (its user data), nor as a spot request
    ("create", "apply", "ec2:RunInstances", f"{EC2}:launch-template/lt-other", OTHER),
    ("create", "apply", "ec2:RunInstances", f"{EC2}:spot-instances-request/*", NEW),
    # ... nor a database or group outside the stack's names, tagged for it or not
    ("create", "apply", "rds:CreateDBInstance", f"{RDS}:db:payroll-db", NEW),
    ("create", "apply", "rds:CreateDBSubnetGroup", f"{RDS}:subgrp:payroll-db", NEW),
    # ... nor what the stack never makes: a VPC endpoint (a private path to any endpoint service)
    ("create", "apply", "ec2:CreateVpcEndpoint", f"{EC2}:vpc-endpoint/*", NEW),
    ("create", "apply", "ec2:CreateVpcEndpoint", f"{EC2}:vpc/vpc-1", {**NEW, **OURS}),
    # 6. another region: every regional permission is the stack's region's only
    *[("region", role, action, f"arn:aws:ec2:us-east-1:{ACCOUNT}:{resource}",
       {**OURS, "aws:RequestedRegion": "us-east-1"})
      for role in ("apply", "destroy")
      for action, resource in (("ec2:TerminateInstances", "instance/i-x"),
                               ("ec2:RevokeSecurityGroupIngress", "security-group/sg-x"),
                               ("ec2:DeleteVpc", "vpc/vpc-x"))],
    ("region", "apply", "ec2:AuthorizeSecurityGroupIngress",
     f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-x",
     {**OURS, "aws:RequestedRegion": "us-east-1"}),
    ("region", "apply", "ec2:RunInstances", f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/subnet-x",
     {**OURS, "aws:RequestedRegion": "us-east-1"}),
]  # fmt: skip


def _condition_holds(op: str, key: str, wanted: Any, ctx: dict[str, Any]) -> bool:
    values = [str(v) for v in _list(wanted)]
    have = ctx.get(key)
    if op == "Null":
        return (have is None) == (values == ["true"])
    if op.startswith("ForAnyValue:"):
        inner = op.split(":", 1)[1]
        return any(_condition_holds(inner, key, wanted, {key: v}) for v in _list(have or []))
    if op.startswith(("StringNot", "ArnNot")):
        return have is None or not any(fnmatch.fnmatchcase(have, v) for v in values)
    if have is None:
        return False
    if op in ("StringEquals", "ArnEquals"):
        return have in values
    if op in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(have, v) for v in values)
    raise AssertionError(f"condition operator {op} is not modelled here")


def _matches(st: dict[str, Any], action: str, resource: str, ctx: dict[str, Any]) -> bool:
    if not any(fnmatch.fnmatch(action.lower(), a.lower()) for a in _list(st["Action"])):
        return False
    if not any(fnmatch.fnmatchcase(resource, r) for r in _list(st["Resource"])):
        return False
    return all(
        _condition_holds(op, key, wanted, ctx)
        for op, keys in st.get("Condition", {}).items()
        for key, wanted in keys.items()
    )


def allowed(docs: list[dict[str, Any]], action: str, resource: str, ctx: dict[str, Any]) -> bool:
    """IAM's identity-policy evaluation for one authorization: an explicit deny wins, else an
    allow is needed (the region condition always holds: every row is in REGION)."""
    ctx = {"aws:RequestedRegion": REGION, **ctx}
    if any(_matches(st, action, resource, ctx) for st in _statements(docs, "Deny")):
        return False
    return any(_matches(st, action, resource, ctx) for st in _statements(docs))


def test_every_call_of_the_stack_is_allowed(rendered: dict[str, list[dict[str, Any]]]) -> None:
    wanted = {
        "plan": READ_CALLS,
        "apply": APPLY_CALLS + READ_CALLS + STATE_WRITES,
        "destroy": DESTROY_CALLS + READ_CALLS + STATE_WRITES,
        **INSTANCE_CALLS,
    }
    denied = [
        f"{role}: {action} on {resource} with {ctx}"
        for role, calls in wanted.items()
        for action, resource, ctx in calls
        if not allowed(rendered[role], action, resource, ctx)
    ]
    assert denied == [], "\n".join(denied)


def test_the_stacks_creates_hold_whichever_resources_carry_the_request_tags(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """RDS lists aws:RequestTag as a key of the whole create action, so the tags of a create
    reach the authorization of the existing groups it names too; EC2 lists it on the new
    resource only. The stack's creates pass under either reading (the attacks under both
    fail: ATTACKS class `create`)."""
    verbs = ("Create", "RunInstances", "AllocateAddress")
    creates = [c for c in APPLY_CALLS if c[0].split(":")[1].startswith(verbs)]
    assert len(creates) > 20, creates  # every create of the stack, and the resources it names
    denied = [
        f"{action} on {resource} with {ctx}"
        for action, resource, ctx in creates
        if not allowed(rendered["apply"], action, resource, {**NEW, **ctx})
    ]
    assert denied == [], "\n".join(denied)


@pytest.mark.parametrize("kind", sorted({a[0] for a in ATTACKS}))
def test_no_attack_is_allowed(kind: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    granted = [
        f"{role}: {action} on {resource} with {ctx}"
        for k, role, action, resource, ctx in ATTACKS
        if k == kind and allowed(rendered[role], action, resource, ctx)
    ]
    assert granted == [], "\n".join(granted)


# Every answer that can carry a secret, found in AWS's own service models (botocore marks such
# fields `sensitive`), for the wildcards the roles read the region with (ec2:Describe*,
# rds:Describe*): none may answer for another team's resources. Fields the service documents it
# never fills are the only exception.
NEVER_RETURNED = {
    # "Amazon RDS API operations never return the password" (RDS API reference, ModifyDBInstance
    # MasterUserPassword): a pending password change shows without its value.
    "PendingModifiedValues.MasterUserPassword",
}


def _sensitive_fields(shape: Any, path: str, seen: frozenset[str]) -> list[str]:
    if shape is None or shape.name in seen:
        return []
    seen = seen | {shape.name}
    found = []
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            here = f"{path}.{name}" if path else name
            if member.metadata.get("sensitive"):
                found.append(here)
            found += _sensitive_fields(member, here, seen)
    elif shape.type_name == "list":
        found += _sensitive_fields(shape.member, path, seen)
    elif shape.type_name == "map":
        found += _sensitive_fields(shape.value, path, seen)
    return found


def secret_answers(services: tuple[str, ...] = ("ec2", "rds")) -> dict[str, list[str]]:
    """IAM action => the sensitive fields of its answer, for each Describe call of the services
    whose answer has one the service may fill."""
    import botocore.session

    session = botocore.session.get_session()
    out = {}
    for service in services:
        model = session.get_service_model(service)
        for op in model.operation_names:
            if op.startswith("Describe"):
                fields = _sensitive_fields(model.operation_model(op).output_shape, "", frozenset())
                fields = [f for f in fields if not any(f.endswith(n) for n in NEVER_RETURNED)]
                if fields:
                    out[f"{service}:{op}"] = fields
    return out


def test_no_role_reads_a_secret_through_a_description(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """VPN pre-shared keys, OIDC client secrets of Verified Access, signed import URLs of other
    teams' disk images, user data of launch templates and spot requests: all answered by
    ec2:Describe*, which the roles need for the region's inventory."""
    answers = secret_answers()
    # the scan is real: it finds what the policies were first written against
    assert {"ec2:DescribeLaunchTemplateVersions", "ec2:DescribeVpnConnections"} <= set(answers)
    granted = [
        f"{role}: {action} ({', '.join(fields)})"
        for role in ("plan", "apply", "destroy")
        for action, fields in sorted(answers.items())
        if allowed(rendered[role], action, "*", UNTAGGED)
    ]
    assert granted == [], "\n".join(granted)
    # and the descriptions the stack's refresh needs stay allowed (not a blanket deny)
    for action in ("ec2:DescribeInstances", "rds:DescribeDBInstances", "ec2:DescribeVpcs"):
        assert allowed(rendered["plan"], action, "*", UNTAGGED), action


def test_the_security_table_is_backed_by_attacks() -> None:
    """docs/SECURITY.md's roles table: each class its "Shown by" column names has attacks by
    that role here, and each test or list it names exists, so no "may not" goes unproven."""
    text = (REPO_ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    start = text.index("| Role | May | May not | Shown by |")
    rows = [r for r in text[start:].split("\n\n", 1)[0].splitlines()[2:] if r.startswith("|")]
    assert len(rows) == len(ROLE_DOCUMENTS), rows
    classes = {(k, role) for k, role, *_ in ATTACKS}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        role = cells[0].split()[0]
        assert role in ROLE_DOCUMENTS, row
        for name in re.findall(r"`([^`]+)`", cells[3]):
            if name.startswith("test_") or name.isupper():
                assert name in globals(), f"{role}: {name} is no test or list here"
            else:
                assert (name, role) in classes, f"{role}: no attack of class {name!r} by {role}"


def test_the_evaluator_reads_conditions_as_iam_does() -> None:
    doc = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ec2:CreateSubnet",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestTag/Project": PROJECT}},
            }
        ]
    }
    # the subnet carries the request tag; the VPC it is created in does not
    assert allowed([doc], "ec2:CreateSubnet", f"{EC2}:subnet/subnet-1", NEW)
    assert not allowed([doc], "ec2:CreateSubnet", f"{EC2}:vpc/vpc-1", OURS)
    deny = {"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}
    assert not allowed([doc, {"Statement": [deny]}], "ec2:CreateSubnet", "x", NEW)
    any_key = {"Effect": "Deny", "Action": "ec2:CreateTags", "Resource": "*",
               "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["Project"]}}}  # fmt: skip
    allow_all = {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*"}
    both = [{"Statement": [allow_all, any_key]}]
    assert not allowed(both, "ec2:CreateTags", "x", {"aws:TagKeys": ["Name", "Project"]})
    assert allowed(both, "ec2:CreateTags", "x", {"aws:TagKeys": ["Name"]})
    assert allowed(both, "ec2:CreateTags", "x", {})


# --- Terraform's S3 backend, call by call, with each role's policy ------------------------------
# Terraform 1.11 (.terraform-version), internal/backend/remote-state/s3 at v1.11.4:
# backend_state.go (Workspaces, StateMgr) and client.go (get, put, lockWithFile,
# unlockWithFile). Every call goes through tests/s3_as_role.py, so the rendered policy of the
# role decides it with the context S3 builds, and S3 answers as AWS does: a missing object is
# 404 only to a caller allowed s3:ListBucket without a prefix, else 403.


class BackendError(Exception):
    """Terraform stops with this error."""


def tf_workspaces(s3: Any, bucket: str) -> None:
    """Backend.Workspaces, run by init and by every StateMgr: a listing under env:/, where an
    AccessDenied reads as "no other workspace" only with the default workspace_key_prefix. The
    default workspace is always listed, so StateMgr("default") takes no init lock."""
    try:
        s3.list_objects_v2(Bucket=bucket, Prefix="env:/", MaxKeys=1000)
    except ClientError as error:
        if aws.error_code(error) != "AccessDenied":
            raise BackendError(f"Unable to list objects in S3 bucket {bucket!r}: {error}") from None


def tf_get(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """RemoteClient.get: HeadObject, where only NotFound means "no state yet", then the
    download (ranged GetObject calls: the same action)."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if aws.error_code(error) in ("404", "NotFound"):
            return None
        raise BackendError(
            f"Unable to access object {key!r} in S3 bucket {bucket!r}: {error}"
        ) from None
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body) if body else None


def tf_lock(s3: Any, bucket: str, key: str) -> str:
    """lockWithFile: PutObject of <key>.tflock with If-None-Match: *; on failure the lock's
    holder is read for the message."""
    lock_id = str(uuid.uuid4())
    body = json.dumps({"ID": lock_id, "Operation": "OperationTypeApply", "Who": "ci"})
    try:
        s3.put_object(Bucket=bucket, Key=f"{key}.tflock", Body=body.encode(), IfNoneMatch="*")
    except ClientError as error:
        raise BackendError(f"Error acquiring the state lock: {error}") from None
    return lock_id


def tf_unlock(s3: Any, bucket: str, key: str, lock_id: str) -> None:
    """unlockWithFile: GetObject of the lock, its ID compared, DeleteObject."""
    held = json.loads(s3.get_object(Bucket=bucket, Key=f"{key}.tflock")["Body"].read())
    assert held["ID"] == lock_id
    s3.delete_object(Bucket=bucket, Key=f"{key}.tflock")


def tf_job(job: str, s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """What a workflow job asks of the backend: `terraform init` (Workspaces, then the state
    for its providers), then the command. Plans and drift checks take no lock (terraform.yml's
    TF_CLI_ARGS_plan: -lock=false), nor does `terraform output` (smoke); apply and destroy
    lock, read, write and unlock."""
    tf_workspaces(s3, bucket)
    tf_get(s3, bucket, key)  # init reads the state for its providers
    if job in ("plan", "drift", "smoke"):
        return tf_get(s3, bucket, key)
    lock_id = tf_lock(s3, bucket, key)
    state = tf_get(s3, bucket, key) or {"lineage": str(uuid.uuid4()), "serial": 0}
    written = {**state, "serial": state["serial"] + 1, "resources": []}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(written).encode())  # RemoteClient.put
    tf_unlock(s3, bucket, key, lock_id)
    return written


# (job, role) for every job that runs Terraform against an AWS environment's state
TERRAFORM_JOBS = [("plan", "plan"), ("drift", "plan"), ("smoke", "plan"), ("apply", "apply"),
                  ("destroy", "destroy")]  # fmt: skip


@pytest.fixture
def state_bucket(moto_aws: None) -> Any:
    """moto's S3 with the bucket the policies were rendered for, versioned as the bootstrap's."""
    s3 = aws.client("s3", REGION)
    versioned_bucket(s3, iam_render.BUCKET, REGION)
    return s3


def as_role(s3: Any, docs: list[dict[str, Any]]) -> S3AsRole:
    return S3AsRole(s3, lambda action, resource, ctx: allowed(docs, action, resource, ctx))


def watchdog_reads(s3: Any, docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The watchdog's read of the state (gitops.terraform.state) with the plan role."""
    backend = unlock.Backend("s3", REPO_ROOT, bucket=iam_render.BUCKET, key=STATE_KEY,
                             region=REGION)  # fmt: skip
    answer_every_client(monkeypatch, as_role(s3, docs))
    return tf_state.read_summary(backend)


def test_the_backend_settings_the_jobs_rest_on() -> None:
    """The workspace listing under env:/ is refused to every role (below), which Terraform reads
    as "no other workspace" only with the default workspace_key_prefix: no backend sets one.
    Plans take no lock, so the plan role needs no write."""
    for env in environments.load().values():
        if not env.emulated:
            config = bootstrap.backend_from_source(env.root)["config"]
            assert "workspace_key_prefix" not in config, env.name
    doc = yaml.safe_load((WORKFLOWS / "terraform.yml").read_text(encoding="utf-8"))
    assert doc["jobs"]["plan"]["env"]["TF_CLI_ARGS_plan"] == "-lock=false"


@pytest.mark.parametrize("role", ["plan", "apply", "destroy"])
def test_no_role_may_list_without_its_key_as_the_prefix(
    role: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    """Not the whole bucket, not the workspaces under env:/, and not the check S3 makes for a
    missing object, which carries no s3:prefix: that one is why the state must exist."""
    for ctx in ({}, {"s3:prefix": ""}, {"s3:prefix": "env:/", "s3:max-keys": "1000"}):
        assert not allowed(rendered[role], "s3:ListBucket", BUCKET, ctx), (role, ctx)
    assert allowed(rendered[role], "s3:ListBucket", BUCKET, {"s3:prefix": STATE_KEY})


def test_a_missing_state_stops_terraform_for_every_role(
    state_bucket: Any, rendered: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing at the state key (the bucket as it was before make bootstrap wrote the empty
    state): S3 answers each role's HeadObject 403, and Terraform, which takes only a 404 as "no
    state yet", stops; the first plan of a pull request and the first deploy would fail. The
    watchdog, which lists the key, reads "nothing runs"."""
    for job, role in TERRAFORM_JOBS:
        with pytest.raises(BackendError, match="Unable to access object.*403"):
            tf_job(job, as_role(state_bucket, rendered[role]), iam_render.BUCKET, STATE_KEY)
    summary = watchdog_reads(state_bucket, rendered["plan"], monkeypatch)
    assert (summary.resources, summary.written) == (0, None)


def test_a_never_deployed_environment_plans_deploys_and_is_watched_as_the_bootstrap_leaves_it(
    state_bucket: Any, rendered: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    bootstrap.seed_states(state_bucket, iam_render.BUCKET, [environments.load()["seoul"]],
                          lines.append)  # fmt: skip
    assert lines == [f"bootstrap: envs/seoul state s3://{iam_render.BUCKET}/{STATE_KEY}: an "
                     "empty state written (never deployed)"]  # fmt: skip
    seeded = json.loads(
        state_bucket.get_object(Bucket=iam_render.BUCKET, Key=STATE_KEY)["Body"].read()
    )
    summary = watchdog_reads(state_bucket, rendered["plan"], monkeypatch)
    assert summary.resources == 0 and summary.written is not None
    for job, role in TERRAFORM_JOBS:
        s3 = as_role(state_bucket, rendered[role])
        state = tf_job(job, s3, iam_render.BUCKET, STATE_KEY)
        assert state is not None and state["lineage"] == seeded["lineage"], job
        if role == "plan":  # reads only, no lock and no write
            assert {a for a, _, _ in s3.calls} == {"s3:ListBucket", "s3:GetObject"}, s3.calls
    listed = state_bucket.list_objects_v2(Bucket=iam_render.BUCKET)["Contents"]
    assert [o["Key"] for o in listed] == [STATE_KEY]  # every lock released


def test_a_deployed_environment_is_read_locked_and_written_by_its_roles_only(
    state_bucket: Any, rendered: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    state = {"version": 4, "serial": 7, "lineage": "l-1", "resources": [
        {"mode": "managed", "type": "aws_vpc", "name": "this", "instances": [{}]}]}  # fmt: skip
    state_bucket.put_object(
        Bucket=iam_render.BUCKET, Key=STATE_KEY, Body=json.dumps(state).encode()
    )
    assert watchdog_reads(state_bucket, rendered["plan"], monkeypatch).resources == 1
    for job, role in TERRAFORM_JOBS:
        assert tf_job(job, as_role(state_bucket, rendered[role]), iam_render.BUCKET, STATE_KEY)
    # the plan role can neither lock nor write; a lock another run holds stops apply and destroy
    with pytest.raises(BackendError, match="state lock"):
        tf_lock(as_role(state_bucket, rendered["plan"]), iam_render.BUCKET, STATE_KEY)
    held = tf_lock(as_role(state_bucket, rendered["apply"]), iam_render.BUCKET, STATE_KEY)
    with pytest.raises(BackendError, match="PreconditionFailed"):
        tf_job("destroy", as_role(state_bucket, rendered["destroy"]), iam_render.BUCKET, STATE_KEY)
    tf_unlock(as_role(state_bucket, rendered["apply"]), iam_render.BUCKET, STATE_KEY, held)


# --- Several environments in one account and one state bucket -----------------------------------


def second_environment(envs_dir: Path, name: str, region: str, project: str) -> None:
    """envs/<name> beside the real ones: Seoul's root, its own description and project. It
    replaces a folder of that name the checkout may hold (a user's own envs/tokyo)."""
    shutil.rmtree(envs_dir / name, ignore_errors=True)
    shutil.copytree(REPO_ROOT / "envs" / "seoul", envs_dir / name, symlinks=True,
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))  # fmt: skip
    toml = (envs_dir / name / "environment.toml").read_text(encoding="utf-8")
    toml = (toml.replace('"ap-northeast-2"', f'"{region}"').replace('"seoul/', f'"{name}/')
            .replace('gate = "seoul"', f'gate = "{name}"')
            .replace('"seoul-nightly"', f'"{name}-nightly"')
            .replace("KEEP_SEOUL_UNTIL", f"KEEP_{name.upper()}_UNTIL"))  # fmt: skip
    for role in ("PLAN", "APPLY", "DESTROY"):
        toml = toml.replace(f'"AWS_{role}_ROLE_ARN"', f'"AWS_{name.upper()}_{role}_ROLE_ARN"')
    (envs_dir / name / "environment.toml").write_text(toml, encoding="utf-8")
    tfvars = (envs_dir / name / "terraform.tfvars").read_text(encoding="utf-8")
    tfvars = tfvars.replace('"ap-northeast-2"', f'"{region}"').replace(
        f'"{PROJECT}"', f'"{project}"'
    )
    (envs_dir / name / "terraform.tfvars").write_text(tfvars, encoding="utf-8")


@pytest.fixture(scope="module")
def tokyo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    envs_dir = tmp_path_factory.mktemp("envs")
    shutil.copytree(REPO_ROOT / "envs", envs_dir, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))  # fmt: skip
    second_environment(envs_dir, "tokyo", "ap-northeast-1", "study-tokyo")
    envs = environments.load(envs_dir)
    return {"envs": envs, "rendered": by_role(iam_render.render(
        envs["tokyo"], tmp_path_factory.mktemp("render-tokyo") / "w"))}  # fmt: skip


@pytest.mark.slow  # renders a second environment's policies with Terraform
def test_a_second_environment_gets_its_own_roles_and_state(tokyo: dict[str, Any]) -> None:
    envs = tokyo["envs"]
    seoul, second = envs["seoul"], envs["tokyo"]
    flags = bootstrap.roles_variables(second, repository=REPO, subject_format="name",
                                      bucket="b", account=ACCOUNT,
                                      oidc_provider_arn=iam_render.OIDC_PROVIDER)  # fmt: skip
    assert "-var=project_name=study-tokyo" in flags and "-var=aws_region=ap-northeast-1" in flags
    assert "-var=state_key=tokyo/terraform.tfstate" in flags
    assert "-var=apply_environment=tokyo" in flags
    assert any('"AWS_TOKYO_PLAN_ROLE_ARN"' in f for f in flags)
    assert seoul.state_key != second.state_key
    root = Path("/r")
    assert bootstrap.state_file(root, "tokyo") != bootstrap.state_file(root, "seoul")


@pytest.mark.slow  # renders a second environment's policies with Terraform
def test_one_environments_roles_cannot_touch_anothers(
    rendered: dict[str, list[dict[str, Any]]], tokyo: dict[str, Any]
) -> None:
    """Seoul's roles against Tokyo's state, resources, roles and secrets, and back: denied.
    Tokyo's own calls stay allowed (the policy is not one that denies everything)."""
    t_ec2 = f"arn:aws:ec2:ap-northeast-1:{ACCOUNT}"
    t_rds = f"arn:aws:rds:ap-northeast-1:{ACCOUNT}"
    t_secrets = f"arn:aws:secretsmanager:ap-northeast-1:{ACCOUNT}:secret"
    tokyo_ours = {"aws:ResourceTag/Project": "study-tokyo"}
    in_tokyo = {**tokyo_ours, "aws:RequestedRegion": "ap-northeast-1"}  # a call to Tokyo's endpoint
    t_role = f"arn:aws:iam::{ACCOUNT}:role/gitops/study-tokyo/study-tokyo-web"
    t_db_secret = {"aws:ResourceTag/aws:rds:primaryDBInstanceArn": f"{t_rds}:db:study-tokyo-db"}
    tokyo_things = [
        ("s3:PutObject", f"{BUCKET}/tokyo/terraform.tfstate", UNTAGGED),
        ("s3:GetObject", f"{BUCKET}/tokyo/terraform.tfstate", UNTAGGED),
        ("s3:DeleteObject", f"{BUCKET}/tokyo/terraform.tfstate.tflock", UNTAGGED),
        ("s3:ListBucket", BUCKET, {"s3:prefix": "tokyo/terraform.tfstate"}),
        ("ec2:TerminateInstances", f"{t_ec2}:instance/i-t", in_tokyo),
        ("ec2:TerminateInstances", f"{EC2}:instance/i-t", tokyo_ours),  # same region too
        ("rds:DeleteDBInstance", f"{t_rds}:db:study-tokyo-db", in_tokyo),
        ("iam:PassRole", t_role, {"iam:PassedToService": "ec2.amazonaws.com"}),
        ("secretsmanager:GetSecretValue", f"{t_secrets}:gitops/study-tokyo/db-1", UNTAGGED),
        ("secretsmanager:DeleteSecret", f"{t_secrets}:rds!db-1", t_db_secret),
    ]
    seoul = rendered
    for role in ("plan", "apply", "destroy", "web"):
        granted = [c for c in tokyo_things if allowed(seoul[role], *c)]
        assert granted == [], (role, granted)
    own = {"apply": tokyo_things[:2] + [tokyo_things[4], tokyo_things[7]],
           "destroy": [tokyo_things[2], tokyo_things[4], tokyo_things[6], tokyo_things[9]],
           "plan": [tokyo_things[1], tokyo_things[3]]}  # fmt: skip
    for role, calls in own.items():
        denied = [c for c in calls if not allowed(tokyo["rendered"][role], *c)]
        assert denied == [], (role, denied)
    # and back: Tokyo's roles never reach Seoul's
    for role in ("plan", "apply", "destroy", "web"):
        granted = [c for c in [("s3:PutObject", f"{BUCKET}/{STATE_KEY}", UNTAGGED),
                               ("ec2:TerminateInstances", f"{EC2}:instance/i-1", OURS),
                               ("iam:PassRole", ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}),
                               ("secretsmanager:GetSecretValue", RDS_SECRET, OUR_DB_SECRET)]
                   if allowed(tokyo["rendered"][role], *c)]  # fmt: skip
        assert granted == [], (role, granted)


def test_an_aws_environment_in_ec2_db_mode_is_refused(
    tmp_path: Path, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    """In ec2 mode every refresh (a pull request's plan, the drift check, the nightly destroy)
    reads the app's password back (GetSecretValue, the provider's aws_secretsmanager_secret_version
    read). The plan role any pull request can use must not read it (ATTACKS class `master`), so
    the mode is refused up front for AWS, with what to use instead; LocalStack keeps it."""
    envs_dir = tmp_path / "envs"
    shutil.copytree(REPO_ROOT / "envs", envs_dir, symlinks=True,
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))  # fmt: skip
    assert environments.load(envs_dir)["localstack"].emulated  # ec2 mode there: accepted
    tfvars = envs_dir / "seoul" / "terraform.tfvars"
    text = tfvars.read_text(encoding="utf-8")
    assert 'db_mode              = "rds"' in text
    tfvars.write_text(text.replace('"rds"', '"ec2"'), encoding="utf-8")
    with pytest.raises(
        environments.DescriptionError, match='seoul: terraform.tfvars: db_mode = "ec2"'
    ):
        environments.load(envs_dir)
    for role in ("plan", "destroy"):
        assert not allowed(rendered[role], "secretsmanager:GetSecretValue", SECRET, UNTAGGED)


def test_project_names_that_are_prefixes_of_one_another_are_refused(tmp_path: Path) -> None:
    envs_dir = tmp_path / "envs"
    shutil.copytree(REPO_ROOT / "envs", envs_dir, symlinks=True,
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))  # fmt: skip
    second_environment(envs_dir, "prod", "ap-northeast-2", f"{PROJECT}-prod")
    with pytest.raises(environments.DescriptionError, match="prefixes of one another"):
        environments.load(envs_dir)
    assert environments.prefix_clash(PROJECT, {f"{PROJECT}-prod", "payroll"}) == f"{PROJECT}-prod"
    assert environments.prefix_clash(PROJECT, {"study", "payroll"}) == "study"
    assert environments.prefix_clash(PROJECT, {PROJECT, "study-tokyo"}) is None


def test_the_bootstrap_refuses_a_clash_with_a_project_already_in_the_account() -> None:
    """The account's other pipeline projects are found by their instance roles' IAM path
    (moto's IAM, as boto3 sees it), and a prefix clash stops the bootstrap before any apply."""
    import boto3
    from moto import mock_aws

    ec2 = {"Service": "ec2.amazonaws.com"}
    trust = json.dumps(
        {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": ec2}]}
    )
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_role(RoleName=f"{PROD}-web", Path=f"/gitops/{PROD}/",
                        AssumeRolePolicyDocument=trust)  # fmt: skip
        iam.create_role(RoleName="payroll-app", Path="/apps/", AssumeRolePolicyDocument=trust)
        found = bootstrap.projects_in_account(iam)
    assert found == {PROD}
    with pytest.raises(bootstrap.BootstrapError, match="prefixes of one another"):
        bootstrap.refuse_prefix_clash(PROJECT, found, "seoul")
    bootstrap.refuse_prefix_clash("study-tokyo", found, "tokyo")  # no clash: no error
    bootstrap.refuse_prefix_clash(PROJECT, {PROJECT}, "seoul")  # itself, bootstrapped before


# --- Applied on LocalStack -------------------------------------------------------------------


def _client(service: str, endpoint: str) -> Any:
    return aws.client(service, REGION, endpoint)


@pytest.fixture(scope="module")
def applied(
    localstack_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """make bootstrap's own rehearsal pieces: its roots (path-style S3, REPO with the rehearsal
    IDs, no budget), its child environment (dummy keys, none of the operator's AWS settings),
    its teardown."""
    root = bootstrap._rehearsal_roots(tmp_path_factory.mktemp("bootstrap"), REPO)
    env = {
        **bootstrap.rehearsal_environ(dict(os.environ), localstack_endpoint),
        "AWS_REGION": REGION,
    }
    lines: list[str] = []
    try:
        result = bootstrap.run(environ=env, bootstrap_dir=root, bucket=STATE_BUCKET,
                               create_budget=False, log=lines.append)  # fmt: skip
        yield {"result": result, "lines": lines, "endpoint": localstack_endpoint, "env": env,
               "root": root}  # fmt: skip
    finally:
        bootstrap._teardown(root, REPO, STATE_BUCKET, env)


def _roles(applied: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Role variable => {arn, trust} read back from IAM."""
    iam = _client("iam", applied["endpoint"])
    out = {}
    for var, arn in applied["result"].variables.items():
        if var.endswith("_ROLE_ARN"):
            role = iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]
            trust = role["AssumeRolePolicyDocument"]
            out[var] = {"arn": arn, "trust": json.loads(trust) if isinstance(trust, str) else trust}
    return out


@pytest.mark.e2e
def test_bootstrap_applies_and_prints_the_repository_variables(applied: dict[str, Any]) -> None:
    variables = applied["result"].variables
    assert set(variables) == bootstrap_provided_variables()  # region and state key: not read
    assert variables["TF_STATE_BUCKET"] == STATE_BUCKET
    printed = [line for line in applied["lines"] if line.startswith("  gh variable set ")]
    assert printed == [
        f"  gh variable set {name} --body '{value}' -R {REPO}" for name, value in variables.items()
    ]
    s3 = _client("s3", applied["endpoint"])
    assert s3.get_bucket_versioning(Bucket=STATE_BUCKET)["Status"] == "Enabled"
    iam = _client("iam", applied["endpoint"])
    providers = iam.list_open_id_connect_providers()
    assert any(
        p["Arn"].endswith("/token.actions.githubusercontent.com")
        for p in providers["OpenIDConnectProviderList"]
    )
    # the instance roles are the bootstrap's, in the stack's own IAM path
    for tier in ("web", "db"):
        profile = iam.get_instance_profile(InstanceProfileName=f"{PROJECT}-{tier}")
        profile = profile["InstanceProfile"]
        assert profile["Path"] == f"/gitops/{PROJECT}/"
        assert [r["RoleName"] for r in profile["Roles"]] == [f"{PROJECT}-{tier}"]
    assert bootstrap.recorded_variables(environments.load()["seoul"], applied["root"]) == {
        k: v for k, v in variables.items()
    }
    # the state key holds an empty state, so the roles' first plan and deploy find one
    where = f"s3://{STATE_BUCKET}/{STATE_KEY}"
    assert (
        f"bootstrap: envs/seoul state {where}: an empty state written (never deployed)"
        in (applied["lines"])
    )
    seeded = json.loads(s3.get_object(Bucket=STATE_BUCKET, Key=STATE_KEY)["Body"].read())
    assert seeded["resources"] == [] and seeded["lineage"]
    # run twice: idempotent, nothing new
    lines: list[str] = []
    again = bootstrap.run(environ=applied["env"], bootstrap_dir=applied["root"],
                          bucket=STATE_BUCKET, create_budget=False, log=lines.append)  # fmt: skip
    assert again.variables == variables
    assert f"bootstrap: envs/seoul state {where}: a state is there, kept" in lines
    assert json.loads(s3.get_object(Bucket=STATE_BUCKET, Key=STATE_KEY)["Body"].read()) == seeded


@pytest.mark.e2e
def test_a_second_bootstrap_keeps_tags_added_by_hand_and_says_it_changed_nothing(
    applied: dict[str, Any],
) -> None:
    """An owner tags what the bootstrap made (a cost centre, an organisation's tag policy);
    `make bootstrap` runs again (a new environment, a changed budget) and takes none of it off,
    and each step says what it changed: here nothing."""
    s3, iam = _client("s3", applied["endpoint"]), _client("iam", applied["endpoint"])
    ours = {"Key": "CostCenter", "Value": "42"}
    tags = s3.get_bucket_tagging(Bucket=STATE_BUCKET)["TagSet"]
    s3.put_bucket_tagging(Bucket=STATE_BUCKET, Tagging={"TagSet": [*tags, ours]})
    roles = [arn.rsplit("/", 1)[1] for var, arn in applied["result"].variables.items()
             if var.endswith("_ROLE_ARN")] + [f"{PROJECT}-web", f"{PROJECT}-db"]  # fmt: skip
    for role in roles:
        iam.tag_role(RoleName=role, Tags=[ours])
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    (provider,) = [p["Arn"] for p in providers if p["Arn"].endswith(bootstrap.OIDC_URL_SUFFIX)]
    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=provider, Tags=[ours])

    lines: list[str] = []
    bootstrap.run(environ=applied["env"], bootstrap_dir=applied["root"], bucket=STATE_BUCKET,
                  create_budget=False, log=lines.append)  # fmt: skip

    assert ours in s3.get_bucket_tagging(Bucket=STATE_BUCKET)["TagSet"]
    for role in roles:
        assert ours in iam.list_role_tags(RoleName=role)["Tags"], role
    assert ours in iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=provider)["Tags"]
    steps = [line for line in lines if line.endswith("destroyed)")]
    assert len(steps) == 3, lines  # the bucket, the account, the environment's roles
    assert all("(0 added, 0 changed, 0 destroyed)" in line for line in steps), steps


@pytest.mark.e2e
def test_the_state_bucket_is_versioned_encrypted_private_and_tls_only(
    applied: dict[str, Any],
) -> None:
    """bootstrap/state-bucket as the bootstrap applied it, each setting read back from S3; and
    Terraform refuses to destroy it (prevent_destroy)."""
    s3 = _client("s3", applied["endpoint"])
    assert s3.get_bucket_versioning(Bucket=STATE_BUCKET)["Status"] == "Enabled"
    encryption = s3.get_bucket_encryption(Bucket=STATE_BUCKET)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    block = s3.get_public_access_block(Bucket=STATE_BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                  "RestrictPublicBuckets"))  # fmt: skip
    deny = json.loads(s3.get_bucket_policy(Bucket=STATE_BUCKET)["Policy"])["Statement"][0]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    controls = s3.get_bucket_ownership_controls(Bucket=STATE_BUCKET)["OwnershipControls"]
    assert controls["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"

    refused = terraform(
        applied["root"] / bootstrap.BUCKET_ROOT, "destroy", "-auto-approve", "-no-color",
        "-input=false", f"-var=bucket_name={STATE_BUCKET}", f"-var=aws_region={REGION}",
        env=applied["env"],
    )  # fmt: skip
    assert refused.returncode == 1
    assert "prevent_destroy" in refused.stderr
    assert s3.head_bucket(Bucket=STATE_BUCKET)  # still there


@pytest.mark.e2e
def test_every_workflow_subject_is_trusted_by_exactly_its_role(applied: dict[str, Any]) -> None:
    trusted = {}
    for var, role in _roles(applied).items():
        subs: set[str] = set()
        for st in _statements([role["trust"]]):
            assert _list(st["Action"]) == ["sts:AssumeRoleWithWebIdentity"]
            cond = st["Condition"]["StringEquals"]
            assert cond["token.actions.githubusercontent.com:aud"] in (
                "sts.amazonaws.com",
                ["sts.amazonaws.com"],
            )
            subs |= set(_list(cond["token.actions.githubusercontent.com:sub"]))
            assert "StringLike" not in st["Condition"], "no wildcard subjects"
        trusted[var] = subs
    assert trust_mismatches(workflow_subjects(), trusted, SUBJECT_PREFIX) == []


@pytest.mark.e2e
def test_roles_last_as_long_as_the_jobs_ask(applied: dict[str, Any]) -> None:
    """STS refuses a role-duration-seconds above the role's MaxSessionDuration."""
    doc = yaml.safe_load((WORKFLOWS / "terraform.yml").read_text(encoding="utf-8"))
    asked = {
        name: max(
            int((s.get("with") or {}).get("role-duration-seconds", 3600))
            for s in job["steps"]
            if "configure-aws-credentials" in s.get("uses", "")
        )
        for name, job in doc["jobs"].items()
    }
    iam = _client("iam", applied["endpoint"])
    variables = applied["result"].variables
    longest = {
        var: iam.get_role(RoleName=variables[var].rsplit("/", 1)[1])["Role"]["MaxSessionDuration"]
        for var in ("AWS_PLAN_ROLE_ARN", "AWS_APPLY_ROLE_ARN", "AWS_DESTROY_ROLE_ARN")
    }
    # the apply job assumes the apply role (reviewed apply, manual destroy) or the destroy role
    assert asked["apply"] <= longest["AWS_APPLY_ROLE_ARN"], (asked, longest)
    assert asked["apply"] <= longest["AWS_DESTROY_ROLE_ARN"], (asked, longest)
    assert max(asked["plan"], asked["smoke"]) <= longest["AWS_PLAN_ROLE_ARN"], (asked, longest)


# --- checkov's IAM checks over the rendered policies -----------------------------------------

IAM_CHECKS = [
    "CKV_AWS_1",
    "CKV_AWS_62",
    "CKV_AWS_63",
    "CKV_AWS_107",
    "CKV_AWS_108",
    "CKV_AWS_109",
    "CKV_AWS_110",
    "CKV_AWS_111",
    "CKV_AWS_286",
    "CKV_AWS_287",
    "CKV_AWS_288",
    "CKV_AWS_289",
    "CKV_AWS_290",
    "CKV_AWS_355",
    "CKV2_AWS_40",
]
# What checkov flags on purpose: the Session Manager agent's calls on the web role, on "*" as
# AWS's own minimal instance policy for Session Manager grants them (the ssmmessages channels
# name no resource; the agent registers its own instance), instead of AmazonSSMManagedInstanceCore
# with its account-wide ssm:GetParameter (ATTACKS class `parameters`).
ACCEPTED = {("instance-web", "CKV_AWS_290"), ("instance-web", "CKV_AWS_355")}
ESCALATION = {
    "CKV_AWS_1",
    "CKV_AWS_62",
    "CKV_AWS_63",
    "CKV_AWS_107",
    "CKV_AWS_110",
    "CKV_AWS_286",
    "CKV_AWS_109",
    "CKV_AWS_287",
    "CKV_AWS_108",
    "CKV_AWS_288",
    "CKV_AWS_289",
}


def pre_commit_checkov() -> Path | None:
    """The checkov that pre-commit installed for the repository's checkov hook (same pin)."""
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())
    hook = next(h for r in config["repos"] for h in r["hooks"] if h["id"] == "checkov")
    home = Path(
        os.environ.get("PRE_COMMIT_HOME")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pre-commit"
    )
    if not (home / "db.db").exists():
        return None
    key = "local:" + ",".join(hook["additional_dependencies"])
    with sqlite3.connect(home / "db.db") as db:
        rows = db.execute("SELECT path FROM repos WHERE repo = ?", (key,)).fetchall()
    for (path,) in rows:
        for exe in sorted(Path(path).glob("py_env-*/bin/checkov")):
            return exe
    return None


@pytest.mark.slow  # checkov from pre-commit's hook environment (make hooks)
def test_checkov_iam_checks_pass_on_the_rendered_policies(
    policies: dict[str, str], tmp_path: Path
) -> None:
    checkov = pre_commit_checkov()
    if checkov is None:
        if os.environ.get("CI"):
            pytest.fail("checkov is not installed: run `make lint` first (pre-commit installs it)")
        pytest.skip("checkov not installed yet: `make lint` (pre-commit) installs it")
    # checkov reads policies from HCL (not .tf.json): one resource per rendered document.
    blocks = [
        f'resource "aws_iam_policy" "{n.replace("-", "_")}" {{\n  name   = "{n}"\n'
        f"  policy = <<POLICY\n{p}\nPOLICY\n}}\n"
        for n, p in policies.items()
    ]
    (tmp_path / "rendered.tf").write_text("\n".join(blocks), encoding="utf-8")
    proc = subprocess.run(
        [
            str(checkov),
            "-d",
            str(tmp_path),
            "--framework",
            "terraform",
            "--check",
            ",".join(IAM_CHECKS),
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    report = json.loads(proc.stdout)
    assert "results" in report, (
        f"checkov parsed nothing:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}"
    )
    failed = {
        (c["resource"].split(".")[1].replace("_", "-"), c["check_id"])
        for c in report["results"]["failed_checks"]
    }
    passed = {
        (c["resource"].split(".")[1].replace("_", "-"), c["check_id"])
        for c in report["results"]["passed_checks"]
    }
    assert passed, "checkov evaluated nothing"
    assert not {f for f in failed if f[1] in ESCALATION}, failed
    assert failed <= ACCEPTED, failed - ACCEPTED
