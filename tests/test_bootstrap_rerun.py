"""make bootstrap run again, or from another checkout: it refuses, before anything is applied,
what would stop it half-way (roles or a budget the account has, whose local state this checkout
lacks), and it says what each apply changed. The account is moto's (as boto3 sees it) and
Terraform is never reached; tests/test_bootstrap_iam.py applies the real roots on LocalStack
twice, with tags added by hand in between."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from gitops import environments
from gitops.terraform import bootstrap

from tests.test_bootstrap_iam import second_environment
from tests.tf_sandbox import REPO_ROOT

REPO = "octo-org/gitops-seoul"
SEOUL = environments.load()["seoul"]
PROJECT = environments.project_name(SEOUL)
REGION = SEOUL.region
ENVIRON = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
TRUST = json.dumps(
    {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                    "Principal": {"Service": "ec2.amazonaws.com"}}]}
)  # fmt: skip


class Applied(Exception):
    """Terraform was reached: the checks before it let the run through."""


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout's bootstrap/ after `make github-setup` only: no local state at all."""
    root = tmp_path / "bootstrap"
    for sub in (bootstrap.BUCKET_ROOT, bootstrap.ACCOUNT_ROOT, bootstrap.ROLES_ROOT):
        (root / sub).mkdir(parents=True)
    ids = {"repository": REPO, **bootstrap.REHEARSAL_IDS}
    (root / bootstrap.ROLES_ROOT / bootstrap.GITHUB_VARS_FILE).write_text(json.dumps(ids))

    def terraform(root: Path, *args: str, **kwargs: Any) -> str:
        if args[0] == "init":  # local only: the root's providers and backend
            return ""
        raise Applied(f"{root.name}: terraform {' '.join(args)}")

    monkeypatch.setattr(bootstrap, "terraform", terraform)
    return root


def run(root: Path, env_name: str = "seoul") -> None:
    bootstrap.run(environ=ENVIRON, bootstrap_dir=root, env_name=env_name, budget_usd=20,
                  budget_emails=["ops@example.com"], log=lambda _: None)  # fmt: skip


def instance_role(iam: Any, project: str) -> None:
    """What an earlier make bootstrap left in the account for a project (its web role)."""
    iam.create_role(RoleName=f"{project}-web", Path=f"{bootstrap.IAM_PATH_ROOT}{project}/",
                    AssumeRolePolicyDocument=TRUST)  # fmt: skip


def test_a_first_run_goes_on_to_apply(checkout: Path) -> None:
    from moto import mock_aws

    with mock_aws(), pytest.raises(Applied):
        run(checkout)


def test_roles_bootstrapped_from_another_checkout_are_refused_before_any_apply(
    checkout: Path,
) -> None:
    """A teammate's clone, or a fresh one: the roles exist, their state is elsewhere. Terraform
    would stop on EntityAlreadyExists after the bucket and the account were applied."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        instance_role(boto3.client("iam", region_name=REGION), PROJECT)
        with pytest.raises(
            bootstrap.BootstrapError, match="no bootstrap state for envs/seoul"
        ) as err:
            run(checkout)
    message = str(err.value)
    assert "github-oidc/state/seoul.tfstate" in message and "Nothing was applied" in message
    assert "choose another project_name in envs/seoul/terraform.tfvars" in message
    assert not (checkout / bootstrap.ACCOUNT_ROOT / bootstrap.ACCOUNT_VARS_FILE).exists()


def test_roles_whose_state_is_here_are_applied_again(checkout: Path) -> None:
    import boto3
    from moto import mock_aws

    state = bootstrap.state_file(checkout / bootstrap.ROLES_ROOT, "seoul")
    state.parent.mkdir()
    state.write_text("{}")
    with mock_aws():
        instance_role(boto3.client("iam", region_name=REGION), PROJECT)
        with pytest.raises(Applied):
            run(checkout)


def test_a_budget_made_from_another_checkout_is_refused_before_any_apply(checkout: Path) -> None:
    import boto3
    from moto import mock_aws

    budget = {"BudgetName": bootstrap.BUDGET_NAME, "BudgetType": "COST", "TimeUnit": "MONTHLY",
              "BudgetLimit": {"Amount": "20", "Unit": "USD"}}  # fmt: skip
    with mock_aws():
        account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
        boto3.client("budgets", region_name="us-east-1").create_budget(
            AccountId=account, Budget=budget
        )
        with pytest.raises(bootstrap.BootstrapError, match="already has the budget") as err:
            run(checkout)
        assert "budget_name of its own" in str(err.value)

        # Its own name in account.auto.tfvars.json: another repository's budget is no clash.
        vars_file = checkout / bootstrap.ACCOUNT_ROOT / bootstrap.ACCOUNT_VARS_FILE
        vars_file.write_text(json.dumps({"budget_name": "gitops-second-repo"}))
        with pytest.raises(Applied):
            run(checkout)


def test_what_an_apply_changed_is_said() -> None:
    out = """aws_s3_bucket.state: Refreshing state... [id=tfstate-x]
module.instance_roles.aws_iam_role.this["web"]: Modifying... [id=study-seoul-web]
module.instance_roles.aws_iam_role.this["web"]: Modifications complete after 0s
aws_iam_policy.pipeline["old"]: Destroying... [id=arn:aws:iam::1:policy/x]

