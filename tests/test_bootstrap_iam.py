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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from gitops import aws, environments
from gitops.terraform import bootstrap

from tests.tf_sandbox import REPO_ROOT

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
    wanted = bootstrap_provided_variables()
    assert {"TF_STATE_BUCKET", "AWS_PLAN_ROLE_ARN"} <= wanted
    assert not wanted & {"TF_STATE_KEY", "AWS_REGION"}  # envs/<name>/environment.toml's now
    stack = environments.load()[bootstrap.STACK]
    assert set(bootstrap.workflow_variables(stack)) == wanted
    outputs = dict.fromkeys([*wanted, "TF_STATE_KEY", "AWS_REGION"], "x")
    assert set(bootstrap.select_variables(outputs, bootstrap.workflow_variables(stack))) == wanted
    with pytest.raises(bootstrap.BootstrapError, match="TF_STATE_BUCKET"):
        bootstrap.select_variables({}, ["TF_STATE_BUCKET"])


def trust_mismatches(
    needed: set[tuple[str, str]], trusted: dict[str, set[str]], prefix: str
) -> list[str]:
    """Problems, empty when each needed sub is trusted by its role only and nothing else is."""
    problems = []
    for context, role in sorted(needed):
        sub = f"{prefix}:{context}"
        holders = sorted(r for r, subs in trusted.items() if sub in subs)
        if holders != [role]:
            problems.append(f"{sub}: the workflows need {role}, trusted by {holders or 'none'}")
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
    trusted = {
        "AWS_PLAN_ROLE_ARN": {f"p:{c}" for c in ("pull_request", "ref:refs/heads/main")},
        "AWS_APPLY_ROLE_ARN": {"p:environment:seoul"},
        "AWS_DESTROY_ROLE_ARN": {"p:environment:seoul-nightly"},
    }
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


# --- Applied on LocalStack -------------------------------------------------------------------


def _client(service: str, endpoint: str) -> Any:
    return aws.client(service, REGION, endpoint)


