"""`make bootstrap`: the AWS side of the pipeline, applied with the operator's own credentials.

    python3 scripts/bootstrap.py [--repo OWNER/NAME] [--subject-format id|name] [--bucket NAME]

1. bootstrap/state-bucket: the state bucket (default name tfstate-<account>-<region>); a bucket
   of that name this account already owns is imported, not created again.
2. bootstrap/github-oidc: GitHub's OIDC provider (an existing one is reused), the plan, apply
   and destroy-only roles and the instance roles' permissions boundary.
3. Prints the repository variables to set, as `gh variable set ... -R OWNER/NAME` lines
   (`make github-setup REPO=OWNER/NAME` sets them through the API).

The repository and its numeric IDs (for GitHub's immutable-ID subject) come from
bootstrap/github-oidc/github.auto.tfvars.json, which `make github-setup` writes; --repo with
--subject-format name works without it. Never runs in CI: these credentials create roles.
Both roots keep their state locally, in their own directories (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops import environments
from gitops.paths import REPO_ROOT
from gitops.terraform.runner import CLI_CONFIG

BOOTSTRAP_DIR = REPO_ROOT / "bootstrap"
OIDC_URL_SUFFIX = "/token.actions.githubusercontent.com"
GITHUB_VARS_FILE = "github.auto.tfvars.json"
STACK = "seoul"  # the environment whose roles this bootstrap makes (envs/seoul/environment.toml)


class BootstrapError(RuntimeError):
    """Something the operator has to fix; the message says what."""


@dataclass(frozen=True)
class Result:
    variables: dict[str, str]
    repository: str
    reused_provider: str


def refuse_ci(environ: dict[str, str]) -> None:
    if environ.get("CI") or environ.get("GITHUB_ACTIONS"):
        raise BootstrapError(
            "make bootstrap creates IAM roles and runs with your own credentials only; "
            "it refuses to run in CI (CI or GITHUB_ACTIONS is set)"
        )


def _client(service: str, region: str, environ: dict[str, str]) -> Any:
    import boto3

    # From the given environment, as Terraform sees it, not from this process's.
    session = boto3.session.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=environ.get("AWS_SESSION_TOKEN"),
        profile_name=environ.get("AWS_PROFILE") or None,
        region_name=region,
    )
    return session.client(service, endpoint_url=environ.get("AWS_ENDPOINT_URL") or None)


def find_oidc_provider(iam: Any) -> str:
    """ARN of the account's GitHub OIDC provider, or "" when there is none."""
    for item in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
        if item["Arn"].endswith(OIDC_URL_SUFFIX):
            return str(item["Arn"])
    return ""