Apply complete! Resources: 0 added, 1 changed, 1 destroyed.
"""
    assert bootstrap.apply_summary(out) == (
        '0 added, 1 changed, 1 destroyed: aws_iam_policy.pipeline["old"], '
        'module.instance_roles.aws_iam_role.this["web"]'
    )
    assert bootstrap.apply_summary(
        "Apply complete! Resources: 0 added, 0 changed, 0 destroyed."
    ) == ("0 added, 0 changed, 0 destroyed")


def test_a_bucket_of_that_name_holding_rules_of_its_own_is_refused_not_taken_over(
    checkout: Path,
) -> None:
    """The default name tfstate-<account>-<region> is a common one: a bucket of that name kept
    for other states would have its policy and lifecycle rules replaced by the import."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
        name = f"tfstate-{account}-{REGION}"
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        theirs = {"Sid": "ReadForAudit", "Effect": "Allow", "Action": "s3:GetObject",
                  "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                  "Resource": f"arn:aws:s3:::{name}/*"}  # fmt: skip
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Statement": [theirs]}))
        with pytest.raises(bootstrap.BootstrapError, match="ReadForAudit") as err:
            run(checkout)
        assert "BUCKET=" in str(err.value) and "Nothing was applied" in str(err.value)
        assert json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])["Statement"] == [theirs]

        # The state bucket an earlier make bootstrap made (another clone): imported.
        ours = dict(theirs, Sid="DenyInsecureTransport", Effect="Deny")
        s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Statement": [ours]}))
        rule = {"ID": "expire-old-state-versions", "Status": "Enabled", "Filter": {},
                "NoncurrentVersionExpiration": {"NoncurrentDays": 90}}  # fmt: skip
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [rule]})
        with pytest.raises(Applied, match="import"):
            run(checkout)

        rule = dict(rule, ID="archive-after-a-year")
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [rule]})
        with pytest.raises(bootstrap.BootstrapError, match="lifecycle rule archive-after-a-year"):
            run(checkout)


def test_what_is_ours_in_an_existing_bucket_is_what_the_state_bucket_root_sets() -> None:
    main = (bootstrap.BOOTSTRAP_DIR / bootstrap.BUCKET_ROOT / "main.tf").read_text()
    assert set(re.findall(r'^\s*sid\s*=\s*"([^"]+)"', main, re.MULTILINE)) == set(
        bootstrap.STATE_BUCKET_POLICY_SIDS
    )
    assert set(re.findall(r'^\s*id\s*=\s*"([^"]+)"', main, re.MULTILINE)) == set(
        bootstrap.STATE_BUCKET_LIFECYCLE_RULES
    )


def described_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, region: str) -> Path:
    """The environments as committed, and envs/<name> beside them (Seoul's root copied)."""
    envs_dir = tmp_path / "envs"
    shutil.copytree(REPO_ROOT / "envs", envs_dir, symlinks=True,
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))  # fmt: skip
    shutil.rmtree(envs_dir / name, ignore_errors=True)  # a checkout may describe it already
    second_environment(envs_dir, name, region, f"study-{name}")
    load = environments.load
    monkeypatch.setattr(environments, "load", lambda envs_dir_=envs_dir: load(envs_dir_))
    return envs_dir


@pytest.mark.parametrize(
    ("name", "region"), [("osaka", "ap-northeast-3"), ("tokyo", "ap-northeast-1")]
)
def test_an_environment_bootstrapped_alone_uses_the_one_state_bucket(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, region: str
) -> None:
    """`make bootstrap ENV=osaka` (docs/PIPELINE.md, "Add an environment"): the state bucket
    every environment's backend.tf names is in Seoul's region, whatever the new one's region or
    name; a bucket named after the new region would ask Terraform to replace the state bucket."""
    from moto import mock_aws

    described_with(tmp_path, monkeypatch, name, region)
    with mock_aws(), pytest.raises(Applied) as applied:
        run(checkout, env_name=name)
    account = "123456789012"  # moto's
    assert str(applied.value).startswith("state-bucket: terraform apply")
    assert f"-var=bucket_name=tfstate-{account}-{REGION}" in str(applied.value)
    assert f"-var=aws_region={REGION}" in str(applied.value)


def test_backends_that_name_two_regions_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    envs_dir = described_with(tmp_path, monkeypatch, "osaka", "ap-northeast-3")
    backend = envs_dir / "osaka" / "backend.tf"
    backend.write_text(backend.read_text().replace(f'"{REGION}"', '"ap-northeast-3"'))
    with pytest.raises(bootstrap.BootstrapError, match="one state bucket.*envs/osaka"):
        bootstrap.state_region()


def test_a_failure_says_what_to_do_next(
    checkout: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Credentials denied half-way: what was applied stays, and the message says to run again."""
    monkeypatch.setattr(bootstrap, "BOOTSTRAP_DIR", checkout)
    assert bootstrap.main(["--env", "seoul"], {"CI": "true"}) == 1
    err = capsys.readouterr().err
    assert "bootstrap: FAILED: make bootstrap creates IAM roles" in err
    assert "run it again: every step is idempotent" in err
