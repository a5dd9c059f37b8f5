"""gitops.github.keep_alive: the nightly destroy is skipped only while KEEP_SEOUL_UNTIL is ahead."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from gitops.github import keep_alive
from gitops.github.keep_alive import Decision, KeepAliveError, decide, parse_until, today_kst

TODAY = date(2026, 11, 30)


def test_future_date_skips_the_destroy() -> None:
    decision = decide("2026-12-01", TODAY)
    assert decision.destroy is False
    assert "2026-12-01" in decision.reason and "1 day(s)" in decision.reason


def test_today_is_not_the_future_so_the_stack_is_destroyed() -> None:
    assert decide("2026-11-30", TODAY).destroy is True


def test_past_date_destroys() -> None:
    decision = decide("2026-01-15", TODAY)
    assert decision.destroy is True
    assert "not after today" in decision.reason


@pytest.mark.parametrize("raw", ["", "   ", "\n"])
def test_unset_or_blank_variable_destroys(raw: str) -> None:
    decision = decide(raw, TODAY)
    assert decision == Decision(True, "KEEP_SEOUL_UNTIL is not set: the nightly destroy runs")


def test_surrounding_whitespace_is_tolerated() -> None:
    assert parse_until(" 2027-01-02 \n") == date(2027, 1, 2)


@pytest.mark.parametrize(
    "raw", ["2026-13-01", "2026-02-30", "tomorrow", "2026-2-1", "01-12-2026", "2026/12/01"]
)
def test_malformed_date_is_a_clear_error(raw: str) -> None:
    with pytest.raises(KeepAliveError) as err:
        decide(raw, TODAY)
    message = str(err.value)
    assert "KEEP_SEOUL_UNTIL" in message and repr(raw) in message


def test_today_is_taken_in_korea_not_utc() -> None:
    # 15:00 UTC is midnight in Seoul: already the next day there.
    assert today_kst(datetime(2026, 11, 30, 15, 0, tzinfo=UTC)) == date(2026, 12, 1)
    assert today_kst(datetime(2026, 11, 30, 14, 59, 59, tzinfo=UTC)) == TODAY
    # The nightly cron fires at 14:07 UTC, 23:07 KST: still "today" in Seoul.
    assert today_kst(datetime(2026, 11, 30, 14, 7, tzinfo=UTC)) == TODAY


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        today_kst(datetime(2026, 11, 30, 14, 7))


def test_main_writes_the_decision_for_the_workflow(tmp_path: Path) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    environ = {
        "KEEP_SEOUL_UNTIL": "2026-12-24",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    assert keep_alive.main(["--today", "2026-12-20"], environ) == 0
    lines = output.read_text().splitlines()
    assert "destroy=false" in lines
    assert any(line.startswith("reason=KEEP_SEOUL_UNTIL=2026-12-24") for line in lines)
    assert summary.read_text().startswith("**Keeping Seoul tonight**")


def test_main_destroys_when_the_date_has_come(tmp_path: Path) -> None:
    output = tmp_path / "output"
    environ = {"KEEP_SEOUL_UNTIL": "2026-12-24", "GITHUB_OUTPUT": str(output)}
    assert keep_alive.main(["--today", "2026-12-24"], environ) == 0
    assert "destroy=true" in output.read_text().splitlines()


def test_until_flag_overrides_the_environment(tmp_path: Path) -> None:
    output = tmp_path / "output"
    environ = {"KEEP_SEOUL_UNTIL": "", "GITHUB_OUTPUT": str(output)}
    assert keep_alive.main(["--until", "2030-01-01", "--today", "2026-12-24"], environ) == 0
    assert "destroy=false" in output.read_text().splitlines()


def test_main_fails_on_a_typo_and_never_says_destroy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    environ = {
        "KEEP_SEOUL_UNTIL": "2026-12-32",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    assert keep_alive.main(["--today", "2026-12-20"], environ) == 2
    assert not output.exists()
    assert "Nightly destroy not run" in summary.read_text()
    assert "::error title=Bad KEEP_SEOUL_UNTIL::" in capsys.readouterr().out


def test_main_uses_the_clock_when_no_today_is_given(tmp_path: Path) -> None:
    output = tmp_path / "output"
    environ = {"KEEP_SEOUL_UNTIL": "2999-12-31", "GITHUB_OUTPUT": str(output)}
    assert keep_alive.main([], environ) == 0
    assert "destroy=false" in output.read_text().splitlines()


# --- a delayed scheduled run is judged by the firing it belongs to ------------------------------

NIGHTLY = "7 14 * * *"  # 23:07 KST


def test_run_delayed_past_midnight_keeps_the_date_of_its_firing(tmp_path: Path) -> None:
    """The 23:07 KST firing of 30 Nov starts at 00:30 KST on 1 Dec: it still belongs to 30 Nov."""
    output = tmp_path / "output"
    environ = {"KEEP_SEOUL_UNTIL": "2026-12-01", "GITHUB_OUTPUT": str(output)}
    late = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)  # 00:30 KST, 1 Dec
    assert keep_alive.main(["--schedule", NIGHTLY], environ, now=late) == 0
    assert "destroy=false" in output.read_text().splitlines(), "kept through 30 Nov as asked"


def test_run_on_time_and_the_next_firing_are_told_apart(tmp_path: Path) -> None:
    output = tmp_path / "output"
    environ = {"KEEP_SEOUL_UNTIL": "2026-12-01", "GITHUB_OUTPUT": str(output)}
    # 1 Dec's own firing (23:07 KST, 14:07 UTC), a few minutes late: KEEP_SEOUL_UNTIL has come.
    on_time = datetime(2026, 12, 1, 14, 12, tzinfo=UTC)
    assert keep_alive.main(["--schedule", NIGHTLY], environ, now=on_time) == 0
    assert "destroy=true" in output.read_text().splitlines()


def test_scheduled_firing_is_the_latest_at_or_before_now() -> None:
    fired = keep_alive.scheduled_firing(NIGHTLY, datetime(2026, 11, 30, 14, 7, tzinfo=UTC))
    assert fired == datetime(2026, 11, 30, 14, 7, tzinfo=UTC)
    early = keep_alive.scheduled_firing(NIGHTLY, datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    assert early == datetime(2026, 11, 30, 14, 7, tzinfo=UTC)


@pytest.mark.parametrize("cron", ["7 14 * * 1-5", "*/5 * * * *", "7 25 * * *", "nonsense"])
def test_a_schedule_that_is_not_daily_is_an_error_not_a_destroy(
    tmp_path: Path, cron: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "output"
    environ = {"KEEP_SEOUL_UNTIL": "2026-12-01", "GITHUB_OUTPUT": str(output)}
    now = datetime(2026, 11, 30, 14, 7, tzinfo=UTC)
    assert keep_alive.main(["--schedule", cron], environ, now=now) == 2
    assert not output.exists()
    assert repr(cron) in capsys.readouterr().out


def test_env_takes_the_variable_and_the_local_date_from_the_description(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--env NAME: the variable named in [nightly_destroy] and the day in its own time zone.
    22:09 UTC on 15 January is still the 15th in Berlin (it is the 16th in Seoul)."""
    from gitops import environments

    berlin = environments.Nightly("23:07", "Europe/Berlin", "prod-nightly", "KEEP_PROD_UNTIL")
    described = environments.Environment(
        "prod", False, "eu-central-1", "prod/terraform.tfstate", "prod", True,
        environments.Roles("P", "A", "D"), berlin, tmp_path,
    )  # fmt: skip
    monkeypatch.setattr(keep_alive.environments, "get", lambda name: described)
    output = tmp_path / "output"
    environ = {"KEEP_PROD_UNTIL": "2026-01-16", "GITHUB_OUTPUT": str(output)}
    late = datetime(2026, 1, 15, 22, 9, tzinfo=UTC)
    argv = ["--env", "prod", "--schedule", "7 22 * * *"]
    assert keep_alive.main(argv, environ=environ, now=late) == 0
    lines = output.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "destroy=false"
    assert lines[1] == (
        "reason=KEEP_PROD_UNTIL=2026-01-16 is 1 day(s) after today (2026-01-15 Europe/Berlin): "
        "prod is kept, the nightly destroy is skipped"
    )
