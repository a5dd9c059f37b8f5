"""Smoke-test an applied stack: user data, database, app and network, one line per check.

    gitops smoke --env NAME [--report FILE]      (make smoke ENV=NAME)

An emulated environment (envs/localstack): the instances do not run, so the database checks go
to the MySQL stand-in `make up` configured (host and port from .artifacts/e2e/connection.env,
or DB_HOST and DB_PORT), with the app's own settings and password (from the emulated secret),
and the web instance's two services run locally with the environment decoded from its user
data: gunicorn as the image runs it, behind app/nginx.conf under the machine's nginx
(gitops.web.proxy). An AWS environment (envs/seoul, ...): the database is private, so it is
checked through the app's /health on the web instance's public IP, retried while it boots: until
the boot's deadline (BOOT_DEADLINE in its user data, counted from the instance's launch) and a
margin have passed, by when every boot has ended. A boot that failed answers 503 naming its
step, and the check stops at once with it.

Every check prints PASS/FAIL/SKIP with its reason; any FAIL exits 1. A JSON report goes to
.artifacts/e2e/smoke.json (emulated) or .artifacts/smoke-NAME.json (AWS).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitops import aws
from gitops.paths import ARTIFACTS_DIR, E2E_DIR
from gitops.pipeline.connection import read_connection_env
from gitops.terraform import runner as tf
from gitops.terraform.replace import WEB_INSTANCE

USER_DATA_LIMIT = 16 * 1024  # EC2's limit on raw user data (before base64; gzipped if so)
GZIP_MAGIC = b"\x1f\x8b"
PLACEHOLDER = re.compile(r"\$\{[^}]*\}|%\{[^}]*\}")
KOREAN_TEXT = "스모크 테스트: 테라폼으로 만든 DB에 한국어가 그대로 저장되는지"
# The web boot's deadline, as its user data sets it (seconds after the instance started).
BOOT_DEADLINE = re.compile(r"^BOOT_DEADLINE=(\d+)$", re.M)
# After the deadline: cloud-init starting the script late, and the failure page starting.
BOOT_MARGIN = 180


class CheckFailed(Exception):
    """A check's reason for failing, shown on its FAIL line."""


@dataclass
class Result:
    name: str
    status: str  # PASS, FAIL or SKIP
    detail: str
    seconds: float


@dataclass
class Context:
    env: str
    outputs: dict[str, Any]
    endpoint: str | None
    region: str
    standin: tuple[str, int] | None = None  # emulated: where the DB stand-in listens

    def client(self, service: str) -> Any:
        return aws.client(service, self.region, self.endpoint)


# --- user data ------------------------------------------------------------------------------


def stored_user_data(ctx: Context, instance_id: str) -> bytes:
    """The user data EC2 holds for the instance, as given (gzipped or not)."""
    attr = ctx.client("ec2").describe_instance_attribute(
        InstanceId=instance_id, Attribute="userData"
    )
    encoded = attr.get("UserData", {}).get("Value")
    if not encoded:
        raise CheckFailed(f"instance {instance_id} has no user data")
    return base64.b64decode(encoded)


def unpacked(given: bytes) -> str:
    """The script cloud-init runs: gzipped user data is unpacked first, as cloud-init does."""
    return (gzip.decompress(given) if given[:2] == GZIP_MAGIC else given).decode("utf-8")


def verify_user_data(given: bytes, rendered: str, what: str) -> str:
    """The checks every instance's user data must pass; returns a summary."""
    size = len(given)
    if size > USER_DATA_LIMIT:
        raise CheckFailed(f"{what} user data is {size} bytes, over EC2's {USER_DATA_LIMIT}")
    stored = unpacked(given)
    if stored != rendered:
        diff = next(
            (
                i + 1
                for i, (a, b) in enumerate(
                    zip(stored.splitlines(), rendered.splitlines(), strict=False)
                )
                if a != b
            ),
            min(len(stored.splitlines()), len(rendered.splitlines())) + 1,
        )
        raise CheckFailed(
            f"{what} user data stored on the instance differs from what Terraform rendered "
            f"(first difference at line {diff}): it was changed outside Terraform"
        )
    leftover = PLACEHOLDER.search(stored)
    if leftover:
        raise CheckFailed(f"{what} user data has an unrendered placeholder {leftover.group(0)!r}")
    syntax = subprocess.run(["bash", "-n"], input=stored, text=True, capture_output=True)
    if syntax.returncode != 0:
        raise CheckFailed(f"{what} user data is not valid bash: {syntax.stderr.strip()}")
    packed = f" gzipped ({len(stored.encode())} unpacked)" if given[:2] == GZIP_MAGIC else ""
    return f"{size} bytes{packed}, identical to the rendering, bash -n clean"


