"""`make bootstrap`: the AWS side of the pipeline, applied with the operator's own credentials.

    gitops bootstrap [--env NAME] [--repo OWNER/NAME] [--subject-format id|name] [--bucket NAME]
        [--budget-usd AMOUNT --budget-email ADDRESS[,ADDRESS...]]
    gitops bootstrap --rehearse [--env NAME] [--endpoint URL] [--repo OWNER/NAME] [--keep-in DIR]

Once per account, then once per described AWS environment (envs/<name>/environment.toml; all of
them, or the one --env names), each step idempotent:
1. bootstrap/state-bucket: the state bucket (default name tfstate-<account>-<region>), shared
   by every environment; a bucket of that name this account already owns is imported. Each
   environment's state key gets an empty Terraform state where it has none (never replacing
   one; gitops.terraform.state says why the pipeline's roles need it there).
2. bootstrap/account: GitHub's OIDC provider (an existing one is reused) and the account's
   AWS Budgets cost budget (--budget-usd, --budget-email the first time; they are kept in
   bootstrap/account/account.auto.tfvars.json for later runs, where you may edit them).
3. bootstrap/github-oidc, per environment, with its own local state (state/<name>.tfstate):
   the plan, apply and destroy-only roles, scoped to that environment's project name, region,
   state object and GitHub environments, and its instances' roles (the pipeline creates none).
   A project name that is a prefix of another pipeline project's in the account is refused.
4. Prints the repository variables to set (named by the environment's [roles]), as
   `gh variable set ... -R OWNER/NAME` lines (`make github-setup REPO=OWNER/NAME` sets them).

The repository and its numeric IDs (for GitHub's immutable-ID subject) come from
bootstrap/github-oidc/github.auto.tfvars.json, which `make github-setup` writes; --repo with
--subject-format name works without it. Never runs in CI: these credentials create roles.
Every root keeps its state locally, in its own directory (git-ignored).

--rehearse (`make bootstrap-rehearsal`) runs the same code against LocalStack (started here, or
the one already answering at --endpoint / AWS_ENDPOINT_URL) with dummy credentials, a dummy
repository and fake repository IDs, in a throw-away copy of bootstrap/ and modules/ (the real
roots' state is never touched). It never reads the operator's AWS profile or keys, refuses any
endpoint that is not a LocalStack answering its health check, and refuses an account other
than LocalStack's. LocalStack's free edition has no AWS Budgets: the rehearsal applies the
account root without the budget (tests/test_budget.py checks the budget's arguments instead).
It removes what it applied and stops the LocalStack it started, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops import environments
from gitops.aws import DEFAULT_ENDPOINT, DUMMY_CREDENTIALS, endpoint_from_env, error_code
from gitops.paths import REPO_ROOT, TF_CLI_CONFIG
from gitops.signals import sigterm_as_interrupt
from gitops.terraform.state import StateError, seed_empty_state
from gitops.terraform.unlock import backend_from_source

BOOTSTRAP_DIR = REPO_ROOT / "bootstrap"
MODULES_DIR = REPO_ROOT / "modules"
BUCKET_ROOT, ACCOUNT_ROOT, ROLES_ROOT = "state-bucket", "account", "github-oidc"
OIDC_URL_SUFFIX = "/token.actions.githubusercontent.com"
GITHUB_VARS_FILE = "github.auto.tfvars.json"
ACCOUNT_VARS_FILE = "account.auto.tfvars.json"
# Every project's instance roles live under /gitops/<project_name>/ (modules/instance-roles).
IAM_PATH_ROOT = "/gitops/"
# The rehearsal's stand-ins: no real repository, bucket, account or address is named.
REHEARSAL_REPO = "example/gitops-rehearsal"
REHEARSAL_IDS = {"github_owner_id": 1000001, "github_repository_id": 2000002}
REHEARSAL_BUCKET = "tfstate-rehearsal"
REHEARSAL_BUDGET = {"budget_monthly_usd": 10, "budget_emails": ["budget@example.com"]}
# The account budget's name, unless account.auto.tfvars.json names another (budget_name).
BUDGET_NAME = "gitops-monthly-cost"
# What `make bootstrap` keeps in the checkout that ran it (git-ignored, no secret in them).
LOCAL_STATE = (
    f"bootstrap/{BUCKET_ROOT}/terraform.tfstate, bootstrap/{ACCOUNT_ROOT}/terraform.tfstate, "
    f"bootstrap/{ACCOUNT_ROOT}/{ACCOUNT_VARS_FILE} and bootstrap/{ROLES_ROOT}/state/"
)
LOCALSTACK_ACCOUNT = "000000000000"


class BootstrapError(RuntimeError):
    """Something the operator has to fix; the message says what."""


@dataclass(frozen=True)
class Result:
    variables: dict[str, str]  # every bootstrapped environment's, merged
    repository: str
    reused_provider: str
    environments: tuple[str, ...] = ()


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


def aws_environments(only: str | None = None) -> list[environments.Environment]:
    """The described AWS environments (or the one named), each complete enough to bootstrap."""
    envs = environments.load()
    if only is not None and only not in envs:
        raise BootstrapError(str(environments.UnknownEnvironment(only, envs)))
    chosen = [e for e in envs.values() if not e.emulated and only in (None, e.name)]
    if only is not None and not chosen:
        raise BootstrapError(
            f"envs/{only} is emulated (LocalStack, dummy credentials): it has no AWS roles to "
            "bootstrap; `make up` makes its own"
        )
    for env in chosen:
        if env.gate is None or env.nightly is None or env.state_key is None or env.roles is None:
            raise BootstrapError(
                f"envs/{env.name}/environment.toml needs gate, state_key, [roles] and "
                "[nightly_destroy] for make bootstrap"
            )
    if not chosen:
        raise BootstrapError("no AWS environment is described (envs/*/environment.toml)")
    return chosen


def state_region() -> str:
    """The state bucket's region: the one every AWS environment's backend.tf commits, since
    they share the bucket (an environment committing none counts with its own region). Never
    the region of the environment a run bootstraps: `make bootstrap ENV=osaka` would otherwise
    name, and ask Terraform to replace, another bucket."""
    found: dict[str, list[str]] = {}
    for env in environments.load().values():
        if not env.emulated:
            committed = backend_from_source(env.root)["config"].get("region") or env.region
            found.setdefault(str(committed), []).append(env.name)
    if len(found) != 1:
        where = "; ".join(
            f"{region}: envs/{', envs/'.join(names)}" for region, names in found.items()
        )
        raise BootstrapError(
            "the AWS environments share one state bucket, so their backend.tf must name one "
            f"region: {where or 'no AWS environment is described'}. Keep backend.tf as "
            "copied (docs/PIPELINE.md, Add an environment)"
        )
    return next(iter(found))


def workflow_variables(stack: environments.Environment) -> list[str]:
    """The repository variables the workflows read that the bootstrap provides for one
    environment: the roles its description names and the state bucket. Region and state key
    are not among them: each environment's come from envs/<name>/environment.toml."""
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