@pytest.fixture(scope="module")
def applied(
    localstack_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """make bootstrap's own rehearsal pieces: its roots (path-style S3, REPO with the rehearsal
    IDs), its child environment (dummy keys, none of the operator's AWS settings), its teardown."""
    root = bootstrap._rehearsal_roots(tmp_path_factory.mktemp("bootstrap"), REPO)
    env = {
        **bootstrap.rehearsal_environ(dict(os.environ), localstack_endpoint),
        "AWS_REGION": REGION,
    }
    lines: list[str] = []
    result = bootstrap.run(
        environ=env,
        region=REGION,
        bootstrap_dir=root,
        bucket=STATE_BUCKET,
        log=lines.append,
    )
    try:
        yield {
            "result": result,
            "lines": lines,
            "endpoint": localstack_endpoint,
            "env": env,
            "root": root,
        }
    finally:
        bootstrap._teardown(root, REPO, REGION, STATE_BUCKET, env)


@pytest.fixture(scope="module")
def policies(applied: dict[str, Any]) -> dict[str, str]:
    """Name => rendered policy document (JSON), the applied root's policies output, read once."""
    out = bootstrap.terraform(
        applied["root"] / "github-oidc",
        "output",
        "-json",
        "policies",
        environ=applied["env"],
    )
    return dict(json.loads(out))


def _roles(applied: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Role variable => {arn, trust, policies: [documents]} read back from IAM."""
    iam = _client("iam", applied["endpoint"])
    out = {}
    for var, arn in applied["result"].variables.items():
        if not var.endswith("_ROLE_ARN"):
            continue
        name = arn.rsplit("/", 1)[1]
        role = iam.get_role(RoleName=name)["Role"]
        trust = role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        docs = []
        for att in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            pol = iam.get_policy(PolicyArn=att["PolicyArn"])["Policy"]
            doc = iam.get_policy_version(
                PolicyArn=att["PolicyArn"], VersionId=pol["DefaultVersionId"]
            )
            doc = doc["PolicyVersion"]["Document"]
            docs.append(json.loads(doc) if isinstance(doc, str) else doc)
        out[var] = {"arn": arn, "trust": trust, "policies": docs}
    return out


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
    providers = _client("iam", applied["endpoint"]).list_open_id_connect_providers()
    assert any(
        p["Arn"].endswith("/token.actions.githubusercontent.com")
        for p in providers["OpenIDConnectProviderList"]
    )


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
def test_escalation_paths_are_closed(applied: dict[str, Any]) -> None:
    roles = _roles(applied)
    account = roles["AWS_PLAN_ROLE_ARN"]["arn"].split(":")[4]
    stack_roles = f"arn:aws:iam::{account}:role/{PROJECT}-*"
    boundary = f"arn:aws:iam::{account}:policy/{PROJECT}-instance-boundary"
    for var, role in roles.items():
        docs = role["policies"]
        for doc in docs:
            size = len(json.dumps(doc, separators=(",", ":")))
            assert size <= MANAGED_POLICY_MAX, f"{var}: a policy of {size} characters"
        for st in _statements(docs):
            for action in _list(st["Action"]):
                assert action.lower() not in (
                    "*",
                    "ec2:*",
                    "rds:*",
                    "secretsmanager:*",
                    "iam:*",
                    "ssm:*",
                    "s3:*",
                ), (var, action)
        for st in _allows(docs, "iam:PassRole"):
            assert _list(st["Resource"]) == [stack_roles], (var, st)
            # to EC2, or (AddRoleToInstanceProfile's check) to no service at all
            to_ec2 = st["Condition"].get("StringEquals", {}).get("iam:PassedToService")
            to_none = st["Condition"].get("Null", {}).get("iam:PassedToService")
            assert to_ec2 in ("ec2.amazonaws.com", ["ec2.amazonaws.com"]) or to_none in (
                "true",
                ["true"],
            ), (var, st)
        for action in (
            "iam:CreateRole",
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:PutRolePermissionsBoundary",
        ):
            for st in _allows(docs, action):
                assert st["Condition"]["StringEquals"]["iam:PermissionsBoundary"] in (
                    boundary,
                    [boundary],
                ), (var, action)
        for st in _allows(docs, "secretsmanager:GetSecretValue"):
            assert "*" not in _list(st["Resource"]), (var, st)
            assert all(r.endswith(f":secret:{PROJECT}-*") for r in _list(st["Resource"])), (var, st)
        for st in _allows(docs, "ssm:GetParameter"):
            assert _list(st["Resource"]) == [f"arn:aws:ssm:{REGION}::parameter/aws/service/*"], (
                var,
                st,
            )
            assert st["Condition"]["StringEquals"]["aws:RequestedRegion"] in (REGION, [REGION])
        denies = _statements(docs, "Deny")
        user_data = [s for s in denies if "ec2:DescribeInstanceAttribute" in _list(s["Action"])]
        assert user_data and user_data[0]["Condition"]["StringNotEquals"][
            "aws:ResourceTag/Project"
        ] in (PROJECT, [PROJECT])
        if _allows(docs, "iam:CreateRole") or _allows(docs, "iam:DeleteRole"):
            assert any("iam:DeleteRolePermissionsBoundary" in _list(s["Action"]) for s in denies), (
                var
            )

    plan = roles["AWS_PLAN_ROLE_ARN"]["policies"]
    for st in _statements(plan):
        for action in _list(st["Action"]):
            verb = action.split(":", 1)[1]
            assert verb.startswith(("Describe", "Get", "List")), f"plan role may {action}"
    assert not _allows(plan, "secretsmanager:GetSecretValue")

    destroy = roles["AWS_DESTROY_ROLE_ARN"]["policies"]
    for action in (
        "ec2:RunInstances",
        "ec2:CreateVpc",
        "rds:CreateDBInstance",
        "iam:CreateRole",
        "iam:PassRole",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
    ):
        assert not _allows(destroy, action), f"destroy role may {action}"


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
# What checkov flags on purpose (skipped inline in bootstrap/github-oidc/policies.tf and
# explained in docs/SECURITY.md): the boundary's SSM agent calls, which take no resource ARN.
ACCEPTED = {
    ("instance-boundary", "CKV_AWS_290"),  # write without constraints: the SSM agent's calls
    ("instance-boundary", "CKV_AWS_355"),  # "*" resource: the same calls take no ARN
}
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


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_an_existing_oidc_provider_is_reused_not_duplicated(
    applied: dict[str, Any], tmp_path: Path
) -> None:
    """A second stack in the same account trusts the provider the first one made."""
    iam = _client("iam", applied["endpoint"])
    before = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    (existing,) = [p["Arn"] for p in before if p["Arn"].endswith(bootstrap.OIDC_URL_SUFFIX)]
    root = tmp_path / "github-oidc"
    shutil.copytree(
        applied["root"] / "github-oidc",
        root,
        ignore=shutil.ignore_patterns(
            ".terraform", "*.tfstate", "*.tfstate.*", bootstrap.GITHUB_VARS_FILE
        ),
    )
    env = applied["env"]
    args = [
        "-auto-approve",
        "-no-color",
        f"-var=repository={REPO}",
        "-var=subject_format=name",
        "-var=project_name=study-other",
        f"-var=state_bucket={STATE_BUCKET}",
        f"-var=aws_region={REGION}",
        f"-var=oidc_provider_arn={existing}",
    ]
    bootstrap.terraform(root, "init", "-input=false", "-no-color", environ=env)
    try:
        bootstrap.terraform(root, "apply", *args, environ=env)
        after = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        assert sorted(p["Arn"] for p in after) == sorted(p["Arn"] for p in before)
        trust = iam.get_role(RoleName="gha-study-other-plan")["Role"]["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        assert trust["Statement"][0]["Principal"]["Federated"] == existing
        subs = trust["Statement"][0]["Condition"]["StringEquals"][
            "token.actions.githubusercontent.com:sub"
        ]
        assert f"repo:{REPO}:pull_request" in subs  # the name format, as asked
    finally:
        bootstrap.terraform(root, "destroy", *args, environ=env)


# --- The calls the stack makes, evaluated against the rendered policies ------------------------
# Each row is one authorization AWS makes for a call of the stack's provider or scripts: the
# action, the resource it is checked against (Service Authorization Reference: one check per
# resource type the call names) and the condition keys present for that resource. A key absent
# from a row is absent from the request: aws:RequestTag is a key of the resource being created
# only, so the VPC a subnet is created in, the option group of a DB instance or the AMI of an
# instance are checked without it.

ACCOUNT = "000000000000"  # LocalStack's account
EC2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
RDS = f"arn:aws:rds:{REGION}:{ACCOUNT}"
LOGS = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/rds/instance/{PROJECT}-db/error"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{PROJECT}-db-20261126-AbCdEf"
RDS_SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!db-0a1b2c3d-4e5f-AbCdEf"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{PROJECT}-web-20261126"
PROFILE = f"arn:aws:iam::{ACCOUNT}:instance-profile/{PROJECT}-web-20261126"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/{PROJECT}-instance-boundary"
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
BUCKET = f"arn:aws:s3:::{STATE_BUCKET}"
NEW = {"aws:RequestTag/Project": PROJECT}  # created here, tagged in the request
OURS = {"aws:ResourceTag/Project": PROJECT}  # exists, carries the stack's tag
UNTAGGED: dict[str, str] = {}  # exists (or is created) without a tag


def _tag_on_create(action: str) -> dict[str, str]:
    return {**NEW, "ec2:CreateAction": action.split(":")[1]}


# (action, resource, context) the apply role must be allowed
APPLY_CALLS: list[tuple[str, str, dict[str, str]]] = [
    # modules/vpc
    ("ec2:CreateVpc", f"{EC2}:vpc/vpc-1", NEW),
    ("ec2:CreateTags", f"{EC2}:vpc/vpc-1", _tag_on_create("ec2:CreateVpc")),
    ("ec2:ModifyVpcAttribute", f"{EC2}:vpc/vpc-1", OURS),
    ("ec2:CreateTags", f"{EC2}:security-group/sg-default", NEW),  # aws_default_security_group
    ("ec2:RevokeSecurityGroupIngress", f"{EC2}:security-group/sg-default", OURS),
    ("ec2:RevokeSecurityGroupEgress", f"{EC2}:security-group/sg-default", OURS),
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
    # instances: RunInstances checks every resource it names
    ("ec2:RunInstances", f"{EC2}:instance/*", NEW),
    ("ec2:RunInstances", f"{EC2}:volume/*", UNTAGGED),  # the root volume: no volume_tags
    ("ec2:RunInstances", f"{EC2}:network-interface/*", UNTAGGED),
    ("ec2:RunInstances", f"{EC2}:subnet/subnet-1", OURS),
    ("ec2:RunInstances", f"{EC2}:security-group/sg-1", OURS),
    ("ec2:RunInstances", f"arn:aws:ec2:{REGION}::image/ami-0870825cefcaafcc8", UNTAGGED),
    ("ec2:CreateTags", f"{EC2}:instance/*", _tag_on_create("ec2:RunInstances")),
    ("iam:PassRole", ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}),
    ("ec2:ModifyInstanceMetadataOptions", f"{EC2}:instance/i-1", OURS),
    ("ec2:StopInstances", f"{EC2}:instance/i-1", OURS),
    ("ec2:ModifyInstanceAttribute", f"{EC2}:instance/i-1", OURS),
    ("ec2:StartInstances", f"{EC2}:instance/i-1", OURS),
    ("ec2:MonitorInstances", f"{EC2}:instance/i-1", OURS),  # detailed_monitoring changed
    # instance roles
    ("iam:CreateRole", ROLE, {"iam:PermissionsBoundary": BOUNDARY, **NEW}),
    ("iam:TagRole", ROLE, {"iam:PermissionsBoundary": BOUNDARY, **NEW}),
    ("iam:PutRolePolicy", ROLE, {"iam:PermissionsBoundary": BOUNDARY}),
    (
        "iam:AttachRolePolicy",
        ROLE,
        {"iam:PermissionsBoundary": BOUNDARY, "iam:PolicyARN": SSM_CORE},
    ),
    ("iam:CreateInstanceProfile", PROFILE, NEW),
    ("iam:TagInstanceProfile", PROFILE, NEW),
    ("iam:AddRoleToInstanceProfile", PROFILE, UNTAGGED),
    ("iam:PassRole", ROLE, UNTAGGED),  # AddRoleToInstanceProfile's dependent action
    ("iam:GetRole", ROLE, UNTAGGED),
    ("iam:ListRolePolicies", ROLE, UNTAGGED),
    ("iam:ListAttachedRolePolicies", ROLE, UNTAGGED),
    ("iam:GetInstanceProfile", PROFILE, UNTAGGED),
    ("iam:RemoveRoleFromInstanceProfile", PROFILE, UNTAGGED),
    ("iam:DeleteInstanceProfile", PROFILE, UNTAGGED),
    ("iam:ListInstanceProfilesForRole", ROLE, UNTAGGED),
    (
        "iam:DetachRolePolicy",
        ROLE,
        {"iam:PermissionsBoundary": BOUNDARY, "iam:PolicyARN": SSM_CORE},
    ),
    ("iam:DeleteRolePolicy", ROLE, {"iam:PermissionsBoundary": BOUNDARY}),
    ("iam:DeleteRole", ROLE, UNTAGGED),
    # modules/db, rds mode
    ("rds:CreateDBSubnetGroup", f"{RDS}:subgrp:{PROJECT}-db-1", NEW),
    ("rds:CreateDBParameterGroup", f"{RDS}:pg:{PROJECT}-db-1", NEW),
    ("rds:AddTagsToResource", f"{RDS}:pg:{PROJECT}-db-1", NEW),
    ("rds:ModifyDBParameterGroup", f"{RDS}:pg:{PROJECT}-db-1", OURS),
    ("rds:CreateDBInstance", f"{RDS}:db:{PROJECT}-db", NEW),
    ("rds:CreateDBInstance", f"{RDS}:og:default:mysql-8-4", UNTAGGED),
    ("rds:CreateDBInstance", f"{RDS}:pg:{PROJECT}-db-1", OURS),
    ("rds:CreateDBInstance", f"{RDS}:subgrp:{PROJECT}-db-1", OURS),
    ("rds:AddTagsToResource", f"{RDS}:db:{PROJECT}-db", NEW),
    ("secretsmanager:CreateSecret", RDS_SECRET, UNTAGGED),  # manage_master_user_password
    ("secretsmanager:TagResource", RDS_SECRET, UNTAGGED),
    ("kms:DescribeKey", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k-1", UNTAGGED),
    ("rds:ModifyDBInstance", f"{RDS}:db:{PROJECT}-db", OURS),
    ("rds:ModifyDBInstance", f"{RDS}:pg:{PROJECT}-db-2", OURS),
    ("rds:DeleteDBInstance", f"{RDS}:db:{PROJECT}-db", OURS),
    ("logs:CreateLogGroup", LOGS, NEW),
    ("logs:TagResource", LOGS, NEW),
    ("logs:PutRetentionPolicy", LOGS, UNTAGGED),
    ("logs:ListTagsForResource", LOGS, UNTAGGED),
    ("logs:DeleteLogGroup", LOGS, UNTAGGED),
    # modules/db, ec2 mode: the stack's own secret, an ephemeral random password
    ("secretsmanager:GetRandomPassword", "*", UNTAGGED),
    ("secretsmanager:CreateSecret", SECRET, NEW),
    ("secretsmanager:TagResource", SECRET, NEW),
    ("secretsmanager:PutSecretValue", SECRET, UNTAGGED),
    ("secretsmanager:DescribeSecret", SECRET, UNTAGGED),
    ("secretsmanager:GetResourcePolicy", SECRET, UNTAGGED),
    ("secretsmanager:DeleteSecret", SECRET, UNTAGGED),
]

# What every role reads: a refresh, the drift check, the smoke job (envs/seoul, scripts/smoke.py).
READ_CALLS: list[tuple[str, str, dict[str, str]]] = [
    ("s3:ListBucket", BUCKET, UNTAGGED),
    ("s3:GetObject", f"{BUCKET}/seoul/terraform.tfstate", UNTAGGED),
    (
        "ssm:GetParameter",
        f"arn:aws:ssm:{REGION}::parameter/aws/service/ami-amazon-linux-latest/x",
        {},
    ),
    ("ec2:DescribeInstances", "*", UNTAGGED),
    ("ec2:DescribeSecurityGroups", "*", UNTAGGED),
    ("ec2:DescribeRouteTables", "*", UNTAGGED),
    ("ec2:DescribeInstanceAttribute", f"{EC2}:instance/i-1", OURS),
    ("rds:DescribeDBInstances", "*", UNTAGGED),
    ("logs:DescribeLogGroups", "*", UNTAGGED),
]

STATE_WRITES: list[tuple[str, str, dict[str, str]]] = [
    ("s3:PutObject", f"{BUCKET}/seoul/terraform.tfstate", UNTAGGED),
    ("s3:PutObject", f"{BUCKET}/seoul/terraform.tfstate.tflock", UNTAGGED),
    ("s3:DeleteObject", f"{BUCKET}/seoul/terraform.tfstate.tflock", UNTAGGED),
]

DESTROY_CALLS: list[tuple[str, str, dict[str, str]]] = [
    ("ec2:TerminateInstances", f"{EC2}:instance/i-1", OURS),
    ("ec2:DeleteSecurityGroup", f"{EC2}:security-group/sg-1", OURS),
    ("ec2:DisassociateRouteTable", f"{EC2}:route-table/rtb-1", OURS),
    ("ec2:DetachInternetGateway", f"{EC2}:internet-gateway/igw-1", OURS),
    ("ec2:DetachInternetGateway", f"{EC2}:vpc/vpc-1", OURS),
    ("ec2:DeleteVpc", f"{EC2}:vpc/vpc-1", OURS),
    ("rds:DeleteDBInstance", f"{RDS}:db:{PROJECT}-db", OURS),
    ("rds:DeleteDBSubnetGroup", f"{RDS}:subgrp:{PROJECT}-db-1", OURS),
    ("logs:DeleteLogGroup", LOGS, UNTAGGED),
    ("iam:ListInstanceProfilesForRole", ROLE, UNTAGGED),
    ("iam:RemoveRoleFromInstanceProfile", PROFILE, UNTAGGED),
    ("iam:DeleteRole", ROLE, UNTAGGED),
]

# Never allowed, whatever the caller asks: (role, action, resource, context)
ESCALATIONS: list[tuple[str, str, str, dict[str, str]]] = [
    # re-tagging another project's security group would hand it to this stack
    (
        "apply",
        "ec2:CreateTags",
        f"{EC2}:security-group/sg-other",
        {**NEW, "aws:ResourceTag/Project": "other"},
    ),
    ("apply", "iam:CreateRole", ROLE, NEW),  # no boundary
    ("apply", "iam:DeleteRolePermissionsBoundary", ROLE, {"iam:PermissionsBoundary": BOUNDARY}),
    ("apply", "iam:PassRole", ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}),
    ("apply", "rds:CreateDBInstance", f"{RDS}:db:{PROJECT}-db", UNTAGGED),
    ("apply", "ec2:RunInstances", f"{EC2}:instance/*", UNTAGGED),
    ("apply", "ec2:CreateSubnet", f"{EC2}:vpc/vpc-other", {"aws:ResourceTag/Project": "other"}),
    # a stack instance launched into another project's subnet or next to its database
    ("apply", "ec2:RunInstances", f"{EC2}:subnet/subnet-other", UNTAGGED),
    ("apply", "ec2:RunInstances", f"{EC2}:security-group/sg-other", UNTAGGED),
    ("plan", "ec2:DescribeInstanceAttribute", f"{EC2}:instance/i-other", UNTAGGED),
    ("plan", "ec2:DescribeLaunchTemplateVersions", "*", UNTAGGED),
    ("plan", "secretsmanager:GetSecretValue", SECRET, UNTAGGED),
    ("destroy", "ec2:RunInstances", f"{EC2}:instance/*", NEW),
]


def _condition_holds(op: str, key: str, wanted: Any, ctx: dict[str, str]) -> bool:
    values = [str(v) for v in _list(wanted)]
    have = ctx.get(key)
    if op == "Null":
        return (have is None) == (values == ["true"])
    if op.startswith(("StringNot", "ArnNot")):
        return have is None or not any(fnmatch.fnmatchcase(have, v) for v in values)
    if have is None:
        return False
    if op in ("StringEquals", "ArnEquals"):
        return have in values
    if op in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(have, v) for v in values)
    raise AssertionError(f"condition operator {op} is not modelled here")


def _matches(st: dict[str, Any], action: str, resource: str, ctx: dict[str, str]) -> bool:
    if not any(fnmatch.fnmatch(action.lower(), a.lower()) for a in _list(st["Action"])):
        return False
    if not any(fnmatch.fnmatchcase(resource, r) for r in _list(st["Resource"])):
        return False
    return all(
        _condition_holds(op, key, wanted, ctx)
        for op, keys in st.get("Condition", {}).items()
        for key, wanted in keys.items()
    )


def allowed(docs: list[dict[str, Any]], action: str, resource: str, ctx: dict[str, str]) -> bool:
    """IAM's identity-policy evaluation for one authorization: an explicit deny wins, else an
    allow is needed (the region condition always holds: every row is in REGION)."""
    ctx = {"aws:RequestedRegion": REGION, **ctx}
    if any(_matches(st, action, resource, ctx) for st in _statements(docs, "Deny")):
        return False
    return any(_matches(st, action, resource, ctx) for st in _statements(docs))


@pytest.fixture(scope="module")
def rendered(policies: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Role => its rendered policy documents (and the boundary), from the applied root."""
    docs = {name: json.loads(doc) for name, doc in policies.items()}
    return {
        "plan": [docs["read"], docs["state-read"]],
        "apply": [docs[n] for n in ("read", "state-write", "network", "data", "iam")],
        "destroy": [docs[n] for n in ("read", "state-write", "destroy")],
        "boundary": [docs["instance-boundary"]],
    }


@pytest.mark.e2e
def test_every_call_of_the_stack_is_allowed(rendered: dict[str, list[dict[str, Any]]]) -> None:
    wanted = {
        "plan": READ_CALLS,
        "apply": APPLY_CALLS + READ_CALLS + STATE_WRITES,
        "destroy": DESTROY_CALLS + READ_CALLS + STATE_WRITES,
    }
    denied = [
        f"{role}: {action} on {resource} with {ctx}"
        for role, calls in wanted.items()
        for action, resource, ctx in calls
        if not allowed(rendered[role], action, resource, ctx)
    ]
    assert denied == [], "\n".join(denied)


@pytest.mark.e2e
def test_no_escalation_path_is_allowed(rendered: dict[str, list[dict[str, Any]]]) -> None:
    granted = [
        f"{role}: {action} on {resource} with {ctx}"
        for role, action, resource, ctx in ESCALATIONS
        if allowed(rendered[role], action, resource, ctx)
    ]
    assert granted == [], "\n".join(granted)


@pytest.mark.e2e
def test_the_boundary_lets_an_instance_read_only_its_own_database_secret(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    boundary = rendered["boundary"]
    ours = {"aws:ResourceTag/aws:rds:primaryDBInstanceArn": f"{RDS}:db:{PROJECT}-db"}
    theirs = {"aws:ResourceTag/aws:rds:primaryDBInstanceArn": f"{RDS}:db:payroll"}
    assert allowed(boundary, "secretsmanager:GetSecretValue", RDS_SECRET, ours)
    assert allowed(boundary, "secretsmanager:GetSecretValue", SECRET, UNTAGGED)
    assert not allowed(boundary, "secretsmanager:GetSecretValue", RDS_SECRET, theirs)
    assert not allowed(boundary, "secretsmanager:GetSecretValue", RDS_SECRET, UNTAGGED)


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