def app_env_from_user_data(user_data: str) -> dict[str, str]:
    """The app.env the web user data writes (DB_HOST, DB_PORT, ...)."""
    match = re.search(r"<<'APP_ENV_END'\n(.*?)\nAPP_ENV_END", user_data, re.S)
    if not match:
        raise CheckFailed("web user data writes no app.env block")
    pairs = (line.split("=", 1) for line in match.group(1).splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def check_web_user_data(ctx: Context) -> str:
    given = stored_user_data(ctx, ctx.outputs["web_instance_id"])
    summary = verify_user_data(given, ctx.outputs["web_user_data"], "web")
    app_env = app_env_from_user_data(unpacked(given))
    if app_env.get("DB_HOST") != str(ctx.outputs["db_address"]):
        raise CheckFailed(
            f"web user data configures DB_HOST={app_env.get('DB_HOST')!r} but the db module's "
            f"address is {ctx.outputs['db_address']!r}"
        )
    if app_env.get("DB_PORT") != str(ctx.outputs["db_port"]):
        raise CheckFailed(f"web user data configures DB_PORT={app_env.get('DB_PORT')!r}")
    if "DB_PASS" in app_env:
        raise CheckFailed("web user data carries a database password in clear text")
    return f"{summary}; DB_HOST={app_env['DB_HOST']} matches db_address"


def check_db_user_data(ctx: Context) -> str:
    if ctx.outputs.get("db_mode") != "ec2":
        raise SkipCheck("rds mode: no database instance, RDS runs the server")
    given = stored_user_data(ctx, ctx.outputs["db_instance_id"])
    summary = verify_user_data(given, ctx.outputs["db_setup_user_data"], "db")
    if ctx.outputs["db_password_secret_arn"] not in unpacked(given):
        raise CheckFailed("db setup script does not read the password from the module's secret")
    private_ip = instance(ctx, ctx.outputs["db_instance_id"]).get("PrivateIpAddress")
    if private_ip != ctx.outputs["db_address"]:
        raise CheckFailed(
            f"db instance has private IP {private_ip}, but the app is configured with "
            f"db_address {ctx.outputs['db_address']}"
        )
    return f"{summary}; the instance holds db_address {private_ip}"


class SkipCheck(Exception):
    """This check does not apply here; the reason is shown on its SKIP line."""


# --- database and app ------------------------------------------------------------------------


def app_settings(ctx: Context) -> dict[str, str]:
    """What the app would get: its user data's app.env, the DB host moved to the stand-in."""
    env = app_env_from_user_data(ctx.outputs["web_user_data"])
    env["DB_SECRET_ARN"] = str(ctx.outputs["db_password_secret_arn"])  # read by boot, not app
    if ctx.standin is not None:
        env["DB_HOST"], env["DB_PORT"] = ctx.standin[0], str(ctx.standin[1])
    if ctx.endpoint:
        env["AWS_ENDPOINT_URL"] = ctx.endpoint
        env.update(aws.DUMMY_CREDENTIALS)
    return env


def db_password(ctx: Context, secret_arn: str) -> str:
    value = ctx.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    return json.loads(value)["password"]


def check_database(ctx: Context) -> str:
    import pymysql

    env = app_settings(ctx)
    password = db_password(ctx, env["DB_SECRET_ARN"])
    marker = f"{KOREAN_TEXT} [{secrets.token_hex(4)}]"
    try:
        conn = pymysql.connect(
            host=env["DB_HOST"], port=int(env["DB_PORT"]), user=env["DB_USER"],
            password=password, database=env["DB_NAME"], charset="utf8mb4",
            autocommit=True, connect_timeout=5,
        )  # fmt: skip
    except pymysql.MySQLError as exc:
        raise CheckFailed(
            f"cannot connect to the database at {env['DB_HOST']}:{env['DB_PORT']} as the app "
            f"would ({type(exc).__name__}: {str(exc).replace(password, '***')}); is the "
            "stand-in running? `make up` starts it"
        ) from None
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO study_log (content) VALUES (%s)", (marker,))
        row_id = cur.lastrowid
        try:
            cur.execute("SELECT content FROM study_log WHERE id = %s", (row_id,))
            back = cur.fetchone()
            if back is None or back[0] != marker:
                raise CheckFailed(f"read back {back!r} instead of the Korean text written")
            cur.execute("SELECT COUNT(*) FROM study_log")
            count = cur.fetchone()[0]
        finally:
            cur.execute("DELETE FROM study_log WHERE id = %s", (row_id,))
    where = f"{env['DB_USER']}@{env['DB_HOST']}:{env['DB_PORT']}/{env['DB_NAME']}"
    return f"{where}: Korean row round-tripped, {count} row(s), cleaned up"


def http_json(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode("utf-8") if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (our own app)
            return resp.status, json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        try:
            return exc.code, json.loads(text)
        except ValueError:
            return exc.code, text


class BootFailed(CheckFailed):
    """The web instance's boot stopped; its port 80 names the step (the boot script's page)."""


def boot_failed_hint(ctx: Context) -> str:
    """What to do once the web instance will not serve: read why, then re-create it."""
    env, instance = ctx.env, ctx.outputs.get("web_instance_id", "<web_instance_id>")
    return (
        f"read why on the instance (Session Manager: `aws ssm start-session --target {instance}`,"
        " then `sudo cat /var/lib/app-boot/status; sudo tail -n 50 /var/log/app-bootstrap.log`;"
        f" or `aws ec2 get-console-output --latest --instance-id {instance}`), fix the cause, "
        "then re-create the instance through the pipeline: run the deploy workflow with "
        f"replace = {WEB_INSTANCE} (Actions > deploy > Run workflow), or locally "
        f"`make plan ENV={env} REPLACE={WEB_INSTANCE}`, review it, and "
        f"`make apply ENV={env} PLAN=.artifacts/plans/{env}.tfplan` "
        '(docs/RELIABILITY.md, "When a boot fails")'
    )


def exercise_app(base_url: str) -> str:
    """GET /health is 200, and a POST /logs shows up in GET /logs."""
    status, health = http_json("GET", f"{base_url}/health")
    if status == 503 and isinstance(health, dict) and health.get("status") == "boot-failed":
        raise BootFailed(f"the web instance's boot failed at step {health.get('step')!r}")
    if status != 200:
        raise CheckFailed(f"GET /health answered {status}: {health}")
    marker = f"{KOREAN_TEXT} [app {secrets.token_hex(4)}]"
    status, created = http_json("POST", f"{base_url}/logs", {"content": marker})
    if status != 201:
        raise CheckFailed(f"POST /logs answered {status}: {created}")
    status, logs = http_json("GET", f"{base_url}/logs")
    if status != 200 or not any(item.get("content") == marker for item in logs):
        raise CheckFailed(f"the row POSTed to /logs is not in GET /logs (status {status})")
    return f"/health 200 (db {health.get('db')}), POST /logs then GET /logs shows the row"


def check_app_local(ctx: Context) -> str:
    """The web instance's services on this machine, with the settings its boot gives the app:
    gunicorn as the image runs it, behind the proxy configuration Compose runs."""
    from gitops.web.proxy import serve_proxied

    env = app_settings(ctx)
    # What the web instance's boot hands the app: its own user and password, no secret ARN.
    app_env = {key: env[key] for key in ("DB_HOST", "DB_PORT", "DB_USER", "DB_NAME")}
    app_env["DB_PASS"] = db_password(ctx, env["DB_SECRET_ARN"])
    try:
        with serve_proxied(app_env) as (_, proxied):
            summary = exercise_app(proxied.url)
    finally:
        delete_rows_like(ctx, env, f"{KOREAN_TEXT} [app %")
    return f"gunicorn behind app/nginx.conf with the user data's settings: {summary}"


def delete_rows_like(ctx: Context, env: dict[str, str], pattern: str) -> None:
    import pymysql

    password = db_password(ctx, env["DB_SECRET_ARN"])
    with pymysql.connect(
        host=env["DB_HOST"], port=int(env["DB_PORT"]), user=env["DB_USER"], password=password,
        database=env["DB_NAME"], charset="utf8mb4", autocommit=True, connect_timeout=5,
    ) as conn, conn.cursor() as cur:  # fmt: skip
        cur.execute("DELETE FROM study_log WHERE content LIKE %s", (pattern,))


def boot_deadline(user_data: str) -> int:
    """Seconds after the instance started by which its boot has ended (BOOT_DEADLINE)."""
    found = BOOT_DEADLINE.search(user_data)
    if not found:
        raise CheckFailed("web user data sets no BOOT_DEADLINE: the boot's end cannot be awaited")
    return int(found.group(1))


def instance(ctx: Context, instance_id: str) -> dict[str, Any]:
    """EC2's description of one instance."""
    reservations = ctx.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]


def launched_at(ctx: Context) -> datetime:
    """When EC2 last started the web instance."""
    return instance(ctx, ctx.outputs["web_instance_id"])["LaunchTime"]


def boot_wait(ctx: Context) -> tuple[float, str]:
    """(seconds from now until the web instance's boot has surely ended, why that long)."""
    deadline = boot_deadline(ctx.outputs["web_user_data"])
    since = (datetime.now(UTC) - launched_at(ctx)).total_seconds()
    why = (
        f"its boot ends by {deadline} s after the instance started, {since:.0f} s ago "
        f"(+{BOOT_MARGIN} s margin)"
    )
    return max(deadline + BOOT_MARGIN - since, 0.0), why


def check_app_remote(
    ctx: Context, wait: float | None = None, delay: float = 15.0, min_attempts: int = 2
) -> str:
    """An AWS environment: the app on the web instance's public IP; its /health queries the
    private DB. Retried while the instance boots (`wait` seconds; by default until its boot has
    surely ended, boot_wait); a boot that failed ends the check at once."""
    base = f"http://{ctx.outputs['web_public_ip']}"
    why = f"waited {wait} s"
    if wait is None:
        wait, why = boot_wait(ctx)
    give_up = time.monotonic() + wait
    last, attempt, answered = "", 0, False
    while True:
        attempt += 1
        try:
            return f"{base}: {exercise_app(base)} (attempt {attempt})"
        except BootFailed as exc:
            raise CheckFailed(f"{exc}: {boot_failed_hint(ctx)}") from None
        except (CheckFailed, urllib.error.URLError, OSError, ValueError) as exc:
            last, answered = str(exc), isinstance(exc, CheckFailed)
        if attempt >= min_attempts and time.monotonic() + delay > give_up:
            break
        left = max(give_up - time.monotonic(), 0)
        print(
            f"  ... {base} not ready yet (attempt {attempt}, {left:.0f} s left): {last}", flush=True
        )
        time.sleep(delay)
    if answered:  # the boot finished (no failure page), but the app is not healthy
        state = "the boot has ended by now and the proxy answers, but the app does not pass"
    else:
        state = (
            "the boot has ended by now, yet nothing answers on port 80: the instance may not "
            "run or be reachable, or its boot never started"
        )
    raise CheckFailed(
        f"{base} did not pass after {attempt} attempts: {last}. {state} ({why}): "
        f"{boot_failed_hint(ctx)}"
    )


# --- network -----------------------------------------------------------------------------------


def check_security_groups(ctx: Context) -> str:
    ec2 = ctx.client("ec2")
    web_sg, db_sg = ctx.outputs["web_security_group_id"], ctx.outputs["db_security_group_id"]
    groups = {
        g["GroupId"]: g
        for g in ec2.describe_security_groups(GroupIds=[web_sg, db_sg])["SecurityGroups"]
    }
    db_rules = groups[db_sg]["IpPermissions"]
    port = int(ctx.outputs["db_port"])
    for rule in db_rules:
        sources = {pair["GroupId"] for pair in rule.get("UserIdGroupPairs", [])}
        if rule.get("IpRanges") or rule.get("Ipv6Ranges") or rule.get("PrefixListIds"):
            raise CheckFailed(f"db security group admits address ranges: {rule}")
        if sources != {web_sg} or (rule.get("FromPort"), rule.get("ToPort")) != (port, port):
            raise CheckFailed(
                f"db security group has a rule other than {port} from the web group: {rule}"
            )
    if not db_rules:
        raise CheckFailed("db security group admits nothing: the web tier cannot reach it")
    allowed_ssh = set(ctx.outputs.get("ssh_allowed_cidrs") or [])
    seen_ssh: set[str] = set()
    for rule in groups[web_sg]["IpPermissions"]:
        cidrs = {r["CidrIp"] for r in rule.get("IpRanges", [])}
        ports = (rule.get("FromPort"), rule.get("ToPort"))
        if ports == (80, 80) and rule.get("IpProtocol") == "tcp":
            continue
        if ports == (22, 22) and rule.get("IpProtocol") == "tcp":
            seen_ssh |= cidrs
            continue
        raise CheckFailed(f"web security group has an unexpected ingress rule: {rule}")
    if seen_ssh != allowed_ssh:
        raise CheckFailed(
            f"SSH is open to {sorted(seen_ssh)}, ssh_allowed_cidrs says {sorted(allowed_ssh)}"
        )
    ssh = sorted(allowed_ssh) or "nobody"
    return f"db: {port} only from the web group; web: 80 open, SSH only from {ssh}"


def check_routes(ctx: Context) -> str:
    ec2 = ctx.client("ec2")
    igw = ctx.outputs["internet_gateway_id"]
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [ctx.outputs["vpc_id"]]}]
    )["RouteTables"]
    by_subnet = {
        assoc["SubnetId"]: table
        for table in tables
        for assoc in table.get("Associations", [])
        if assoc.get("SubnetId")
    }

    def to_igw(table: dict[str, Any]) -> bool:
        return any(
            r.get("GatewayId") == igw and r.get("DestinationCidrBlock") == "0.0.0.0/0"
            for r in table.get("Routes", [])
        )

    for subnet in ctx.outputs["public_subnet_ids"]:
        if subnet not in by_subnet or not to_igw(by_subnet[subnet]):
            raise CheckFailed(f"public subnet {subnet} has no 0.0.0.0/0 route to {igw}")
    for subnet in ctx.outputs["private_subnet_ids"]:
        table = by_subnet.get(subnet)
        if table is None:
            raise CheckFailed(f"private subnet {subnet} uses the main route table, not its own")
        if any(r.get("GatewayId", "").startswith("igw-") for r in table.get("Routes", [])):
            raise CheckFailed(f"private subnet {subnet} routes to an internet gateway")
    return (
        f"{len(ctx.outputs['public_subnet_ids'])} public subnet(s) route 0.0.0.0/0 to {igw}; "
        f"{len(ctx.outputs['private_subnet_ids'])} private subnet(s) have no internet gateway route"
    )