def roles_variables(
    stack: environments.Environment,
    *,
    repository: str,
    subject_format: str,
    bucket: str,
    account: str,
    oidc_provider_arn: str,
) -> list[str]:
    """The -var flags of bootstrap/github-oidc for one environment, all from its description
    (and its terraform.tfvars' project_name): the one place that turns one into the other."""
    assert stack.roles and stack.nightly and stack.gate and stack.state_key
    project = environments.project_name(stack)
    if not project:
        raise BootstrapError(f"envs/{stack.name}/terraform.tfvars sets no project_name")
    role_variables = {
        "plan": stack.roles.plan, "apply": stack.roles.apply, "destroy": stack.roles.destroy,
    }  # fmt: skip
    return [
        f"-var=environment={stack.name}", f"-var=project_name={project}",
        f"-var=aws_region={stack.region}", f"-var=account_id={account}",
        f"-var=repository={repository}", f"-var=subject_format={subject_format}",
        f"-var=state_bucket={bucket}", f"-var=state_key={stack.state_key}",
        f"-var=apply_environment={stack.gate}",
        f"-var=nightly_environment={stack.nightly.environment}",
        f"-var=oidc_provider_arn={oidc_provider_arn}",
        f"-var=role_variables={json.dumps(role_variables)}",
    ]  # fmt: skip


def find_oidc_provider(iam: Any) -> str:
    """ARN of the account's GitHub OIDC provider, or "" when there is none."""
    for item in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
        if item["Arn"].endswith(OIDC_URL_SUFFIX):
            return str(item["Arn"])
    return ""


