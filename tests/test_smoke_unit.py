"""gitops.pipeline.smoke's checks on user data, without an emulator."""

from __future__ import annotations

import gzip
import http.server
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from gitops.paths import REPO_ROOT
from gitops.pipeline import smoke
from gitops.pipeline.db_standin import free_port

GOOD = (
    "#!/bin/bash\nset -eu\ncat > /opt/app/app.env <<'APP_ENV_END'\n"
    "DB_HOST=10.0.11.4\nDB_PORT=3306\nAPP_ENV_END\n"
)


def test_identical_user_data_passes() -> None:
    assert "identical to the rendering" in smoke.verify_user_data(GOOD.encode(), GOOD, "web")


def test_gzipped_user_data_is_unpacked_as_cloud_init_does_and_counted_as_given() -> None:
    text = GOOD + "# " + "filler line\n" * 2000  # 24 KB unpacked, far less gzipped
    summary = smoke.verify_user_data(gzip.compress(text.encode()), text, "web")
    assert "gzipped" in summary and "identical to the rendering" in summary
    with pytest.raises(smoke.CheckFailed, match=r"differs .*line 5"):
        smoke.verify_user_data(gzip.compress(GOOD.replace("3306", "3307").encode()), GOOD, "web")


def test_changed_user_data_names_the_first_different_line() -> None:
    with pytest.raises(smoke.CheckFailed, match=r"differs .*line 4"):
        smoke.verify_user_data(GOOD.replace("10.0.11.4", "10.0.11.5").encode(), GOOD, "web")


def test_unrendered_placeholder_fails() -> None:
    text = GOOD + "echo ${db_host}\n"
    with pytest.raises(smoke.CheckFailed, match=r"unrendered placeholder '\$\{db_host\}'"):
        smoke.verify_user_data(text.encode(), text, "web")


def test_user_data_over_16_kib_fails() -> None:
    text = GOOD + "#" * (16 * 1024) + "\n"
    with pytest.raises(smoke.CheckFailed, match="over EC2's 16384"):
        smoke.verify_user_data(text.encode(), text, "web")


def test_bash_syntax_error_fails() -> None:
    text = GOOD + "if then fi\n"
    with pytest.raises(smoke.CheckFailed, match="not valid bash"):
        smoke.verify_user_data(text.encode(), text, "web")


def test_app_env_is_decoded_from_user_data() -> None:
    assert smoke.app_env_from_user_data(GOOD) == {"DB_HOST": "10.0.11.4", "DB_PORT": "3306"}
    with pytest.raises(smoke.CheckFailed, match="no app.env block"):
        smoke.app_env_from_user_data("#!/bin/bash\n")


def test_failed_check_prints_a_fail_line(capsys) -> None:
    def broken() -> str:
        raise smoke.CheckFailed("the reason")

    result = smoke.run_check("thing", broken)
    assert result.status == "FAIL"
    assert "FAIL thing: the reason" in capsys.readouterr().out


def test_report_carries_the_app_url_the_apply_report_shows(monkeypatch, tmp_path) -> None:
    def passing() -> str:
        return "fine"

    monkeypatch.setattr(smoke, "checks_for", lambda ctx: [("thing", passing)])
    ctx = smoke.Context("seoul", {"web_public_ip": "203.0.113.7"}, None, "ap-northeast-2")
    report = tmp_path / "smoke-seoul.json"
    assert smoke.run(ctx, report) == 0
    data = json.loads(report.read_text())
    assert data["app_url"] == "http://203.0.113.7/health" and data["ok"] is True


# --- a web instance whose boot failed --------------------------------------------------------