# --- running the checks ------------------------------------------------------------------------


def run_check(name: str, check: Callable[[], str]) -> Result:
    began = time.monotonic()
    try:
        status, detail = "PASS", check()
    except SkipCheck as exc:
        status, detail = "SKIP", str(exc)
    except CheckFailed as exc:
        status, detail = "FAIL", str(exc)
    except Exception as exc:  # an API or driver error is a failed check, said plainly
        status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
    result = Result(name, status, detail, round(time.monotonic() - began, 2))
    print(f"{status} {name}: {detail}", flush=True)
    return result


def checks_for(ctx: Context) -> list[tuple[str, Callable[[], str]]]:
    checks: list[tuple[str, Callable[[], str]]] = [
        ("user data (web)", lambda: check_web_user_data(ctx)),
        ("user data (db)", lambda: check_db_user_data(ctx)),
    ]
    if ctx.standin is not None:  # emulated: the DB stand-in answers directly
        checks += [
            ("database", lambda: check_database(ctx)),
            ("app behind the proxy", lambda: check_app_local(ctx)),
        ]
    else:
        checks += [("app and database via /health", lambda: check_app_remote(ctx))]
    checks += [
        ("security groups", lambda: check_security_groups(ctx)),
        ("routes", lambda: check_routes(ctx)),
    ]
    return checks