def projects_in_account(iam: Any) -> set[str]:
    """Project names of every pipeline stack in the account, from its instance roles' path."""
    found: set[str] = set()
    for page in iam.get_paginator("list_roles").paginate(PathPrefix=IAM_PATH_ROOT):
        for role in page.get("Roles", []):
            parts = role.get("Path", "").strip("/").split("/")
            if len(parts) >= 2 and parts[0] == IAM_PATH_ROOT.strip("/"):
                found.add(parts[1])
    return found


def refuse_prefix_clash(project: str, others: set[str], env_name: str) -> None:
    clash = environments.prefix_clash(project, others)
    if clash is not None:
        raise BootstrapError(
            f"envs/{env_name}'s project_name {project!r} and the account's pipeline project "
            f"{clash!r} are prefixes of one another: names like {clash}-db would fall into "
            f"each other's patterns. Choose another project_name in envs/{env_name}/"
            "terraform.tfvars (no prefix of, nor extension of, another project in this account)"
        )


# What bootstrap/state-bucket puts in a bucket's policy and lifecycle configuration, by the Sid
# and rule ID it gives them (tests/test_bootstrap_rerun.py holds these to its main.tf).
STATE_BUCKET_POLICY_SIDS = frozenset({"DenyInsecureTransport"})
STATE_BUCKET_LIFECYCLE_RULES = frozenset({"expire-old-state-versions"})


def refuse_foreign_bucket(s3: Any, bucket: str) -> None:
    """An existing bucket is imported, then configured as a new one: its bucket policy and
    lifecycle rules are replaced. One that holds statements or rules of its own (a bucket of
    that name kept for other states, say) is refused instead of losing them."""
    from botocore.exceptions import ClientError

    own: list[str] = []
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        statements = policy.get("Statement") or []
        for st in statements if isinstance(statements, list) else [statements]:
            if st.get("Sid") not in STATE_BUCKET_POLICY_SIDS:
                own.append(f"bucket policy statement {st.get('Sid') or '(no Sid)'}")
    except ClientError as exc:
        if error_code(exc) != "NoSuchBucketPolicy":
            raise
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules") or []
        own += [f"lifecycle rule {r.get('ID') or '(no ID)'}" for r in rules
                if r.get("ID") not in STATE_BUCKET_LIFECYCLE_RULES]  # fmt: skip
    except ClientError as exc:
        if error_code(exc) != "NoSuchLifecycleConfiguration":
            raise
    if own:
        raise BootstrapError(
            f"the bucket {bucket} already exists in this account with its own "
            f"{', '.join(own)}: make bootstrap would replace its policy and lifecycle rules "
            "with the state bucket's. Give the state bucket another name (make bootstrap "
            f"BUCKET=...), or, if {bucket} is meant for this pipeline alone, remove those and "
            "run it again. Nothing was applied."
        )


def budget_exists(budgets: Any, account: str, name: str) -> bool:
    """Whether the account has a budget of that name; an unanswered question counts as no (the
    apply then says what AWS said)."""
    try:
        budgets.describe_budget(AccountId=account, BudgetName=name)
    except Exception as exc:  # NotFoundException, AccessDenied, no Budgets at this endpoint
        if error_code(exc) not in ("NotFoundException", "AccessDeniedException"):
            raise
        return False
    return True


def refuse_state_elsewhere(
    roles_root: Path,
    account_root: Path,
    stacks: list[environments.Environment],
    projects: set[str],
    budget: str | None,
) -> None:
    """Before anything is applied: roles or a budget this account already has, made by a
    make bootstrap whose local state is not in this checkout (another teammate's clone, a
    fresh clone, or another repository using the same names). Applying would stop half-way
    on EntityAlreadyExists / DuplicateRecordException."""
    legacy = state_file(roles_root).exists()  # moved per environment by this run
    for stack in stacks:
        project = environments.project_name(stack)
        state = state_file(roles_root, stack.name)
        if project in projects and not (legacy or state.exists()):
            raise BootstrapError(
                f"this account already has the pipeline roles of project {project!r} (IAM path "
                f"{IAM_PATH_ROOT}{project}/), but this checkout has no bootstrap state for "
                f"envs/{stack.name} ({state.relative_to(roles_root.parent.parent)}). make "
                "bootstrap keeps its state in the checkout that ran it: run it there, or copy "
                f"{LOCAL_STATE} from there into this checkout and run it again. If another "
                "repository's pipeline uses that project name, choose another project_name in "
                f"envs/{stack.name}/terraform.tfvars. Nothing was applied."
            )
    if budget is not None and not state_file(account_root).exists():
        raise BootstrapError(
            f"this account already has the budget {budget!r}, but this checkout has no state "
            f"for bootstrap/{ACCOUNT_ROOT}: make bootstrap keeps its state in the checkout that "
            f"ran it: run it there, or copy {LOCAL_STATE} from there into this checkout and run "
            "it again. If another repository's pipeline made that budget, give this one a "
            f"budget_name of its own in bootstrap/{ACCOUNT_ROOT}/{ACCOUNT_VARS_FILE}. Nothing "
            "was applied."
        )


