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
from gitops import environments
from gitops.terraform import bootstrap

from tests.tf_sandbox import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
REPO = "octo-org/gitops-seoul"
OWNER_ID, REPO_ID = 1234567, 89012345
SUBJECT_PREFIX = f"repo:octo-org@{OWNER_ID}/gitops-seoul@{REPO_ID}"
PROJECT = "study-seoul"
REGION = "ap-northeast-2"
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


def _environ(endpoint: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TF_VAR_", "TF_CLI_ARGS", "CI", "GITHUB_"))
    }
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_REGION=REGION,
    )
    return env


def _client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def applied(
    localstack_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("bootstrap") / "bootstrap"
    shutil.copytree(
        REPO_ROOT / "bootstrap",
        root,
        ignore=shutil.ignore_patterns(
            ".terraform", "*.tfstate", "*.tfstate.*", bootstrap.GITHUB_VARS_FILE
        ),
    )
    for sub in ("state-bucket", "github-oidc"):  # LocalStack's S3 answers path-style only
        (root / sub / "localstack_override.tf").write_text(
            'provider "aws" {\n  s3_use_path_style = true\n}\n', encoding="utf-8"
        )
    (root / "github-oidc" / bootstrap.GITHUB_VARS_FILE).write_text(
        json.dumps(
            {"repository": REPO, "github_owner_id": OWNER_ID, "github_repository_id": REPO_ID}
        )
    )
    env = _environ(localstack_endpoint)
    lines: list[str] = []
    result = bootstrap.run(
        environ=env,
        region=REGION,
        bootstrap_dir=root,
        bucket="tfstate-bootstrap-test",
        log=lines.append,
    )
    try:
        yield {"result": result, "lines": lines, "endpoint": localstack_endpoint, "root": root}
    finally:
        bootstrap.terraform(
            root / "github-oidc",
            "destroy",
            "-auto-approve",
            "-no-color",
            f"-var=repository={REPO}",
            "-var=state_bucket=tfstate-bootstrap-test",
            f"-var=aws_region={REGION}",
            environ=env,
        )
        s3 = _client("s3", localstack_endpoint)
        for v in s3.list_object_versions(Bucket="tfstate-bootstrap-test").get("Versions", []):
            s3.delete_object(
                Bucket="tfstate-bootstrap-test", Key=v["Key"], VersionId=v["VersionId"]
            )
        s3.delete_bucket(Bucket="tfstate-bootstrap-test")  # prevent_destroy: Terraform refuses


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
    assert set(variables) >= {
        "AWS_PLAN_ROLE_ARN",
        "AWS_APPLY_ROLE_ARN",
        "AWS_DESTROY_ROLE_ARN",
        "TF_STATE_BUCKET",
        "TF_STATE_KEY",
        "AWS_REGION",
    }
    assert variables["TF_STATE_BUCKET"] == "tfstate-bootstrap-test"
    assert variables["TF_STATE_KEY"] == "seoul/terraform.tfstate"
    for name, value in variables.items():
        assert f"  gh variable set {name} --body '{value}' -R {REPO}" in applied["lines"]
    s3 = _client("s3", applied["endpoint"])
    assert s3.get_bucket_versioning(Bucket="tfstate-bootstrap-test")["Status"] == "Enabled"
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
            assert st["Condition"]["StringEquals"]["iam:PassedToService"] in (
                "ec2.amazonaws.com",
                ["ec2.amazonaws.com"],
            )
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
    applied: dict[str, Any], tmp_path: Path
) -> None:
    checkov = pre_commit_checkov()
    if checkov is None:
        if os.environ.get("CI"):
            pytest.fail("checkov is not installed: run `make lint` first (pre-commit installs it)")
        pytest.skip("checkov not installed yet: `make lint` (pre-commit) installs it")
    out = bootstrap.terraform(
        applied["root"] / "github-oidc",
        "output",
        "-json",
        "policies",
        environ=_environ(applied["endpoint"]),
    )
    policies = json.loads(out)
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
    env = _environ(applied["endpoint"])
    args = [
        "-auto-approve",
        "-no-color",
        f"-var=repository={REPO}",
        "-var=subject_format=name",
        "-var=project_name=study-other",
        "-var=state_bucket=tfstate-bootstrap-test",
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