def build_context(env: str, outputs: dict[str, Any] | None = None) -> Context:
    if outputs is None:
        if not (tf.env_dir(env) / ".terraform").is_dir():
            tf.init(env)  # a fresh checkout: outputs need the backend configured
        outputs = tf.outputs(env)
    if not outputs:
        raise SystemExit(f"envs/{env} has no outputs: apply it first (`make up` for localstack)")
    region = str(outputs.get("aws_region") or os.environ.get("AWS_REGION") or "us-east-1")
    if not tf.describe(env).emulated:
        return Context(env, outputs, None, region)
    conn = read_connection_env()
    host = conn.get("DB_HOST") or os.environ.get("DB_HOST") or "127.0.0.1"
    port = int(conn.get("DB_PORT") or os.environ.get("DB_PORT") or 3306)
    endpoint = conn.get("AWS_ENDPOINT_URL") or aws.endpoint_from_env()
    return Context(env, outputs, endpoint, region, standin=(host, port))


def report_path(env: str) -> Path:
    if tf.describe(env).emulated:
        return E2E_DIR / "smoke.json"
    return ARTIFACTS_DIR / f"smoke-{env}.json"


def run(ctx: Context, report: Path) -> int:
    results = [run_check(name, check) for name, check in checks_for(ctx)]
    failed = [r for r in results if r.status == "FAIL"]
    report.parent.mkdir(parents=True, exist_ok=True)
    summary = {"env": ctx.env, "ok": not failed, "checks": [asdict(r) for r in results]}
    if ctx.outputs.get("web_public_ip"):
        summary["app_url"] = f"http://{ctx.outputs['web_public_ip']}/health"
    report.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    passed = sum(r.status == "PASS" for r in results)
    print(f"smoke ({ctx.env}): {passed} passed, {len(failed)} failed, "
          f"{len(results) - passed - len(failed)} skipped; report {report}")  # fmt: skip
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=tf.known(), default="localstack")
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args(argv)
    ctx = build_context(args.env)
    return run(ctx, args.report or report_path(args.env))