_APPLIED = re.compile(r"Resources: (\d+) added, (\d+) changed, (\d+) destroyed")
_CHANGING = re.compile(r"^(\S+): (?:Modifying|Destroying)\.\.\.", re.MULTILINE)


def apply_summary(output: str) -> str:
    """What an apply did, from Terraform's output: the counts, and what it changed or removed
    (a run again changes nothing unless something drifted, or the code changed)."""
    counts = _APPLIED.search(output)
    said = f"{counts[1]} added, {counts[2]} changed, {counts[3]} destroyed" if counts else "applied"
    touched = sorted(set(_CHANGING.findall(output)))
    return said + (f": {', '.join(touched)}" if touched else "")


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


def state_file(root: Path, env_name: str | None = None) -> Path:
    """A root's local state: per environment for github-oidc, else terraform.tfstate."""
    return root / "state" / f"{env_name}.tfstate" if env_name else root / "terraform.tfstate"


def init_roles_root(root: Path, env_name: str, environ: dict[str, str]) -> None:
    """Point github-oidc's local backend at the environment's own state file."""
    terraform(root, "init", "-input=false", "-no-color", "-reconfigure",
              f"-backend-config=path={state_file(root, env_name).relative_to(root)}",
              environ=environ)  # fmt: skip


def in_state(root: Path, address: str, environ: dict[str, str], state: Path | None = None) -> bool:
    state = state or state_file(root)
    if not state.exists():
        return False
    return address in terraform(root, "state", "list", f"-state={state}", environ=environ).split()


