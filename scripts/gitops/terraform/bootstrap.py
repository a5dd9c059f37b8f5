"""`make bootstrap`: the AWS side of the pipeline, applied with the operator's own credentials.

    gitops bootstrap [--repo OWNER/NAME] [--subject-format id|name] [--bucket NAME]
    gitops bootstrap --rehearse [--endpoint URL] [--repo OWNER/NAME] [--keep-in DIR]

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

--rehearse (`make bootstrap-rehearsal`) runs the same code against LocalStack (started here, or
the one already answering at --endpoint / AWS_ENDPOINT_URL) with dummy credentials, a dummy
repository and fake repository IDs, in a throw-away copy of bootstrap/ (the real roots' state
is never touched). It never reads the operator's AWS profile or keys, refuses any endpoint that
is not a LocalStack answering its health check, and refuses an account other than LocalStack's.
It removes what it applied and stops the LocalStack it started, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops import environments
from gitops.aws import DEFAULT_ENDPOINT, DUMMY_CREDENTIALS, endpoint_from_env
from gitops.paths import REPO_ROOT, TF_CLI_CONFIG
from gitops.signals import sigterm_as_interrupt

BOOTSTRAP_DIR = REPO_ROOT / "bootstrap"
OIDC_URL_SUFFIX = "/token.actions.githubusercontent.com"
GITHUB_VARS_FILE = "github.auto.tfvars.json"
STACK = "seoul"  # the environment whose roles this bootstrap makes (envs/seoul/environment.toml)
# The rehearsal's stand-ins: no real repository, bucket or account is named.
REHEARSAL_REPO = "example/gitops-rehearsal"
REHEARSAL_IDS = {"github_owner_id": 1000001, "github_repository_id": 2000002}
REHEARSAL_BUCKET = "tfstate-rehearsal"
LOCALSTACK_ACCOUNT = "000000000000"


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


def workflow_variables(stack: environments.Environment) -> list[str]:
    """The repository variables the workflows read that the bootstrap provides: the roles the
    environment's description names and the state bucket. Region and state key are not among
    them: each environment's come from envs/<name>/environment.toml."""
    if stack.roles is None:
        raise BootstrapError(f"envs/{stack.name}/environment.toml needs a [roles] table")
    return [stack.roles.plan, stack.roles.apply, stack.roles.destroy, "TF_STATE_BUCKET"]


def select_variables(outputs: dict[str, Any], wanted: list[str]) -> dict[str, str]:
    """The root's repository_variables output narrowed to the ones the workflows read."""
    missing = [name for name in wanted if name not in outputs]
    if missing:
        raise BootstrapError(
            f"bootstrap/github-oidc's repository_variables output lacks {', '.join(missing)}"
        )
    return {name: str(outputs[name]) for name in wanted}


def find_oidc_provider(iam: Any) -> str:
    """ARN of the account's GitHub OIDC provider, or "" when there is none."""
    for item in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
        if item["Arn"].endswith(OIDC_URL_SUFFIX):
            return str(item["Arn"])
    return ""


def terraform(root: Path, *args: str, environ: dict[str, str]) -> str:
    env = dict(environ)
    if TF_CLI_CONFIG.exists():
        env["TF_CLI_CONFIG_FILE"] = str(TF_CLI_CONFIG)
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
    expect_account: str | None = None,
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
    if expect_account is not None and account != expect_account:
        raise BootstrapError(
            f"the endpoint answered as account {account}, not LocalStack's {expect_account}: "
            "refusing to rehearse against what may be a real AWS account"
        )
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
    variables = select_variables(
        json.loads(
            terraform(oidc_root, "output", "-json", "repository_variables", environ=environ)
        ),
        workflow_variables(stack),
    )
    log("bootstrap: done. Set these repository variables (make github-setup does it for you):")
    for name, value in variables.items():
        log(f"  gh variable set {name} --body '{value}' -R {repository}")
    return Result(variables=variables, repository=repository, reused_provider=reused)


