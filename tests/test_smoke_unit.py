"""gitops.pipeline.smoke's checks on user data, without an emulator."""

from __future__ import annotations

import json

import pytest
from gitops.pipeline import smoke

GOOD = (
    "#!/bin/bash\nset -eu\ncat > /opt/app/app.env <<'APP_ENV_END'\n"
    "DB_HOST=10.0.11.4\nDB_PORT=3306\nAPP_ENV_END\n"
)


def test_identical_user_data_passes() -> None:
    assert "identical to the rendering" in smoke.verify_user_data(GOOD, GOOD, "web")


def test_changed_user_data_names_the_first_different_line() -> None:
    with pytest.raises(smoke.CheckFailed, match=r"differs .*line 4"):
        smoke.verify_user_data(GOOD.replace("10.0.11.4", "10.0.11.5"), GOOD, "web")


def test_unrendered_placeholder_fails() -> None:
    text = GOOD + "echo ${db_host}\n"
    with pytest.raises(smoke.CheckFailed, match=r"unrendered placeholder '\$\{db_host\}'"):
        smoke.verify_user_data(text, text, "web")


def test_user_data_over_16_kib_fails() -> None:
    text = GOOD + "#" * (16 * 1024) + "\n"
    with pytest.raises(smoke.CheckFailed, match="over EC2's 16384"):
        smoke.verify_user_data(text, text, "web")


def test_bash_syntax_error_fails() -> None:
    text = GOOD + "if then fi\n"
    with pytest.raises(smoke.CheckFailed, match="not valid bash"):
        smoke.verify_user_data(text, text, "web")


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
