"""Adding an environment is a folder: copy envs/seoul to envs/tokyo in a copy of the repository,
change its region and its description, and every consumer takes it up with nothing else edited:
the scripts, the Makefile, the preview, and the workflows (whose matrix steps, run as written,
include it).

Each step runs the copy's own commands (what a workflow step or a person runs there), so the
copy's envs/ is what they read.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
import yaml
from gitops import environments
from gitops.environments import DESTROY_WORKFLOW, scheduled_firing
from gitops.github import api
from gitops.github import setup as github_setup
from gitops.paths import REPO_ROOT
from gitops.preview import cost
from gitops.terraform import ami, ami_pin, bootstrap, iam_render
from moto import mock_aws

from tests.fake_github import FakeRepository
from tests.tf_sandbox import checkout_environ, copy_checkout

CREATE_FIXTURE = REPO_ROOT / "tests" / "fixtures" / "plans" / "create.json"
SEOUL_CRON = (
    '    - cron: "7 14 * * *" # 23:07 KST (Asia/Seoul, UTC+9): envs/seoul\'s nightly destroy\n'
)
TOKYO_CRON = '    - cron: "30 13 * * *" # 22:30 Asia/Tokyo (UTC+9): envs/tokyo\'s nightly destroy\n'


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's files (symlinks kept as symlinks), with envs/tokyo added."""
    copy = copy_checkout(tmp_path_factory.mktemp("checkout"))

    # The steps of docs/PIPELINE.md, "Add an environment": copy the folder, then edit only it.
    tokyo = copy / "envs" / "tokyo"
    shutil.copytree(copy / "envs" / "seoul", tokyo, symlinks=True)
    edit(tokyo / "terraform.tfvars", {
        '"study-seoul"': '"study-tokyo"', '"ap-northeast-2"': '"ap-northeast-1"',
    })  # fmt: skip
    edit(tokyo / "providers.tf", {'Environment = "seoul"': 'Environment = "tokyo"'})
    # `make ami ENV=tokyo`: Seoul's AMI ID names no image in Tokyo. The region's current image,
    # resolved as the command does, from moto's copy of AWS's public parameter and images.
    with mock_aws():
        dummy = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}  # moto's
        ssm, ec2 = (boto3.client(s, region_name="ap-northeast-1", **dummy) for s in ("ssm", "ec2"))
        pin = ami.resolve(ssm, ec2, "ap-northeast-1")
    tfvars = tokyo / "terraform.tfvars"
    tfvars.write_text(ami_pin.write(tfvars.read_text(encoding="utf-8"), pin, "make ami"))
    edit(tokyo / "environment.toml", {
        '"ap-northeast-2"': '"ap-northeast-1"',
        '"seoul/terraform.tfstate"': '"tokyo/terraform.tfstate"',
        'gate = "seoul"': 'gate = "tokyo"',
        '"23:07"': '"22:30"',
        '"Asia/Seoul"': '"Asia/Tokyo"',
        '"seoul-nightly"': '"tokyo-nightly"',
        '"KEEP_SEOUL_UNTIL"': '"KEEP_TOKYO_UNTIL"',
        # Roles of its own: one repository variable holds one role's ARN.
        '"AWS_PLAN_ROLE_ARN"': '"AWS_TOKYO_PLAN_ROLE_ARN"',
        '"AWS_APPLY_ROLE_ARN"': '"AWS_TOKYO_APPLY_ROLE_ARN"',
        '"AWS_DESTROY_ROLE_ARN"': '"AWS_TOKYO_DESTROY_ROLE_ARN"',
    })  # fmt: skip
    # Step 5: 22:30 in Tokyo is a UTC minute no environment used yet: its one workflow line.
    edit(copy / DESTROY_WORKFLOW, {SEOUL_CRON: SEOUL_CRON + TOKYO_CRON})
    return copy