# --- Rehearsal: the same run against LocalStack ---------------------------------------------

_REAL_AWS_HOSTS = ("amazonaws.com", "amazonaws.com.cn", "api.aws")


def refuse_real_endpoint(endpoint: str) -> None:
    """A rehearsal talks to an emulator only: no endpoint, or one of AWS's, is refused."""
    from urllib.parse import urlparse

    host = (urlparse(endpoint).hostname or "").lower() if endpoint else ""
    if not host:
        raise BootstrapError(
            f"rehearsal endpoint {endpoint!r} is no URL: without one the AWS SDKs and Terraform "
            f"would talk to real AWS; pass LocalStack's, such as --endpoint {DEFAULT_ENDPOINT}"
        )
    if any(host == h or host.endswith("." + h) for h in _REAL_AWS_HOSTS):
        raise BootstrapError(
            f"rehearsal endpoint {endpoint} is real AWS: the rehearsal runs against LocalStack only"
        )


def rehearsal_environ(environ: dict[str, str], endpoint: str) -> dict[str, str]:
    """The child environment of a rehearsal: none of the operator's AWS settings (profile,
    keys, config and credentials files, role to assume), dummy keys and the emulator's endpoint.
    The operator's own environment is not changed."""
    refuse_real_endpoint(endpoint)
    env = {
        k: v
        for k, v in environ.items()
        if not k.startswith(("AWS_", "TF_VAR_", "TF_CLI_ARGS", "CI", "GITHUB_"))
    }
    env.update(
        DUMMY_CREDENTIALS,
        AWS_ENDPOINT_URL=endpoint,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def _rehearsal_roots(workdir: Path, repo: str) -> Path:
    """A copy of bootstrap/ without state, for LocalStack (path-style S3) and a fake repository."""
    root = workdir / "bootstrap"
    shutil.copytree(
        BOOTSTRAP_DIR,
        root,
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate", "*.tfstate.*", GITHUB_VARS_FILE),
    )
    for sub in ("state-bucket", "github-oidc"):  # LocalStack's S3 answers path-style only
        (root / sub / "localstack_override.tf").write_text(
            'provider "aws" {\n  s3_use_path_style = true\n}\n', encoding="utf-8"
        )
    (root / "github-oidc" / GITHUB_VARS_FILE).write_text(
        json.dumps({"repository": repo, **REHEARSAL_IDS}, indent=2) + "\n", encoding="utf-8"
    )
    return root


def _teardown(root: Path, repository: str, region: str, bucket: str, env: dict[str, str]) -> None:
    """Remove what the rehearsal applied (the roles, the provider, the bucket)."""
    if (root / "github-oidc" / "terraform.tfstate").exists():
        oidc_vars = [
            f"-var=repository={repository}", f"-var=state_bucket={bucket}",
            f"-var=aws_region={region}",
        ]  # fmt: skip
        terraform(root / "github-oidc", "destroy", "-auto-approve", "-no-color", *oidc_vars,
                  environ=env)  # fmt: skip
    s3 = _client("s3", region, env)
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:  # never created
        return
    for version in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
    s3.delete_bucket(Bucket=bucket)  # prevent_destroy: Terraform refuses, on purpose


def rehearse(
    *,
    environ: dict[str, str],
    endpoint: str | None = None,
    repo: str | None = None,
    subject_format: str | None = None,
    region: str | None = None,
    keep_in: Path | None = None,
    log: Any = print,
) -> Result:
    """`make bootstrap-rehearsal`: run() against LocalStack with dummy credentials."""
    from gitops.pipeline import localstack

    endpoint = endpoint or endpoint_from_env(environ)
    # Refuses before anything starts. CI may rehearse: only dummy credentials go in.
    env = rehearsal_environ(environ, endpoint)
    repository = repo or REHEARSAL_REPO
    log(f"rehearsal: LocalStack at {endpoint}, repository {repository} (dummy credentials)")
    stack_region = region or environments.load()[STACK].region
    emulator = None
    applied = False
    previous = signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    # Out of this process's environment too while it runs: boto3 would read AWS_PROFILE from
    # there whatever the session is given, and LocalStack started here inherits it.
    hidden = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
    workdir = Path(tempfile.mkdtemp(prefix="bootstrap-rehearsal-"))
    root = workdir / "bootstrap"
    try:
        try:
            emulator = localstack.ensure(endpoint)
        except SystemExit as exc:  # localstack.fail printed what to do
            raise BootstrapError(f"no LocalStack at {endpoint}") from exc
        _rehearsal_roots(workdir, repository)
        applied = True  # from here on there may be something to remove
        result = run(
            environ=env,
            repo=repository,
            subject_format=subject_format,
            bucket=REHEARSAL_BUCKET,
            region=stack_region,
            bootstrap_dir=root,
            log=log,
            expect_account=LOCALSTACK_ACCOUNT,
        )
        iam = _client("iam", stack_region, env)
        for name, value in result.variables.items():
            if name.endswith("_ROLE_ARN"):
                role = iam.get_role(RoleName=value.rsplit("/", 1)[1])["Role"]
                log(f"rehearsal: ok role {role['RoleName']} exists in LocalStack")
        if keep_in is not None:
            keep_in.mkdir(parents=True, exist_ok=True)
            kept = keep_in / "bootstrap"
            shutil.copytree(root, kept, dirs_exist_ok=True)
            log(f"rehearsal: kept the applied resources; their Terraform state is in {kept}")
            applied = False
        log("rehearsal: applied and checked; `make bootstrap` prints these lines for your account")
        return result
    finally:
        # A reused emulator gets back what it had (also after a failure or Ctrl-C); one
        # started here is stopped below, and what it held goes with it.
        if applied and emulator is not None and not emulator.started_by_us:
            log("rehearsal: removing what it applied from the reused LocalStack")
            try:
                _teardown(root, repository, stack_region, REHEARSAL_BUCKET, env)
            except Exception as exc:  # the original failure, if any, is the one to report
                log(f"rehearsal: could not remove everything ({exc.__class__.__name__}: {exc})")
        shutil.rmtree(workdir, ignore_errors=True)
        if emulator is not None and emulator.started_by_us:
            log("rehearsal: stopping the LocalStack it started")
            localstack.stop(emulator)
        os.environ.update(hidden)
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=None, help="OWNER/NAME (default: from make github-setup)")
    parser.add_argument("--subject-format", choices=("id", "name"), default=None)
    parser.add_argument(
        "--bucket", default=None, help="state bucket name (default tfstate-<account>-<region>)"
    )
    parser.add_argument("--region", default=None, help=f"default: envs/{STACK}'s region")
    parser.add_argument(
        "--rehearse",
        action="store_true",
        help="apply against LocalStack with dummy credentials and repository (make "
        "bootstrap-rehearsal); never touches real AWS",
    )
    parser.add_argument(
        "--endpoint", default=None, help="rehearsal: LocalStack URL (default AWS_ENDPOINT_URL)"
    )
    parser.add_argument(
        "--keep-in",
        type=Path,
        default=None,
        help="rehearsal: keep the applied resources and copy their Terraform state to DIR",
    )
    args = parser.parse_args(argv)
    if not args.rehearse and (args.endpoint or args.keep_in):
        parser.error("--endpoint and --keep-in go with --rehearse")
    try:
        if args.rehearse:
            if args.bucket:
                parser.error("--bucket does not go with --rehearse")
            rehearse(
                environ=dict(os.environ if environ is None else environ),
                endpoint=args.endpoint,
                repo=args.repo or None,
                subject_format=args.subject_format,
                region=args.region,
                keep_in=args.keep_in,
            )
            return 0
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
    except KeyboardInterrupt:
        print("bootstrap: interrupted", file=sys.stderr)
        return 130
    return 0