def migrate_legacy_state(
    root: Path, stacks: list[environments.Environment], log: Any, environ: dict[str, str]
) -> None:
    """Before environments had a state each, github-oidc kept one terraform.tfstate, with the
    OIDC provider in it: it becomes state/<env>.tfstate of the environment whose state key it
    recorded, and the provider leaves it (bootstrap/account reuses it) instead of being
    destroyed."""
    legacy = state_file(root)
    if not legacy.exists():
        return
    try:
        outputs = json.loads(legacy.read_text(encoding="utf-8")).get("outputs", {})
        key = outputs["repository_variables"]["value"]["TF_STATE_KEY"]
    except (json.JSONDecodeError, KeyError, TypeError):
        key = None
    owner = next((s for s in stacks if s.state_key == key), None)
    if owner is None:
        return  # another environment's run will move it
    target = state_file(root, owner.name)
    if target.exists():
        raise BootstrapError(
            f"both {legacy.relative_to(root.parent)} and {target.relative_to(root.parent)} "
            "exist: keep the one whose roles you use and move the other away"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(legacy, target)
    log(f"bootstrap: moved github-oidc's single state to {target.relative_to(root)}")
    address = "aws_iam_openid_connect_provider.github[0]"
    if in_state(root, address, environ, target):
        terraform(root, "state", "rm", f"-state={target}", address, environ=environ)
        log("bootstrap: the OIDC provider is now bootstrap/account's to reuse (not destroyed)")


def seed_states(s3: Any, bucket: str, stacks: list[environments.Environment], log: Any) -> None:
    """An empty state at each environment's key that has none: the pipeline's roles may list
    only their own key, so S3 answers them 403, not 404, for a state never written, and
    Terraform stops there (gitops.terraform.state)."""
    for stack in stacks:
        assert stack.state_key
        where = f"s3://{bucket}/{stack.state_key}"
        try:
            seeded = seed_empty_state(s3, bucket, stack.state_key)
        except StateError as exc:
            raise BootstrapError(f"envs/{stack.name}: {exc}") from exc
        said = "an empty state written (never deployed)" if seeded else "a state is there, kept"
        log(f"bootstrap: envs/{stack.name} state {where}: {said}")


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


def saved_account_vars(root: Path) -> dict[str, Any]:
    """account.auto.tfvars.json as saved (empty when there is none)."""
    path = root / ACCOUNT_VARS_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except json.JSONDecodeError as exc:
        raise BootstrapError(f"{path} is not valid JSON ({exc}): fix or delete it") from exc
    if not isinstance(saved, dict):
        raise BootstrapError(f"{path} must hold a JSON object: fix or delete it")
    return saved


def budget_settings(
    root: Path, monthly_usd: float | None, emails: list[str] | None
) -> dict[str, Any]:
    """The budget's amount and e-mails: given ones are written to account.auto.tfvars.json
    (other keys there, the operator's, are kept); absent ones are read from it."""
    path = root / ACCOUNT_VARS_FILE
    saved = saved_account_vars(root)
    if monthly_usd is not None:
        saved["budget_monthly_usd"] = monthly_usd
    if emails is not None:
        saved["budget_emails"] = emails
    missing = [k for k in ("budget_monthly_usd", "budget_emails") if k not in saved]
    if missing:
        raise BootstrapError(
            "the account's cost budget needs a monthly amount and an e-mail the first time: "
            "make bootstrap BUDGET_USD=20 BUDGET_EMAIL=you@example.com (kept afterwards in "
            f"bootstrap/account/{ACCOUNT_VARS_FILE})"
        )
    if monthly_usd is not None or emails is not None:
        path.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
    return saved


def run(
    *,
    environ: dict[str, str],
    env_name: str | None = None,
    repo: str | None = None,
    subject_format: str | None = None,
    bucket: str | None = None,
    budget_usd: float | None = None,
    budget_emails: list[str] | None = None,
    create_budget: bool = True,
    bootstrap_dir: Path = BOOTSTRAP_DIR,
    log: Any = print,
    expect_account: str | None = None,
) -> Result:
    refuse_ci(environ)
    stacks = aws_environments(env_name)
    # The state bucket and the account root live in the bucket's region, whichever
    # environments this run bootstraps.
    region = state_region()
    bucket_root = bootstrap_dir / BUCKET_ROOT
    account_root = bootstrap_dir / ACCOUNT_ROOT
    roles_root = bootstrap_dir / ROLES_ROOT
    github_vars = read_github_vars(roles_root)
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
    iam = _client("iam", region, environ)
    others = projects_in_account(iam)
    for stack in stacks:  # before anything is applied: a clash changes nothing
        refuse_prefix_clash(environments.project_name(stack), others, stack.name)
    budget_name = str(saved_account_vars(account_root).get("budget_name") or BUDGET_NAME)
    found_budget = (
        budget_name
        if create_budget
        and budget_exists(_client("budgets", region, environ), account, budget_name)
        else None
    )
    refuse_state_elsewhere(roles_root, account_root, stacks, others, found_budget)
    budget = budget_settings(account_root, budget_usd, budget_emails) if create_budget else {}
    bucket = bucket or f"tfstate-{account}-{region}"
    names = ", ".join(s.name for s in stacks)
    log(f"bootstrap: account {account}, repository {repository} ({fmt} subjects), "
        f"environments {names}")  # fmt: skip

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
            refuse_foreign_bucket(s3, bucket)
            log(f"bootstrap: importing the existing bucket {bucket}")
            terraform(bucket_root, "import", "-no-color", *bucket_vars,
                      "aws_s3_bucket.state", bucket, environ=environ)  # fmt: skip
    out = terraform(bucket_root, "apply", "-auto-approve", "-no-color", *bucket_vars,
                    environ=environ)  # fmt: skip
    log(f"bootstrap: state bucket {bucket} ready ({apply_summary(out)})")
    seed_states(_client("s3", region, environ), bucket, stacks, log)

    # 2. The account: OIDC provider (reused when the account has one this root did not make),
    #    the cost budget. Legacy github-oidc state gives its provider up first.
    migrate_legacy_state(roles_root, stacks, log, environ)
    terraform(account_root, "init", "-input=false", "-no-color", environ=environ)
    reused = ""
    if not in_state(account_root, "aws_iam_openid_connect_provider.github[0]", environ):
        reused = find_oidc_provider(iam)
        if reused:
            log(f"bootstrap: reusing the account's GitHub OIDC provider {reused}")
    account_vars = [
        f"-var=aws_region={region}", f"-var=oidc_provider_arn={reused}",
        f"-var=create_budget={'true' if create_budget else 'false'}",
        f"-var=budget_name={budget_name}",
    ]  # fmt: skip
    out = terraform(account_root, "apply", "-auto-approve", "-no-color", *account_vars,
                    environ=environ)  # fmt: skip
    log(f"bootstrap: account root applied ({apply_summary(out)})")
    provider = json.loads(
        terraform(account_root, "output", "-json", "oidc_provider_arn", environ=environ)
    )
    if create_budget:
        log(f"bootstrap: account budget {budget['budget_monthly_usd']} USD a month, "
            f"e-mails to {', '.join(budget['budget_emails'])}")  # fmt: skip
    else:
        log("bootstrap: no account budget here (AWS Budgets is not emulated)")

    # 3. Each environment's roles, in its own state.
    variables: dict[str, str] = {}
    for stack in stacks:
        init_roles_root(roles_root, stack.name, environ)
        flags = roles_variables(stack, repository=repository, subject_format=fmt, bucket=bucket,
                                account=account, oidc_provider_arn=provider)  # fmt: skip
        out = terraform(roles_root, "apply", "-auto-approve", "-no-color", *flags,
                        environ=environ)  # fmt: skip
        outputs = json.loads(
            terraform(roles_root, "output", "-json", "repository_variables", environ=environ)
        )
        variables.update(select_variables(outputs, workflow_variables(stack)))
        log(f"bootstrap: envs/{stack.name} ({environments.project_name(stack)}, {stack.region}) "
            f"roles ready ({apply_summary(out)})")  # fmt: skip
    log("bootstrap: done. Set these repository variables (make github-setup does it for you):")
    for name, value in variables.items():
        log(f"  gh variable set {name} --body '{value}' -R {repository}")
    return Result(variables=variables, repository=repository, reused_provider=reused,
                  environments=tuple(s.name for s in stacks))  # fmt: skip


def recorded_variables(
    stack: environments.Environment, bootstrap_dir: Path = BOOTSTRAP_DIR
) -> dict[str, str] | None:
    """The repository variables an earlier `make bootstrap` recorded for one environment (read
    from its local state's outputs), or None when it has not been bootstrapped here."""
    path = state_file(bootstrap_dir / ROLES_ROOT, stack.name)
    if not path.exists():
        return None
    try:
        outputs = json.loads(path.read_text(encoding="utf-8")).get("outputs", {})
        return select_variables(outputs["repository_variables"]["value"], workflow_variables(stack))
    except (json.JSONDecodeError, KeyError, TypeError, BootstrapError):
        return None


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
    """A copy of bootstrap/ (and the module it calls) without state, for LocalStack (path-style
    S3), a fake repository and the rehearsal's budget settings."""
    root = workdir / "bootstrap"
    shutil.copytree(
        BOOTSTRAP_DIR,
        root,
        ignore=shutil.ignore_patterns(
            ".terraform", "*.tfstate", "*.tfstate.*", "state", GITHUB_VARS_FILE, ACCOUNT_VARS_FILE
        ),
    )
    shutil.copytree(MODULES_DIR / "instance-roles", workdir / "modules" / "instance-roles")
    for sub in (BUCKET_ROOT, ACCOUNT_ROOT, ROLES_ROOT):  # LocalStack's S3 answers path-style only
        (root / sub / "localstack_override.tf").write_text(
            'provider "aws" {\n  s3_use_path_style = true\n}\n', encoding="utf-8"
        )
    (root / ROLES_ROOT / GITHUB_VARS_FILE).write_text(
        json.dumps({"repository": repo, **REHEARSAL_IDS}, indent=2) + "\n", encoding="utf-8"
    )
    (root / ACCOUNT_ROOT / ACCOUNT_VARS_FILE).write_text(
        json.dumps(REHEARSAL_BUDGET, indent=2) + "\n", encoding="utf-8"
    )
    return root


def _teardown(root: Path, repository: str, bucket: str, env: dict[str, str]) -> None:
    """Remove what a rehearsal applied: every environment's roles, the account root, the bucket."""
    stacks = aws_environments()
    roles_root, account_root = root / ROLES_ROOT, root / ACCOUNT_ROOT
    provider = f"arn:aws:iam::{LOCALSTACK_ACCOUNT}:oidc-provider{OIDC_URL_SUFFIX}"
    if state_file(account_root).exists():
        out = terraform(account_root, "output", "-json", "oidc_provider_arn", environ=env)
        provider = json.loads(out) if out.strip() else provider
    for stack in stacks:
        if state_file(roles_root, stack.name).exists():
            init_roles_root(roles_root, stack.name, env)
            flags = roles_variables(stack, repository=repository, subject_format="name",
                                    bucket=bucket, account=LOCALSTACK_ACCOUNT,
                                    oidc_provider_arn=provider)  # fmt: skip
            terraform(roles_root, "destroy", "-auto-approve", "-no-color", *flags, environ=env)
    region = state_region()
    if state_file(account_root).exists():
        terraform(account_root, "destroy", "-auto-approve", "-no-color",
                  f"-var=aws_region={region}", "-var=create_budget=false",
                  f"-var=budget_name={BUDGET_NAME}", environ=env)  # fmt: skip
    if not state_file(root / BUCKET_ROOT).exists():
        return  # this run never reached the bucket: one there is another run's, left alone
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
    env_name: str | None = None,
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
    stack_region = aws_environments(env_name)[0].region
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
            env_name=env_name,
            repo=repository,
            subject_format=subject_format,
            bucket=REHEARSAL_BUCKET,
            create_budget=False,  # LocalStack's free edition has no AWS Budgets
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
            shutil.copytree(workdir / "modules", keep_in / "modules", dirs_exist_ok=True)
            log(f"rehearsal: kept the applied resources; their Terraform state is in {kept}")
            applied = False
            if emulator is not None and emulator.started_by_us:
                # What it applied lives in this emulator alone: stopping it would lose it.
                state = keep_in / "localstack.json"
                localstack.save(emulator, state)
                emulator = None
                log(f"rehearsal: LocalStack left running at {endpoint} with them (AWS_ENDPOINT_URL="
                    f"{endpoint} and dummy keys to look); stop it with `.venv/bin/gitops "
                    f"localstack stop --state-file {state}`")  # fmt: skip
        log("rehearsal: applied and checked; `make bootstrap` prints these lines for your account")
        return result
    finally:
        # A reused emulator gets back what it had (also after a failure or Ctrl-C); one
        # started here is stopped below, and what it held goes with it.
        if applied and emulator is not None and not emulator.started_by_us:
            log("rehearsal: removing what it applied from the reused LocalStack")
            try:
                _teardown(root, repository, REHEARSAL_BUCKET, env)
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
    parser.add_argument(
        "--env", default=None, help="one AWS environment (envs/NAME); default: every one"
    )
    parser.add_argument(
        "--budget-usd", type=float, default=None,
        help="the account budget's monthly amount in USD (needed once; kept afterwards)",
    )  # fmt: skip
    parser.add_argument(
        "--budget-email", default=None,
        help="comma-separated addresses the account budget e-mails (needed once; kept)",
    )  # fmt: skip
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
    if args.rehearse and (args.budget_usd is not None or args.budget_email):
        parser.error("--budget-usd and --budget-email do not go with --rehearse (no Budgets there)")
    try:
        if args.rehearse:
            if args.bucket:
                parser.error("--bucket does not go with --rehearse")
            rehearse(
                environ=dict(os.environ if environ is None else environ),
                endpoint=args.endpoint,
                repo=args.repo or None,
                subject_format=args.subject_format,
                env_name=args.env,
                keep_in=args.keep_in,
            )
            return 0
        run(
            environ=dict(os.environ if environ is None else environ),
            repo=args.repo or None,
            subject_format=args.subject_format,
            bucket=args.bucket or None,
            env_name=args.env,
            budget_usd=args.budget_usd,
            budget_emails=(
                [e.strip() for e in args.budget_email.split(",") if e.strip()]
                if args.budget_email
                else None
            ),
        )
    except BootstrapError as exc:
        print(f"bootstrap: FAILED: {exc}", file=sys.stderr)
        print(
            "bootstrap: fix that and run it again: every step is idempotent, and what the steps "
            "before it applied is kept (their state is in bootstrap/)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("bootstrap: interrupted", file=sys.stderr)
        return 130
    return 0