def edit(path: Path, replacements: dict[str, str]) -> None:
    text = path.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, f"{path.name} no longer holds {old}: update this test's steps"
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def run(copy: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # The copy's own package (its scripts/gitops), ahead of this repository's editable install,
    # as `make setup` in the copy would install it.
    return subprocess.run(
        list(args), cwd=copy, env={**checkout_environ(copy), **(env or {})},
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def matrix(copy: Path, kind: str, *extra: str) -> list[dict]:
    proc = run(copy, sys.executable, "-m", "gitops", "envs", "matrix", kind, *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["include"]


def test_the_validation_accepts_the_new_environment(checkout: Path) -> None:
    proc = run(checkout, sys.executable, "-m", "gitops", "envs", "check")
    assert proc.returncode == 0, proc.stderr
    assert "ok envs/tokyo: ap-northeast-1, aws, state tokyo/terraform.tfstate, gate tokyo" in (
        proc.stdout
    )


def test_every_matrix_includes_it(checkout: Path) -> None:
    for kind in ("plan", "deploy", "nightly-destroy", "drift"):
        names = [entry["name"] for entry in matrix(checkout, kind)]
        assert "tokyo" in names and "seoul" in names, (kind, names)
    tokyo = next(e for e in matrix(checkout, "deploy") if e["name"] == "tokyo")
    assert (tokyo["region"], tokyo["state_key"], tokyo["gate"], tokyo["apply_role"]) == (
        "ap-northeast-1", "tokyo/terraform.tfstate", "tokyo", "AWS_TOKYO_APPLY_ROLE_ARN",
    )  # fmt: skip
    # 22:30 in Japan (UTC+9, no daylight saving time) is 13:30 UTC, a firing of its own.
    assert tokyo["nightly_crons"] == ["30 13 * * *"]
    due = matrix(checkout, "nightly-destroy", "--schedule", "30 13 * * *")
    assert [e["name"] for e in due] == ["tokyo"]
    crons = run(checkout, sys.executable, "-m", "gitops", "envs", "crons")
    assert crons.stdout.split() == ["30", "13", "*", "*", "*", "7", "14", "*", "*", "*"]


def workflow_steps(copy: Path, command: str) -> Iterator[tuple[str, str, dict]]:
    """(workflow, job, step) of every step of the copy's workflows whose run: starts so."""
    for path in sorted((copy / ".github" / "workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        for job_id, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                if str(step.get("run", "")).startswith(command):
                    yield path.name, job_id, step


def run_step(copy: Path, step: dict, values: dict[str, str], tmp: Path) -> dict[str, str]:
    """Run a workflow step's command in the copy as the runner would: its env variables set to
    the values the event gives, expanded in the command line; return the outputs it set."""
    env = {name: values[name] for name in step.get("env", {})}
    tokens = [re.sub(r"\$\{(\w+)\}", lambda m: env[m[1]], t) for t in shlex.split(step["run"])]
    assert tokens[0] == "gitops"  # on the runner: the copy's own package, as run() provides it
    output = tmp / "github_output"
    output.write_text("", encoding="utf-8")
    proc = run(copy, sys.executable, "-m", *tokens, env={**env, "GITHUB_OUTPUT": str(output)})
    assert proc.returncode == 0, proc.stderr
    lines = output.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines)


def test_the_workflows_pick_it_up_without_an_edit(checkout: Path, tmp_path: Path) -> None:
    """The copy's workflows are this repository's, unedited but for destroy.yml's one cron
    line (step 5); each matrix step, run as written, holds the new environment where its
    description asks for it."""
    for path in (REPO_ROOT / ".github").rglob("*.y*ml"):
        copied = checkout / path.relative_to(REPO_ROOT)
        text = copied.read_text(encoding="utf-8")
        if copied == checkout / DESTROY_WORKFLOW:
            text = text.replace(TOKYO_CRON, "", 1)
        assert text == path.read_text(encoding="utf-8"), f"{path.name} differs in the copy"
    event = {"SCHEDULE": "30 13 * * *", "ENVIRONMENT": "tokyo", "CONFIRM": "tokyo"}
    computed = {}
    for workflow, job_id, step in workflow_steps(checkout, "gitops envs"):
        for output, value in run_step(checkout, step, event, tmp_path).items():
            names = [entry["name"] for entry in json.loads(value)["include"]]
            computed[(workflow, job_id, step.get("id"), output)] = names
    assert computed == {
        ("pr.yml", "prepare", "emulated", "emulated"): ["localstack"],
        ("pr.yml", "prepare", "aws", "aws"): ["seoul", "tokyo"],
        ("deploy.yml", "environments", "matrix", "deploy"): ["seoul", "tokyo"],
        ("destroy.yml", "environments", "manual", "destroy"): ["tokyo"],
        ("destroy.yml", "environments", "nightly", "destroy"): ["tokyo"],  # 22:30 in Tokyo
        ("drift.yml", "environments", "matrix", "drift"): ["seoul", "tokyo"],
        ("watchdog.yml", "environments", "matrix", "watch"): ["seoul", "tokyo"],
    }
    # Seoul's firing destroys Seoul alone: each firing picks the environments due at it.
    nightly = next(s for _, _, s in workflow_steps(checkout, "gitops envs")
                   if s.get("id") == "nightly")  # fmt: skip
    value = run_step(checkout, nightly, {"SCHEDULE": "7 14 * * *"}, tmp_path)["destroy"]
    assert [entry["name"] for entry in json.loads(value)["include"]] == ["seoul"]
    # With the one line step 5 adds, the schedule carries every UTC time the environments need.
    destroy = yaml.safe_load((checkout / DESTROY_WORKFLOW).read_text())
    scheduled = {entry["cron"] for entry in destroy[True]["schedule"]}
    crons = run(checkout, sys.executable, "-m", "gitops", "envs", "crons").stdout.splitlines()
    assert set(crons) == scheduled == {"30 13 * * *", "7 14 * * *"}


def test_the_check_names_the_cron_line_the_schedule_lacks(checkout: Path) -> None:
    """Without step 5 no scheduled run would ever destroy Tokyo, and nobody would be told: the
    description check (make envs, the lint hook) refuses it, naming the line to add."""
    workflow = checkout / DESTROY_WORKFLOW
    with_line = workflow.read_text(encoding="utf-8")
    workflow.write_text(with_line.replace(TOKYO_CRON, ""), encoding="utf-8")
    try:
        proc = run(checkout, sys.executable, "-m", "gitops", "envs", "check")
    finally:
        workflow.write_text(with_line, encoding="utf-8")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"ERROR: {DESTROY_WORKFLOW}: no schedule fires at 13:30 UTC, when envs/tokyo's nightly "
        'destroy is due (22:30 Asia/Tokyo): add `- cron: "30 13 * * *"` under on.schedule '
        "(`gitops envs crons` lists every line the schedule needs)"
    ]


def test_the_pull_request_preview_covers_it(checkout: Path, tmp_path: Path) -> None:
    """pr.yml's preview step, run as written in the copy after a fork's pull request (no AWS
    plan ran): the new environment is in the comment, skipped with the fork's notice."""
    step = next(s for name, job, s in workflow_steps(checkout, "gitops preview")
                if (name, job) == ("pr.yml", "preview"))  # fmt: skip
    run_step(checkout, step, {"AWS_SKIPPED": "fork: no OIDC token"}, tmp_path)
    comment = (checkout / ".artifacts" / "plan-preview.md").read_text(encoding="utf-8")
    assert "### `tokyo`" in comment and "### `seoul`" in comment
    assert comment.count("fork: no OIDC token") >= 2


def test_the_preview_covers_it_with_its_regions_prices(checkout: Path, tmp_path: Path) -> None:
    """A plan that builds the stack in Tokyo is priced from the ap-northeast-1 table (not "not
    priced"), with its own nightly destroy in its own zone."""
    plans = tmp_path / "plans"
    plans.mkdir()
    shutil.copy(CREATE_FIXTURE, plans / "tokyo.json")
    proc = run(checkout, sys.executable, "-m", "gitops", "preview", "--plans", str(plans),
               "--output", str(tmp_path / "comment.md"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:3] == [
        f"localstack: failed ({plans / 'localstack.missing.txt'})",
        f"seoul: failed ({plans / 'seoul.missing.txt'})",
        f"tokyo: planned ({plans / 'tokyo.json'})",
    ]
    comment = (tmp_path / "comment.md").read_text(encoding="utf-8")
    section = comment[comment.index("### `tokyo`") :]
    assert "not priced (" not in section
    plan = json.loads(CREATE_FIXTURE.read_text(encoding="utf-8"))
    tokyo, seoul = (cost.estimate(plan, cost.PriceTable.load(cost.table_path(region))).after
                    for region in ("ap-northeast-1", "ap-northeast-2"))  # fmt: skip
    assert tokyo.hourly > 0 and tokyo.hourly != seoul.hourly  # Tokyo's own prices
    at_least = "" if tokyo.complete else "≥ "
    assert "**💰 Estimated running cost** (in ap-northeast-1; on-demand list prices" in section
    assert f"| after this change | {at_least}{cost.usd(tokyo.hourly)} |" in section, section
    assert "With the nightly destroy (22:30 JST)" in section


def test_make_targets_take_it_and_refuse_an_unknown_name(checkout: Path) -> None:
    # Accepted as an AWS environment: it gets as far as asking for the state bucket.
    plan = run(checkout, "make", "plan", "ENV=tokyo")
    assert plan.returncode != 0
    assert "gitops tf plan tokyo" in plan.stdout  # make's echo of the recipe it ran
    assert "TF_STATE_BUCKET is not set: envs/tokyo keeps its state in S3" in plan.stderr
    unlock = run(checkout, "make", "unlock", "ENV=tokyo")
    assert "the state bucket is unknown" in unlock.stderr
    unknown = run(checkout, "make", "output", "ENV=kyoto")
    assert unknown.returncode != 0
    assert "invalid choice: 'kyoto' (choose from 'localstack', 'seoul', 'tokyo')" in (
        unknown.stderr
    )
    listed = run(checkout, "make", "envs")
    assert listed.returncode == 0, listed.stderr
    assert "ok envs/tokyo" in listed.stdout


def test_a_copy_left_unedited_is_refused(checkout: Path, tmp_path: Path) -> None:
    """Copying envs/seoul and forgetting its description is caught, not deployed twice."""
    copy = tmp_path / "copy"
    shutil.copytree(checkout / "envs", copy / "envs", symlinks=True)
    shutil.copytree(checkout / "scripts", copy / "scripts")
    shutil.copytree(copy / "envs" / "seoul", copy / "envs" / "kobe", symlinks=True)
    edit(copy / "envs" / "kobe" / "terraform.tfvars", {'"ap-northeast-2"': '"ap-northeast-1"'})
    proc = run(copy, sys.executable, "-m", "gitops", "envs", "check")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "ERROR: envs/kobe: region: 'ap-northeast-2' but envs/kobe/terraform.tfvars has "
        "aws_region = 'ap-northeast-1'; they must be the same",
        "ERROR: envs/seoul: project_name: 'study-seoul' is also the project of envs/kobe (IAM "
        "names are per account)",
        "ERROR: envs/seoul: state_key: 'seoul/terraform.tfstate' is also the state key of "
        "envs/kobe",
        "ERROR: envs/seoul: gate: GitHub environment 'seoul' is already used by envs/kobe",
        "ERROR: envs/seoul: nightly_destroy.environment: GitHub environment 'seoul-nightly' is "
        "already used by envs/kobe",
    ]
    # And a script that takes an environment name stops on it before running anything.
    plan = run(copy, sys.executable, "-m", "gitops", "tf", "plan", "seoul")
    assert plan.returncode == 2
    assert "envs/kobe: region:" in plan.stderr


# Test files whose outcome depends on which environments are described: they read them, or run
# the workflows' steps that compute the matrices.
READS_ENVIRONMENTS = re.compile(
    r"from gitops import .*\benvironments\b|gitops\.environments\b|tests\.workflow_steps\b"
)


@pytest.mark.slow  # the quick tier of a dozen test files, in the copy
@pytest.mark.timeout(600)
def test_no_test_file_needs_an_edit_for_it(checkout: Path, tmp_path: Path) -> None:
    """Every quick test that reads the environment list passes in the copy with tokyo added
    and no file under tests/ edited: the environments come from the descriptions, never from a
    list in a test. (The copy holds the one workflow edit the docs ask for, step 5: the
    schedule's new UTC time, which tests/test_environments.py otherwise refuses.)"""
    copy = tmp_path / "checkout"
    shutil.copytree(checkout, copy, symlinks=True)
    for path in (REPO_ROOT / "tests").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            copied = copy / path.relative_to(REPO_ROOT)
            assert copied.read_bytes() == path.read_bytes(), f"{path.name} differs in the copy"
    files = sorted(
        str(path.relative_to(copy))
        for path in (copy / "tests").glob("test_*.py")
        if path.name != Path(__file__).name and READS_ENVIRONMENTS.search(path.read_text())
    )
    assert "tests/test_environments.py" in files and "tests/test_workflows.py" in files
    args = " ".join(["-q", "-p", "no:cacheprovider", *files])
    proc = run(copy, "make", "--no-print-directory", "test-unit", f"PYTEST_ARGS={args}")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", proc.stdout), proc.stdout[-2000:]


# --- Set-up and the nightly destroy of the new environment (docs/PIPELINE.md, steps 2-7) --------


def test_validation_refuses_seouls_ami_pin_copied_over(checkout: Path, tmp_path: Path) -> None:
    """Before `make ami ENV=tokyo`, the copied pin is Seoul's image: refused offline."""
    copy = tmp_path / "copy"
    shutil.copytree(checkout / "envs", copy / "envs", symlinks=True)
    shutil.copytree(checkout / "scripts", copy / "scripts")
    seoul_pin = ami_pin.read((copy / "envs/seoul/terraform.tfvars").read_text(encoding="utf-8"))
    assert seoul_pin is not None and seoul_pin.region == "ap-northeast-2"
    tfvars = copy / "envs" / "tokyo" / "terraform.tfvars"
    tfvars.write_text(ami_pin.write(tfvars.read_text(encoding="utf-8"), seoul_pin, "copied"))
    proc = run(copy, sys.executable, "-m", "gitops", "envs", "check")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"ERROR: envs/tokyo: ami: {seoul_pin.id} was resolved for ap-northeast-2, but the "
        "environment runs in ap-northeast-1, and an AMI ID names an image in one region only: "
        "run `make ami ENV=tokyo` (AWS credentials for ap-northeast-1)"
    ]


def test_its_pin_is_tokyos_image(checkout: Path) -> None:
    pin = ami_pin.read((checkout / "envs/tokyo/terraform.tfvars").read_text(encoding="utf-8"))
    assert pin is not None
    assert (pin.id, pin.region, pin.name) == (
        "ami-0990bd2af79bd53a7", "ap-northeast-1",
        "al2023-ami-2023.12.20260930.0-kernel-6.18-x86_64",
    )  # fmt: skip


@pytest.fixture
def copy_described(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process libraries read the copy's descriptions, as its own commands do."""
    load = environments.load
    monkeypatch.setattr(environments, "load", lambda envs_dir=checkout / "envs": load(envs_dir))


ACCOUNT = "123456789012"  # moto's


def test_make_bootstrap_env_tokyo_makes_only_its_roles_in_its_own_state(
    checkout: Path, tmp_path: Path, copy_described: None
) -> None:
    """`make bootstrap ENV=tokyo` (gitops bootstrap --env tokyo), its AWS account moto's and
    Terraform a stand-in that records each call: the one state bucket in the region the backends
    name, Tokyo's state key seeded, Tokyo's roles in bootstrap/github-oidc/state/tokyo.tfstate
    with Tokyo's names, and the repository variables its [roles] names."""
    calls: list[tuple[str, tuple[str, ...]]] = []
    outputs: dict[str, str] = {}

    def terraform(root: Path, *args: str, environ: dict[str, str]) -> str:
        calls.append((root.name, args))
        flags = dict(a[len("-var=") :].split("=", 1) for a in args if a.startswith("-var="))
        if (root.name, args[0]) == ("state-bucket", "apply"):  # what the root would create
            boto3.client("s3", region_name=flags["aws_region"]).create_bucket(
                Bucket=flags["bucket_name"],
                CreateBucketConfiguration={"LocationConstraint": flags["aws_region"]},
            )
        if (root.name, args[0]) == ("github-oidc", "apply"):
            names = json.loads(flags["role_variables"])
            outputs.update({v: f"arn:aws:iam::{ACCOUNT}:role/{k}" for k, v in names.items()},
                           TF_STATE_BUCKET=flags["state_bucket"])  # fmt: skip
        if args[:2] == ("output", "-json"):
            return json.dumps(
                f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
                if args[2] == "oidc_provider_arn" else outputs
            )  # fmt: skip
        return (
            "Apply complete! Resources: 1 added, 0 changed, 0 destroyed."
            if args[0] == "apply"
            else ""
        )

    root = tmp_path / "bootstrap"
    for sub in (bootstrap.BUCKET_ROOT, bootstrap.ACCOUNT_ROOT, bootstrap.ROLES_ROOT):
        (root / sub).mkdir(parents=True)
    said: list[str] = []
    environ = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(bootstrap, "terraform", terraform)
        result = bootstrap.run(environ=environ, env_name="tokyo", repo="octo-org/gitops",
                               subject_format="name", budget_usd=20, budget_emails=["a@b.c"],
                               bootstrap_dir=root, log=said.append)  # fmt: skip
        bucket = f"tfstate-{ACCOUNT}-ap-northeast-2"  # the region every backend.tf names
        keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert result.environments == ("tokyo",)
    assert keys == ["tokyo/terraform.tfstate"]  # Seoul's key is not this run's
    roles = [args for name, args in calls if name == "github-oidc"]
    assert roles[0][-1] == "-backend-config=path=state/tokyo.tfstate"
    (applied,) = [args for args in roles if args[0] == "apply"]
    for flag in ("-var=environment=tokyo", "-var=project_name=study-tokyo",
                 "-var=aws_region=ap-northeast-1", "-var=state_key=tokyo/terraform.tfstate",
                 "-var=apply_environment=tokyo", "-var=nightly_environment=tokyo-nightly",
                 f"-var=state_bucket={bucket}"):  # fmt: skip
        assert flag in applied, flag
    assert result.variables == {
        "AWS_TOKYO_PLAN_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/plan",
        "AWS_TOKYO_APPLY_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/apply",
        "AWS_TOKYO_DESTROY_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/destroy",
        "TF_STATE_BUCKET": bucket,
    }
    assert (
        f"  gh variable set AWS_TOKYO_PLAN_ROLE_ARN --body 'arn:aws:iam::{ACCOUNT}:role/plan' "
        "-R octo-org/gitops" in said
    )


@pytest.mark.slow  # plans bootstrap/github-oidc with Terraform, twice
def test_the_bootstrap_plan_gives_tokyo_roles_and_a_state_of_its_own(
    checkout: Path, tmp_path: Path
) -> None:
    """The roles root planned offline (gitops.terraform.iam_render, what make bootstrap would
    apply) for Tokyo and for Seoul: no role name in common, and each role reaches its own state
    key only."""
    envs = environments.load(checkout / "envs")
    planned = {name: iam_render.plan(envs[name], tmp_path / name) for name in ("seoul", "tokyo")}
    names = {
        name: {rc["change"]["after"]["name"] for rc in plan["resource_changes"]
               if rc["type"] == "aws_iam_role"}
        for name, plan in planned.items()
    }  # fmt: skip
    assert names["tokyo"] == {
        "gha-study-tokyo-plan", "gha-study-tokyo-apply", "gha-study-tokyo-destroy",
        "study-tokyo-web", "study-tokyo-db",
    }  # fmt: skip
    assert not names["tokyo"] & names["seoul"]
    policies = json.dumps(planned["tokyo"]["planned_values"]["outputs"]["policies"]["value"])
    assert "tokyo/terraform.tfstate" in policies and "seoul/terraform.tfstate" not in policies
    assert "study-seoul" not in policies


def test_github_setup_protects_its_environments_and_sets_its_variables(
    checkout: Path, tmp_path: Path, serve_fake: Any
) -> None:
    """`make github-setup` after `make bootstrap ENV=tokyo`, against the fake GitHub: Tokyo's
    gate with required reviewers, tokyo-nightly unattended and main only, its variables."""
    fake = serve_fake(FakeRepository(name="octo-org/gitops", token="ghp_fake"))
    (tmp_path / "bootstrap" / "github-oidc").mkdir(parents=True)
    (tmp_path / "repo").mkdir()
    fake.branch_policies["tokyo-nightly"] = [{"id": 7, "name": "release/*", "type": "branch"}]

    def variables_of(env: environments.Environment) -> dict[str, str]:
        return {name: f"value-of-{name}" for name in bootstrap.workflow_variables(env)}

    gh = api.GitHub("ghp_fake", "octo-org/gitops", fake.base, timeout=5)
    report = github_setup.setup(
        gh, envs=github_setup.aws_environments(checkout / "envs"), variables_of=variables_of,
        bootstrap_dir=tmp_path / "bootstrap", repo_root=tmp_path / "repo", log=lambda _: None,
    )  # fmt: skip
    gate, nightly = fake.environments["tokyo"], fake.environments["tokyo-nightly"]
    assert github_setup.has_required_reviewers(gate) and gate["can_admins_bypass"] is False
    assert not github_setup.has_required_reviewers(nightly)
    assert nightly["can_admins_bypass"] is False
    for name in ("tokyo", "tokyo-nightly"):
        assert fake.environments[name]["deployment_branch_policy"] == {
            "protected_branches": False, "custom_branch_policies": True,
        }  # fmt: skip
        assert [p["name"] for p in fake.branch_policies[name]] == ["main"]  # release/* removed
    for name in ("AWS_TOKYO_PLAN_ROLE_ARN", "AWS_TOKYO_APPLY_ROLE_ARN",
                 "AWS_TOKYO_DESTROY_ROLE_ARN", "TF_STATE_BUCKET"):  # fmt: skip
        assert fake.variables[name] == f"value-of-{name}"
    assert "AWS_PLAN_ROLE_ARN" in fake.variables  # Seoul's, beside them
    assert any(
        line.startswith("ok environment tokyo-nightly (envs/tokyo)") for line in report.lines
    )


def test_its_nightly_destroy_keeps_it_by_its_own_variable_in_its_own_zone(
    checkout: Path, tmp_path: Path
) -> None:
    """destroy-environment.yml's keep-alive step, run as written for Tokyo's 22:30 firing:
    KEEP_TOKYO_UNTIL judged by the date in Asia/Tokyo, and named so in the decision."""
    (_, _, step), *_ = workflow_steps(checkout, "gitops keep-alive")
    cron = "30 13 * * *"

    def tokyo_date() -> date:
        return scheduled_firing(cron, datetime.now(UTC)).astimezone(ZoneInfo("Asia/Tokyo")).date()

    before = tokyo_date()
    values = {"TF_ENV": "tokyo", "SCHEDULE": cron,
              "KEEP_ALIVE": (before + timedelta(days=1)).isoformat()}  # fmt: skip
    outputs = run_step(checkout, step, values, tmp_path)
    day = before if before == tokyo_date() else tokyo_date()  # the firing passed meanwhile
    assert outputs["destroy"] == "false"
    assert outputs["reason"] in {
        f"KEEP_TOKYO_UNTIL={values['KEEP_ALIVE']} is {n} day(s) after today ({d} Asia/Tokyo): "
        "tokyo is kept, the nightly destroy is skipped"
        for n, d in ((1, before), ((before + timedelta(days=1) - day).days, day))
    }