class Answers(http.server.BaseHTTPRequestHandler):
    """Answers every GET with `status` and `body`, counting requests."""

    status, body, seen = 200, b"{}", 0

    def do_GET(self) -> None:
        type(self).seen += 1
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web_instance() -> Iterator[type[Answers]]:
    handler = type("Instance", (Answers,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    handler.address = f"127.0.0.1:{server.server_port}"
    yield handler
    server.shutdown()
    thread.join()


def seoul(address: str) -> smoke.Context:
    outputs = {"web_public_ip": address, "web_instance_id": "i-0123456789abcdef0"}
    return smoke.Context("seoul", outputs, None, "ap-northeast-2")


def test_a_failed_boot_ends_the_check_at_once_naming_the_step_and_the_way_out(
    web_instance: type[Answers],
) -> None:
    web_instance.status = 503
    web_instance.body = json.dumps({"status": "boot-failed", "step": "image-build"}).encode()
    with pytest.raises(smoke.CheckFailed) as failed:
        smoke.check_app_remote(seoul(web_instance.address), wait=5, delay=0.01)
    assert web_instance.seen == 1  # not retried: waiting would not mend it
    message = str(failed.value)
    assert "boot failed at step 'image-build'" in message
    assert "/var/lib/app-boot/status" in message and "i-0123456789abcdef0" in message
    assert "replace = module.web.aws_instance.this" in message
    assert "make plan ENV=seoul REPLACE=module.web.aws_instance.this" in message


def test_a_database_that_is_down_is_still_waited_for(web_instance: type[Answers]) -> None:
    """The app's own 503 (database down) is retried: the database may still be starting."""
    web_instance.status = 503
    web_instance.body = json.dumps({"status": "error", "db": "down"}).encode()
    with pytest.raises(smoke.CheckFailed) as failed:
        smoke.check_app_remote(seoul(web_instance.address), wait=0.3, delay=0.05)
    assert web_instance.seen >= 3
    assert f"did not pass after {web_instance.seen} attempts" in str(failed.value)
    assert "the proxy answers, but the app does not pass" in str(failed.value)
    assert "REPLACE=module.web.aws_instance.this" in str(failed.value)


# --- how long the smoke test waits: until the boot has surely ended ------------------------------

TEMPLATE = REPO_ROOT / "modules" / "ec2" / "templates" / "web_user_data.sh.tftpl"


def booting(address: str, deadline: int, started_ago: float, monkeypatch) -> smoke.Context:
    """A Seoul context whose web instance started `started_ago` s ago, its boot's deadline set."""
    ctx = seoul(address)
    ctx.outputs["web_user_data"] = f"#!/bin/bash\nBOOT_DEADLINE={deadline}\nstep packages\n"
    launched = datetime.now(UTC) - timedelta(seconds=started_ago)
    monkeypatch.setattr(smoke, "launched_at", lambda _ctx: launched)
    return ctx


def test_the_check_waits_until_the_boots_deadline_after_the_launch(monkeypatch) -> None:
    wait, why = smoke.boot_wait(booting("203.0.113.7", 900, 100, monkeypatch))
    assert 900 + smoke.BOOT_MARGIN - 100 - 5 < wait <= 900 + smoke.BOOT_MARGIN - 100
    assert "900 s after the instance started" in why
    # long after the deadline: no wait beyond the check's own tries
    assert smoke.boot_wait(booting("203.0.113.7", 900, 5000, monkeypatch))[0] == 0


def test_no_answer_once_the_boot_has_surely_ended_says_so(monkeypatch) -> None:
    """Every boot step is bounded by the deadline: silence after it is no boot still running."""
    ctx = booting(f"127.0.0.1:{free_port()}", 1, smoke.BOOT_MARGIN + 1, monkeypatch)
    began = time.monotonic()
    with pytest.raises(smoke.CheckFailed) as failed:
        smoke.check_app_remote(ctx, delay=0.01)
    assert time.monotonic() - began < 5
    message = str(failed.value)
    assert "nothing answers on port 80" in message
    assert "(its boot ends by 1 s after the instance started" in message
    assert "get-console-output" in message and "REPLACE=module.web.aws_instance.this" in message


def test_user_data_without_a_deadline_is_a_clear_failure() -> None:
    with pytest.raises(smoke.CheckFailed, match="sets no BOOT_DEADLINE"):
        smoke.boot_deadline("#!/bin/bash\nstep packages\n")


def test_the_smoke_job_outlasts_the_boots_deadline() -> None:
    """The job must not be cancelled while the boot may still be retrying: its time-out covers
    the boot's deadline, the margin, and the job's set-up (about 5 minutes)."""
    deadline = smoke.boot_deadline(TEMPLATE.read_text(encoding="utf-8"))
    workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/terraform.yml").read_text())
    minutes = workflow["jobs"]["smoke"]["timeout-minutes"]
    assert minutes * 60 >= deadline + smoke.BOOT_MARGIN + 5 * 60, (minutes, deadline)
    assert re.search(r"^BOOT_DEADLINE=\d+$", TEMPLATE.read_text(), re.M)
