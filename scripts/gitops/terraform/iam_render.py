"""The pipeline's IAM policies for one environment, rendered by Terraform without AWS.

bootstrap/github-oidc takes the account ID and the OIDC provider as variables and builds its
policies from aws_iam_policy_document data sources, which Terraform evaluates locally: a plan
with dummy credentials and no API call renders every document exactly as `make bootstrap`
would apply it. The IAM lint hook (gitops hook-iam-lint) and the policy tests read them here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from gitops import environments
from gitops.paths import TF_CLI_CONFIG
from gitops.terraform import bootstrap

# Stand-ins: a plan names no real account, repository or bucket.
ACCOUNT = "123456789012"
REPOSITORY = "example/gitops-render"
BUCKET = "tfstate-123456789012-render"
OIDC_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider{bootstrap.OIDC_URL_SUFFIX}"
OFFLINE_PROVIDER = """provider "aws" {
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}
"""


class RenderError(RuntimeError):
    """Terraform could not render the policies; the message carries its output."""


def _environ() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "TF_VAR_", "TF_CLI_ARGS", "TF_DATA_DIR"))
    }
    if TF_CLI_CONFIG.exists():
        env["TF_CLI_CONFIG_FILE"] = str(TF_CLI_CONFIG)
    env.update(
        TF_IN_AUTOMATION="1", TF_INPUT="0", AWS_ACCESS_KEY_ID="offline",
        AWS_SECRET_ACCESS_KEY="offline", AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true",
    )  # fmt: skip
    return env


def _terraform(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["terraform", *args], cwd=cwd, env=_environ(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RenderError(f"terraform {args[0]} failed:\n{proc.stderr or proc.stdout}")
    return proc.stdout


def plan(
    stack: environments.Environment, workdir: Path, *, account: str = ACCOUNT
) -> dict[str, Any]:
    """The plan (`terraform show -json`) of bootstrap/github-oidc for the environment: the roles
    and policies `make bootstrap ENV=<name>` would create. workdir must be empty or absent; it
    is left behind for the caller."""
    root = workdir / "bootstrap" / bootstrap.ROLES_ROOT
    shutil.copytree(
        bootstrap.BOOTSTRAP_DIR / bootstrap.ROLES_ROOT,
        root,
        ignore=shutil.ignore_patterns(".terraform", "state", "*.tfstate*", "*.json"),
    )
    module = "instance-roles"
    shutil.copytree(bootstrap.MODULES_DIR / module, workdir / "modules" / module)
    (root / "offline_override.tf").write_text(OFFLINE_PROVIDER, encoding="utf-8")
    _terraform(root, "init", "-input=false", "-no-color", "-backend-config=path=render.tfstate")
    flags = bootstrap.roles_variables(
        stack, repository=REPOSITORY, subject_format="name", bucket=BUCKET, account=account,
        oidc_provider_arn=OIDC_PROVIDER.replace(ACCOUNT, account),
    )  # fmt: skip
    _terraform(root, "plan", "-input=false", "-no-color", "-refresh=false", "-out=render.tfplan",
               *flags)  # fmt: skip
    return dict(json.loads(_terraform(root, "show", "-json", "render.tfplan")))


def render_outputs(
    stack: environments.Environment, workdir: Path, *, account: str = ACCOUNT
) -> dict[str, dict[str, str]]:
    """ "policies" and "trust_policies", each name => rendered document (JSON): the permission
    policies of the pipeline roles (read, state-read, ...) and the instance roles'
    (instance-web, instance-db), and the trust policy of each role (plan, apply, destroy,
    instance-web, instance-db). workdir must be empty or absent; it is left behind."""
    planned = plan(stack, workdir, account=account)
    try:
        outputs = planned["planned_values"]["outputs"]
        return {name: dict(outputs[name]["value"]) for name in ("policies", "trust_policies")}
    except KeyError as exc:
        raise RenderError(f"the plan has no known value for the {exc} output") from exc


def render(
    stack: environments.Environment, workdir: Path, *, account: str = ACCOUNT
) -> dict[str, str]:
    """Name => rendered permission policy (JSON) of every policy the environment's bootstrap
    makes (render_outputs' "policies")."""
    return render_outputs(stack, workdir, account=account)["policies"]
