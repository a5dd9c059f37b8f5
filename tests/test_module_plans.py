"""Plans of the db and web modules alone, offline: what real AWS would bill, refuse or need.

A throwaway root calls modules/db (or modules/ec2) with made-up IDs and a provider whose every
endpoint is a closed local port, and runs `terraform plan -refresh=false`. Creating these
resources needs no API call, so the plan is what the module asks AWS for; a refusal in the
module's validation is an error that names the problem. The tests read the plan's JSON.

- MySQL 8.4, its own parameter group family, Extended Support disabled, and a version past the
  end of RDS standard support refused at plan time with the date (modules/db/mysql_support.json).
- RDS log exports go to log groups Terraform creates with a retention, and slowquery is
  exported only with the slow query log on.
- ec2 db mode refused where its setup script has no way out of the private subnets.
- The web role can be reached by Session Manager; the Compose download is checked by sha256.
- The web user data EC2 gets (gzipped, with the real app files and the longest values RDS can
  return) stays under a budget with headroom below EC2's 16 KB.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import json
import re
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from gitops.pipeline.smoke import USER_DATA_LIMIT
from gitops.web.server import shipped_files

from tests.tf_sandbox import REPO_ROOT, init, terraform, tf_environ

CLOSED = "http://127.0.0.1:9"  # discard port: nothing answers, so any API call would fail
SUPPORT = json.loads((REPO_ROOT / "modules" / "db" / "mysql_support.json").read_text())
PROVIDER = f"""
terraform {{
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = "5.100.0"
    }}
  }}
}}

provider "aws" {{
  region                      = "ap-northeast-2"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  max_retries                 = 1
  endpoints {{
    ec2            = "{CLOSED}"
    iam            = "{CLOSED}"
    rds            = "{CLOSED}"
    logs           = "{CLOSED}"
    secretsmanager = "{CLOSED}"
    ssm            = "{CLOSED}"
    sts            = "{CLOSED}"
  }}
}}
"""


def db_call(label: str, **overrides: str) -> str:
    """A call of modules/db with made-up IDs; overrides are HCL expressions by argument."""
    args = {
        "name": '"study-seoul"',
        "mode": '"rds"',
        "region": '"ap-northeast-2"',
        "vpc_id": '"vpc-0123456789abcdef0"',
        "subnet_ids": '["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]',
        "allowed_security_group_id": '"sg-0123456789abcdef0"',
        "schema_sql": '"CREATE TABLE IF NOT EXISTS t (id INT);"',
        "ami_id": '"ami-0123456789abcdef0"',
        "ec2_private_ip": '"10.10.11.10"',
        "instance_profile": "module.roles.db_instance_profile",
        "identifier": "module.roles.rds_identifier",
        "secret_name_prefix": "module.roles.secret_name_prefix",
        **overrides,
    }
    body = "\n".join(f"  {key} = {value}" for key, value in args.items())
    return f'module "{label}" {{\n  source = "{REPO_ROOT / "modules" / "db"}"\n{body}\n}}\n'


# Inputs the db module must refuse, each planned on its own: Terraform stops at the first
# failed validation, so one plan would report one refusal only.
REFUSED = {
    "db_80": {"rds_engine_version": "8.0"},
    "db_57": {"rds_engine_version": "5.7"},
    "db_91": {"rds_engine_version": "9.1"},
    "db_ec2_no_egress": {"mode": "ec2", "private_subnet_egress": "false"},
}
VARIABLES = """
variable "mode" {
  type = string
}
variable "rds_engine_version" {
  type    = string
  default = null
}
variable "private_subnet_egress" {
  type    = bool
  default = false
}
"""

WEB_CALL = f"""
module "web" {{
  source = "{REPO_ROOT / "modules" / "ec2"}"

  name          = "study-seoul"
  region        = "ap-northeast-2"
  vpc_id        = "vpc-0123456789abcdef0"
  vpc_cidr      = "10.10.0.0/16"
  subnet_id     = "subnet-0123456789abcdef0"
  ami_id        = module.base.ami_id
  app_files     = {{ "app.py" = "print(1)" }}
  db_host       = "db.example.internal"
  db_name       = "app"
  db_user       = "app"
  db_secret_arn = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:db-AbCdEf"

  instance_profile = module.roles.web_instance_profile
}}

output "user_data" {{
  value = module.web.user_data
}}
"""


BASE_CALL = f"""
module "base" {{
  source = "{REPO_ROOT / "modules" / "instance-base"}"