def terraform(root: Path, *args: str, environ: dict[str, str]) -> str:
    env = dict(environ)
    if CLI_CONFIG.exists():
        env["TF_CLI_CONFIG_FILE"] = str(CLI_CONFIG)
    env.update(TF_IN_AUTOMATION="1", TF_INPUT="0")
    for key in [k for k in env if k.startswith("TF_CLI_ARGS")]:
        del env[key]
    proc = subprocess.run(
        ["terraform", *args], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise BootstrapError(
            f"terraform {args[0]} in {root.relative_to(root.parent.parent)} failed:\n"
            f"{proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc.stdout


def in_state(root: Path, address: str, environ: dict[str, str]) -> bool:
    if not (root / "terraform.tfstate").exists():
        return False
    return address in terraform(root, "state", "list", environ=environ).split()


def read_github_vars(root: Path) -> dict[str, Any]:
    path = root / GITHUB_VARS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BootstrapError(
            f"{path.name} is not valid JSON ({exc}); run make github-setup again"
        ) from exc
    return data if isinstance(data, dict) else {}


def run(
    *,
    environ: dict[str, str],
    repo: str | None = None,
    subject_format: str | None = None,
    bucket: str | None = None,
    region: str | None = None,
    bootstrap_dir: Path = BOOTSTRAP_DIR,
    log: Any = print,
) -> Result:
    refuse_ci(environ)
    # Gate, nightly environment, region and state key come from the environment's description.
    stack = environments.load()[STACK]
    if stack.gate is None or stack.nightly is None or stack.state_key is None:
        raise BootstrapError(
            f"envs/{STACK}/environment.toml needs gate, state_key and [nightly_destroy]"
        )
    region = region or stack.region
    key_prefix = stack.state_key.rsplit("/", 1)[0] + "/"
    bucket_root = bootstrap_dir / "state-bucket"
    oidc_root = bootstrap_dir / "github-oidc"
    github_vars = read_github_vars(oidc_root)
    repository = repo or str(github_vars.get("repository", ""))
    if not repository:
        raise BootstrapError(
            "which repository? run `make github-setup REPO=OWNER/NAME` first (it protects the "
            "environments the roles will trust and records the repository's IDs), or pass "
            "REPO=OWNER/NAME SUBJECT_FORMAT=name"
        )
    if repo and github_vars.get("repository") not in (None, repo):
        raise BootstrapError(
            f"REPO={repo} but {GITHUB_VARS_FILE} is for {github_vars['repository']}; "
            "run make github-setup for this repository first"
        )
    fmt = subject_format or ("id" if "github_repository_id" in github_vars else "name")
    if fmt == "id" and "github_repository_id" not in github_vars:
        raise BootstrapError(
            "subject_format id needs the repository's numeric IDs: run `make github-setup "
            f"REPO={repository}` first, or use SUBJECT_FORMAT=name"
        )

    try:
        account = _client("sts", region, environ).get_caller_identity()["Account"]
    except Exception as exc:  # no or expired credentials: botocore raises several kinds
        raise BootstrapError(
            f"no usable AWS credentials ({exc.__class__.__name__}): sign in with your own "
            "profile first (AWS_PROFILE=... or aws sso login)"
        ) from exc
    bucket = bucket or f"tfstate-{account}-{region}"
    log(f"bootstrap: account {account}, region {region}, repository {repository} ({fmt} subjects)")

    # 1. The state bucket; one that already exists in this account is imported first.
    terraform(bucket_root, "init", "-input=false", "-no-color", environ=environ)
    bucket_vars = [f"-var=bucket_name={bucket}", f"-var=aws_region={region}"]
    if not in_state(bucket_root, "aws_s3_bucket.state", environ):
        s3 = _client("s3", region, environ)
        try:
            s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
            exists = True
        except Exception:  # 404 (absent) or 403 (someone else's): create below says which
            exists = False
        if exists:
            log(f"bootstrap: importing the existing bucket {bucket}")
            terraform(bucket_root, "import", "-no-color", *bucket_vars,
                      "aws_s3_bucket.state", bucket, environ=environ)  # fmt: skip
    terraform(bucket_root, "apply", "-auto-approve", "-no-color", *bucket_vars, environ=environ)
    log(f"bootstrap: state bucket {bucket} ready")

    # 2. OIDC provider (reused when the account has one this root did not make) and roles.
    terraform(oidc_root, "init", "-input=false", "-no-color", environ=environ)
    reused = ""
    if not in_state(oidc_root, "aws_iam_openid_connect_provider.github[0]", environ):
        reused = find_oidc_provider(_client("iam", region, environ))
        if reused:
            log(f"bootstrap: reusing the account's GitHub OIDC provider {reused}")
    oidc_vars = [
        f"-var=repository={repository}", f"-var=subject_format={fmt}",
        f"-var=state_bucket={bucket}", f"-var=aws_region={region}",
        f"-var=oidc_provider_arn={reused}", f"-var=apply_environment={stack.gate}",
        f"-var=nightly_environment={stack.nightly.environment}",
        f"-var=state_key_prefix={key_prefix}",
    ]  # fmt: skip
    terraform(oidc_root, "apply", "-auto-approve", "-no-color", *oidc_vars, environ=environ)
    variables = json.loads(
        terraform(oidc_root, "output", "-json", "repository_variables", environ=environ)
    )
    log("bootstrap: done. Set these repository variables (make github-setup does it for you):")
    for name, value in variables.items():
        log(f"  gh variable set {name} --body '{value}' -R {repository}")
    return Result(variables=variables, repository=repository, reused_provider=reused)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=None, help="OWNER/NAME (default: from make github-setup)")
    parser.add_argument("--subject-format", choices=("id", "name"), default=None)
    parser.add_argument(
        "--bucket", default=None, help="state bucket name (default tfstate-<account>-<region>)"
    )
    parser.add_argument("--region", default=None, help=f"default: envs/{STACK}'s region")
    args = parser.parse_args(argv)
    try:
        run(
            environ=dict(os.environ if environ is None else environ),
            repo=args.repo or None,
            subject_format=args.subject_format,
            bucket=args.bucket or None,
            region=args.region,
        )
    except BootstrapError as exc:
        print(f"bootstrap: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0