  ami_id = "ami-0123456789abcdef0"
}}

module "roles" {{
  source = "{REPO_ROOT / "modules" / "instance-roles"}"

  project_name = "study-seoul"
  region       = "ap-northeast-2"
  account_id   = "123456789012"
}}
"""


def make_root(path: Path, call: str) -> Path:
    """A root of the provider above and call, initialised from the project's provider mirror."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "main.tf").write_text(textwrap.dedent(PROVIDER) + BASE_CALL + call, encoding="utf-8")
    init(path, tf_environ(CLOSED))
    return path


@pytest.fixture(scope="module")
def good_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The db module in rds mode (Seoul's shape) and the web module."""
    return make_root(tmp_path_factory.mktemp("good-root"), db_call("db") + WEB_CALL)


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """stderr (whitespace squashed) of a plan of each refused input, planned side by side."""
    call = VARIABLES + db_call(
        "db",
        mode="var.mode",
        rds_engine_version="var.rds_engine_version",
        private_subnet_egress="var.private_subnet_egress",
    )
    root = make_root(tmp_path_factory.mktemp("refused-root"), call)

    def run(args: dict[str, str]) -> str:
        var_args = [f"-var={k}={v}" for k, v in {"mode": "rds", **args}.items()]
        code, stderr, _ = plan(root, *var_args, out=None)
        assert code != 0, f"the db module accepted {args}"
        return stderr

    with ThreadPoolExecutor(max_workers=len(REFUSED)) as pool:
        return dict(zip(REFUSED, pool.map(run, REFUSED.values()), strict=True))


def refusal_of(refused: dict[str, str], label: str) -> str:
    """What Terraform said when it refused REFUSED[label], checked to be a validation error."""
    text = refused[label]
    assert "Invalid value for variable" in text, text
    return text


def plan(
    root: Path, *var_args: str, out: str | None = "plan.tfplan"
) -> tuple[int, str, dict[str, Any]]:
    """(exit code, stderr with whitespace squashed, plan JSON or {} on failure or no out)."""
    env = tf_environ(CLOSED)
    out_args = [f"-out={root / out}"] if out else []
    proc = terraform(
        root, "plan", "-input=false", "-no-color", "-lock=false", "-refresh=false",
        *out_args, *var_args, env=env, timeout=300,
    )  # fmt: skip
    stderr = re.sub(r"\s+", " ", proc.stderr)
    if proc.returncode != 0 or not out:
        return proc.returncode, stderr, {}
    shown = terraform(root, "show", "-json", str(root / out), env=env, check=True)
    return 0, stderr, json.loads(shown.stdout)


def planned(doc: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [
        rc["change"]["after"]
        for rc in doc["resource_changes"]
        if rc["type"] == rtype and "create" in rc["change"]["actions"]
    ]


# --- RDS: engine version, Extended Support, parameter group, logs ----------------------------


@pytest.fixture(scope="module")
def good_plan(good_root: Path) -> dict[str, Any]:
    code, stderr, doc = plan(good_root)
    assert code == 0, stderr
    return doc


@pytest.mark.slow  # reads a full plan of the module
def test_rds_runs_mysql_84_without_paid_extended_support(good_plan: dict[str, Any]) -> None:
    [db] = planned(good_plan, "aws_db_instance")
    assert db["engine"] == "mysql"
    assert db["engine_version"].split(".")[:2] == ["8", "4"]
    assert db["engine_lifecycle_support"] == "open-source-rds-extended-support-disabled"
    [group] = planned(good_plan, "aws_db_parameter_group")
    assert group["family"] == "mysql8.4"


def test_the_default_engine_is_inside_rds_standard_support() -> None:
    """Fails once the module's default major version leaves standard support: move it on."""
    major = default_engine_major()
    end = SUPPORT["end_of_standard_support"].get(major)
    assert end, f"MySQL {major} is not in modules/db/mysql_support.json"
    assert datetime.date.fromisoformat(end) > datetime.datetime.now(datetime.UTC).date(), (
        f"RDS standard support for MySQL {major} ended on {end}"
    )


def default_engine_major() -> str:
    text = (REPO_ROOT / "modules" / "db" / "variables.tf").read_text()
    block = text[text.index('variable "rds_engine_version"') :]
    default = re.search(r'default\s*=\s*"([^"]+)"', block)
    assert default, "rds_engine_version has no default"
    return ".".join(default.group(1).split(".")[:2])


def test_ci_tests_against_the_mysql_major_version_seoul_runs() -> None:
    images = [
        m.group(1)
        for path in sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
        for m in re.finditer(r"image:\s*[\"']?mysql:([0-9.]+)", path.read_text())
    ]
    assert images, "no mysql service image in the workflows"
    assert {".".join(i.split(".")[:2]) for i in images} == {default_engine_major()}


@pytest.mark.slow  # reads a full plan of the module
@pytest.mark.parametrize(("label", "version"), [("db_80", "8.0"), ("db_57", "5.7")])
def test_a_version_past_standard_support_is_refused_at_plan_time(
    refusals: str, label: str, version: str
) -> None:
    major = ".".join(version.split(".")[:2])
    end = SUPPORT["end_of_standard_support"][major]
    assert datetime.date.fromisoformat(end) <= datetime.datetime.now(datetime.UTC).date()
    assert f"RDS standard support for MySQL {major} ended on {end}" in refusal_of(refusals, label)


@pytest.mark.slow  # reads a full plan of the module
def test_a_major_version_missing_from_the_table_is_refused(refusals: dict[str, str]) -> None:
    assert "its major version is not in modules/db/mysql_support.json" in refusal_of(
        refusals, "db_91"
    )


@pytest.mark.slow  # reads a full plan of the module
def test_rds_logs_go_to_terraform_managed_groups_with_retention(good_plan: dict[str, Any]) -> None:
    [db] = planned(good_plan, "aws_db_instance")
    groups = {g["name"]: g for g in planned(good_plan, "aws_cloudwatch_log_group")}
    exports = db["enabled_cloudwatch_logs_exports"]
    assert exports, "no log exports left: then drop this test and the log groups with them"
    for log in exports:
        name = f"/aws/rds/instance/{db['identifier']}/{log}"
        assert name in groups, f"RDS would create {name} itself, never expiring"
        assert groups[name]["retention_in_days"] and groups[name]["retention_in_days"] > 0
    # The identifier is fixed: a prefix would make a new name, and new groups, each cycle.
    assert db["identifier"] == "study-seoul-db"
    assert db.get("identifier_prefix") in (None, "")


@pytest.mark.slow  # reads a full plan of the module
def test_slowquery_is_exported_only_with_the_slow_query_log_on(good_plan: dict[str, Any]) -> None:
    [db] = planned(good_plan, "aws_db_instance")
    [group] = planned(good_plan, "aws_db_parameter_group")
    params = {p["name"]: p["value"] for p in group["parameter"]}
    if "slowquery" in db["enabled_cloudwatch_logs_exports"]:
        assert params.get("slow_query_log") == "1"
        assert params.get("log_output") == "FILE"


# --- ec2 db mode on real AWS ------------------------------------------------------------------


@pytest.mark.slow  # reads a full plan of the module
def test_ec2_mode_without_a_way_out_of_the_private_subnets_is_refused(
    refusals: dict[str, str],
) -> None:
    text = refusal_of(refusals, "db_ec2_no_egress")
    assert 'mode "ec2" needs a way out of the private subnets' in text
    assert "enable_nat_gateway = true" in text


# --- web tier: Session Manager, Compose checksum ---------------------------------------------


@pytest.mark.slow  # reads a full plan of the module
def test_the_web_role_can_be_reached_by_session_manager(good_plan: dict[str, Any]) -> None:
    """The agent's registration and message channels are in the web role's own policy. No
    managed policy is attached: AmazonSSMManagedInstanceCore would also let the instance read
    every SSM parameter of the account, and every right the roles have must be in the policies
    tests/test_bootstrap_iam.py evaluates."""
    assert planned(good_plan, "aws_iam_role_policy_attachment") == []
    [web] = [
        rc["change"]["after"]
        for rc in good_plan["resource_changes"]
        if rc["type"] == "aws_iam_role_policy" and rc["address"].endswith('["web"]')
    ]
    actions = {a for st in json.loads(web["policy"])["Statement"] for a in _as_list(st["Action"])}
    assert {"ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel",
            "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
            "ssmmessages:OpenDataChannel"} <= actions  # fmt: skip
    assert not {a for a in actions if a.startswith("ssm:Get")}, actions


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.slow  # reads a full plan of the module
def test_the_compose_binary_is_checked_before_it_is_installed(good_plan: dict[str, Any]) -> None:
    script = good_plan["planned_values"]["outputs"]["user_data"]["value"]
    pins = dict(
        re.findall(r"(x86_64|aarch64)\) COMPOSE_ARCH=\1 COMPOSE_SHA256=([0-9a-f]+) ", script)
    )
    assert set(pins) == {"x86_64", "aarch64"}, script
    assert all(len(sha) == 64 for sha in pins.values()) and len(set(pins.values())) == 2
    check = script.index("sha256sum --check --strict")
    install = script.index("/usr/local/lib/docker/cli-plugins/docker-compose")
    download = script.index("releases/download/$COMPOSE_VERSION/docker-compose-linux-$COMPOSE_ARCH")
    assert download < check < install
    # set -e makes a failed check stop the boot before anything runs the binary: it must be
    # the first command the script runs, whatever comments come before it
    commands = [ln for ln in script.splitlines() if ln.strip() and not ln.startswith("#")]
    assert commands[0] == "set -euo pipefail", commands[:3]


# --- IAM eventual consistency, IAM database authentication ----------------------------------


def module_resources(doc: dict[str, Any], call: str) -> dict[str, dict[str, Any]]:
    """The configuration's resources of one module call, by address inside the module."""
    module = doc["configuration"]["root_module"]["module_calls"][call]["module"]
    return {r["address"]: r for r in module["resources"]}


@pytest.mark.slow  # reads a full plan of the module
@pytest.mark.parametrize("tier", ["web", "db"])
def test_each_instance_boots_after_its_role_may_read_the_secret(
    good_plan: dict[str, Any], tier: str
) -> None:
    """Boot reads the secret at once: where a root makes the roles itself (an emulator), the
    instance profile the instance is handed is only known once the role's policy exists."""
    outputs = good_plan["configuration"]["root_module"]["module_calls"]["roles"]["module"]
    depends = outputs["outputs"][f"{tier}_instance_profile"].get("depends_on", [])
    assert "aws_iam_role_policy.this" in depends


@pytest.mark.slow  # reads a full plan of the module
def test_rds_leaves_iam_database_authentication_off(good_plan: dict[str, Any]) -> None:
    """Nothing logs in with IAM tokens (the app has its own generated password)."""
    [db] = planned(good_plan, "aws_db_instance")
    assert db["iam_database_authentication_enabled"] is False


# --- provider floors ---------------------------------------------------------------------------

# What a module's code uses, and the hashicorp/aws release that brought it (the provider's
# CHANGELOG; secret_string_wo per the v5.88.0 milestone of hashicorp/terraform-provider-aws#41371).
NEEDS = {
    "engine_lifecycle_support": (5, 59, 0),
    "secret_string_wo": (5, 88, 0),
}


@pytest.mark.parametrize("module", ["vpc", "ec2", "db"])
def test_each_module_asks_for_a_provider_that_has_what_it_uses(module: str) -> None:
    directory = REPO_ROOT / "modules" / module
    versions = (directory / "versions.tf").read_text()
    floor = re.search(
        r'source\s*=\s*"hashicorp/aws".*?\bversion\s*=\s*">=\s*([0-9]+(?:\.[0-9]+)*)"',
        versions,
        re.S,
    )
    assert floor, f"modules/{module}/versions.tf has no >= floor for hashicorp/aws"
    have = tuple(int(x) for x in floor.group(1).split("."))
    have += (0,) * (3 - len(have))
    code = "\n".join(p.read_text() for p in directory.glob("*.tf") if p.name != "versions.tf")
    for argument, needed in NEEDS.items():
        if re.search(rf"^\s*{argument}\s*=", code, re.M):
            assert have >= needed, f"modules/{module} uses {argument}: needs >= {needed}"


# --- web user data: what EC2 gets, with a budget under its limit ------------------------------

# 2 KB left under EC2's 16 KB for the app to grow before a change has to make room.
USER_DATA_BUDGET = 14 * 1024


def unshrinkable(length: int, seed: str) -> str:
    """Lowercase letters and digits that gzip cannot shrink the way a repeated letter shrinks."""
    text = ""
    while len(text) < length:
        seed = hashlib.sha256(seed.encode()).hexdigest()
        text += "".join(c if c.isdigit() else chr(ord("a") + int(c, 16)) for c in seed)
    return text[:length]


# The longest endpoint RDS can return: a 63-character DB instance identifier (the limit of
# CreateDBInstance), RDS's 12-character key of the account and region, the longest region name
# and the China partition's suffix. The RDS-managed master secret's ARN likewise, and a
# 32-character project name (envs/common/variables.tf allows no more).
LONGEST = {
    "name": '"' + "p" + unshrinkable(31, "name") + '"',
    "region": '"ap-southeast-5"',
    "db_host": (
        f'"{unshrinkable(63, "id")}.{unshrinkable(12, "key")}.ap-southeast-5.rds.amazonaws.com.cn"'
    ),
    "db_secret_arn": (
        '"arn:aws-us-gov:secretsmanager:ap-southeast-5:123456789012:secret:rds!db-'
        f"{unshrinkable(8, 'u1')}-{unshrinkable(4, 'u2')}-{unshrinkable(4, 'u3')}-"
        f'{unshrinkable(4, "u4")}-{unshrinkable(12, "u5")}-{unshrinkable(6, "sfx")}"'
    ),
}


def shipped_app_files() -> list[str]:
    """The app files the stack puts in the web user data (envs/common/stack.tf)."""
    stack = (REPO_ROOT / "envs" / "common" / "stack.tf").read_text()
    listed = re.search(r"app_files\s*=\s*\{ for f in \[(.*?)\]", stack)
    assert listed, "envs/common/stack.tf no longer lists the app files as this test expects"
    return re.findall(r'"([\w.]+)"', listed.group(1))


def test_the_stack_ships_exactly_what_the_instance_builds_and_runs() -> None:
    assert set(shipped_app_files()) == {
        "requirements.txt", "Dockerfile", "compose.yaml", "nginx.conf", *shipped_files()
    }  # fmt: skip


@pytest.fixture(scope="module")
def longest_user_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """(what EC2 is given, decoded from base64; the script) for the web module in rds mode
    with the real app files and the longest values, as Terraform plans it."""
    names = ", ".join(f'"{n}"' for n in shipped_app_files())
    call = f"""
module "web" {{
  source = "{REPO_ROOT / "modules" / "ec2"}"

  name                = {LONGEST["name"]}
  region              = {LONGEST["region"]}
  vpc_id              = "vpc-0123456789abcdef0"
  vpc_cidr            = "10.10.0.0/16"
  subnet_id           = "subnet-0123456789abcdef0"
  ami_id              = module.base.ami_id
  app_files           = {{ for f in [{names}] : f => file("{REPO_ROOT / "app"}/${{f}}") }}
  db_host             = {LONGEST["db_host"]}
  db_name             = "app"
  db_user             = "app"
  db_secret_arn       = {LONGEST["db_secret_arn"]}
  db_secret_is_master = true

  instance_profile = module.roles.web_instance_profile
}}

output "user_data" {{
  value = module.web.user_data
}}
"""
    root = make_root(tmp_path_factory.mktemp("longest-user-data"), call)
    code, stderr, doc = plan(root)
    assert code == 0, stderr
    [instance] = [
        rc["change"]["after"]
        for rc in doc["resource_changes"]
        if rc["address"] == "module.web.aws_instance.this"
    ]
    given = base64.b64decode(instance["user_data_base64"])
    return given, doc["planned_values"]["outputs"]["user_data"]["value"]


@pytest.mark.slow  # a full plan of the module with the longest values
def test_the_web_user_data_fits_ec2_with_room_to_spare(
    longest_user_data: tuple[bytes, str],
) -> None:
    given, script = longest_user_data
    print(f"web user data: {len(script.encode())} bytes rendered, {len(given)} bytes to EC2")
    assert len(given) <= USER_DATA_BUDGET < USER_DATA_LIMIT, (
        f"the web user data EC2 gets is {len(given)} bytes, over the budget of "
        f"{USER_DATA_BUDGET} (EC2 refuses more than {USER_DATA_LIMIT}): make room"
    )
    # what cloud-init runs once it has unpacked it: the script, with the longest values in it
    assert gzip.decompress(given).decode("utf-8") == script
    assert unshrinkable(63, "id") in script and "rds!db-" in script


@pytest.mark.slow  # a plan of the module
def test_a_file_that_would_end_its_here_document_early_is_refused(tmp_path: Path) -> None:
    call = WEB_CALL.replace('{ "app.py" = "print(1)" }', '{ "app.py" = "x\\nAPP_FILE_END\\ny" }')
    assert call != WEB_CALL
    root = make_root(tmp_path, call)
    code, stderr, _ = plan(root, out=None)
    assert code != 0 and "must not hold the line APP_FILE_END" in stderr, stderr
