"""gitops.github.keep_alive: the nightly destroy is skipped only while the environment's
keep-alive variable is ahead, judged by the date in the environment's own time zone. Nothing
here is Seoul's: the environments below are a Tokyo-like one (Asia/Tokyo, KEEP_TOKYO_UNTIL) and
a Berlin one, described as envs/<name>/environment.toml describes them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from gitops import environments
from gitops.github import keep_alive
from gitops.github.keep_alive import Decision, KeepAliveError, decide, local_date, parse_until

from tests.test_environments import make_root

TODAY = date(2026, 11, 30)
TOKYO = environments.Nightly("22:30", "Asia/Tokyo", "tokyo-nightly", "KEEP_TOKYO_UNTIL")
NIGHTLY = "30 13 * * *"  # 22:30 in Tokyo (UTC+9, no daylight saving time)

DESCRIPTION = """\
region = "{region}"
gate = "{name}"
drift = true

[roles]
plan = "AWS_{upper}_PLAN_ROLE_ARN"
apply = "AWS_{upper}_APPLY_ROLE_ARN"
destroy = "AWS_{upper}_DESTROY_ROLE_ARN"

[nightly_destroy]
at = "{at}"
time_zone = "{zone}"
environment = "{name}-nightly"
keep_alive = "KEEP_{upper}_UNTIL"
"""


@pytest.fixture(scope="module")
def envs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """envs/ with tokyo (Asia/Tokyo), berlin (Europe/Berlin) and an emulated lab."""
    envs = tmp_path_factory.mktemp("envs")
    described = [("tokyo", "ap-northeast-1", "22:30", "Asia/Tokyo"),
                 ("berlin", "eu-central-1", "23:07", "Europe/Berlin")]  # fmt: skip
    for name, region, at, zone in described:
        text = DESCRIPTION.replace("{region}", region).replace("{at}", at).replace("{zone}", zone)
        make_root(envs, name, text, region)
    make_root(envs, "lab", 'emulated = true\nregion = "us-east-1"\n', "us-east-1")
    assert environments.load(envs)["tokyo"].nightly == TOKYO  # what the tests below assume
    return envs


def run(envs_dir: Path, argv: list[str], environ: dict[str, str], **kw: datetime) -> int:
    return keep_alive.main(argv, environ, envs_dir=envs_dir, **kw)


def test_future_date_skips_the_destroy() -> None:
    decision = decide("2026-12-01", TODAY, "tokyo", TOKYO)
    assert decision == Decision(
        False,
        "KEEP_TOKYO_UNTIL=2026-12-01 is 1 day(s) after today (2026-11-30 Asia/Tokyo): tokyo is "
        "kept, the nightly destroy is skipped",
    )


def test_today_is_not_the_future_so_the_stack_is_destroyed() -> None:
    assert decide("2026-11-30", TODAY, "tokyo", TOKYO).destroy is True


def test_past_date_destroys() -> None:
    decision = decide("2026-01-15", TODAY, "tokyo", TOKYO)
    assert decision.destroy is True
    assert decision.reason == (
        "KEEP_TOKYO_UNTIL=2026-01-15 is not after today (2026-11-30 Asia/Tokyo): the nightly "
        "destroy runs"
    )


@pytest.mark.parametrize("raw", ["", "   ", "\n"])
def test_unset_or_blank_variable_destroys(raw: str) -> None:
    decision = decide(raw, TODAY, "tokyo", TOKYO)
    assert decision == Decision(True, "KEEP_TOKYO_UNTIL is not set: the nightly destroy runs")


def test_surrounding_whitespace_is_tolerated() -> None:
    assert parse_until(" 2027-01-02 \n", "KEEP_TOKYO_UNTIL") == date(2027, 1, 2)


@pytest.mark.parametrize(
    "raw", ["2026-13-01", "2026-02-30", "tomorrow", "2026-2-1", "01-12-2026", "2026/12/01"]
)
def test_malformed_date_is_a_clear_error(raw: str) -> None:
    with pytest.raises(KeepAliveError) as err:
        decide(raw, TODAY, "tokyo", TOKYO)
    message = str(err.value)
    assert "KEEP_TOKYO_UNTIL" in message and repr(raw) in message


def test_the_local_date_is_the_zones_not_utcs() -> None:
    # 15:00 UTC is midnight in Tokyo: already the next day there, still the same one in Berlin.
    assert local_date(datetime(2026, 11, 30, 15, 0, tzinfo=UTC), "Asia/Tokyo") == date(2026, 12, 1)
    assert local_date(datetime(2026, 11, 30, 14, 59, 59, tzinfo=UTC), "Asia/Tokyo") == TODAY
    assert local_date(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "Europe/Berlin") == date(
        2026, 12, 1
    )
    assert local_date(datetime(2026, 11, 30, 22, 59, tzinfo=UTC), "Europe/Berlin") == TODAY


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(datetime(2026, 11, 30, 13, 30), "Asia/Tokyo")


def test_main_writes_the_decision_for_the_workflow(envs_dir: Path, tmp_path: Path) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    environ = {
        "KEEP_TOKYO_UNTIL": "2026-12-24",
        "KEEP_BERLIN_UNTIL": "",  # another environment's variable is not read
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    assert run(envs_dir, ["--env", "tokyo", "--today", "2026-12-20"], environ) == 0
    assert output.read_text().splitlines() == [
        "destroy=false",
        "reason=KEEP_TOKYO_UNTIL=2026-12-24 is 4 day(s) after today (2026-12-20 Asia/Tokyo): "
        "tokyo is kept, the nightly destroy is skipped",
    ]
    assert summary.read_text().startswith("**Keeping tokyo tonight**: KEEP_TOKYO_UNTIL=")


def test_main_destroys_when_the_date_has_come(envs_dir: Path, tmp_path: Path) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    environ = {"KEEP_TOKYO_UNTIL": "2026-12-24", "GITHUB_OUTPUT": str(output),
               "GITHUB_STEP_SUMMARY": str(summary)}  # fmt: skip
    assert run(envs_dir, ["--env", "tokyo", "--today", "2026-12-24"], environ) == 0
    assert "destroy=true" in output.read_text().splitlines()
    assert summary.read_text().startswith("**Destroying tokyo tonight**")


def test_until_flag_overrides_the_environment(envs_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "output"
    environ = {"KEEP_TOKYO_UNTIL": "", "GITHUB_OUTPUT": str(output)}
    argv = ["--env", "tokyo", "--until", "2030-01-01", "--today", "2026-12-24"]
    assert run(envs_dir, argv, environ) == 0
    assert "destroy=false" in output.read_text().splitlines()


def test_main_fails_on_a_typo_and_never_says_destroy(
    envs_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    environ = {
        "KEEP_TOKYO_UNTIL": "2026-12-32",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    assert run(envs_dir, ["--env", "tokyo", "--today", "2026-12-20"], environ) == 2
    assert not output.exists()
    assert "Nightly destroy not run" in summary.read_text()
    assert "::error title=Bad KEEP_TOKYO_UNTIL::" in capsys.readouterr().out


def test_main_uses_the_clock_when_no_today_is_given(envs_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "output"
    environ = {"KEEP_TOKYO_UNTIL": "2999-12-31", "GITHUB_OUTPUT": str(output)}
    assert run(envs_dir, ["--env", "tokyo"], environ) == 0
    assert "destroy=false" in output.read_text().splitlines()


# --- which environment: named, never assumed ------------------------------------------------


def test_without_env_it_refuses_and_names_the_choices(
    envs_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No environment is the default one: the error lists those with a nightly destroy."""
    output = tmp_path / "output"
    environ = {"KEEP_TOKYO_UNTIL": "", "GITHUB_OUTPUT": str(output)}
    with pytest.raises(SystemExit) as exc:
        run(envs_dir, ["--today", "2026-12-20"], environ)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--env is required" in err and "(one of: berlin, tokyo)" in err
    assert not output.exists()


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("lab", "envs/lab has no [nightly_destroy] in its environment.toml (environments with "
                "one: berlin, tokyo)"),
        ("seoul", "unknown environment 'seoul'; known: berlin, lab, tokyo"),
    ],
)  # fmt: skip
def test_an_environment_without_a_nightly_destroy_is_refused(
    envs_dir: Path, capsys: pytest.CaptureFixture[str], name: str, said: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        run(envs_dir, ["--env", name], {})
    assert exc.value.code == 2
    assert said in capsys.readouterr().err


# --- a delayed scheduled run is judged by the firing it belongs to ------------------------------


def test_run_delayed_past_midnight_keeps_the_date_of_its_firing(
    envs_dir: Path, tmp_path: Path
) -> None:
    """The 22:30 Tokyo firing of 30 Nov starts at 00:40 on 1 Dec there: it belongs to 30 Nov."""
    output = tmp_path / "output"
    environ = {"KEEP_TOKYO_UNTIL": "2026-12-01", "GITHUB_OUTPUT": str(output)}
    late = datetime(2026, 11, 30, 15, 40, tzinfo=UTC)  # 00:40 in Tokyo, 1 Dec
    assert run(envs_dir, ["--env", "tokyo", "--schedule", NIGHTLY], environ, now=late) == 0
    assert "destroy=false" in output.read_text().splitlines(), "kept through 30 Nov as asked"


def test_run_on_time_and_the_next_firing_are_told_apart(envs_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "output"
    environ = {"KEEP_TOKYO_UNTIL": "2026-12-01", "GITHUB_OUTPUT": str(output)}
    # 1 Dec's own firing (22:30 in Tokyo, 13:30 UTC), a few minutes late: the date has come.
    on_time = datetime(2026, 12, 1, 13, 36, tzinfo=UTC)
    assert run(envs_dir, ["--env", "tokyo", "--schedule", NIGHTLY], environ, now=on_time) == 0
    assert "destroy=true" in output.read_text().splitlines()


def test_scheduled_firing_is_the_latest_at_or_before_now() -> None:
    fired = keep_alive.scheduled_firing(NIGHTLY, datetime(2026, 11, 30, 13, 30, tzinfo=UTC))
    assert fired == datetime(2026, 11, 30, 13, 30, tzinfo=UTC)
    early = keep_alive.scheduled_firing(NIGHTLY, datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    assert early == datetime(2026, 11, 30, 13, 30, tzinfo=UTC)


@pytest.mark.parametrize("cron", ["30 13 * * 1-5", "*/5 * * * *", "30 25 * * *", "nonsense"])
def test_a_schedule_that_is_not_daily_is_an_error_not_a_destroy(
    envs_dir: Path, tmp_path: Path, cron: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "output"
    environ = {"KEEP_TOKYO_UNTIL": "2026-12-01", "GITHUB_OUTPUT": str(output)}
    now = datetime(2026, 11, 30, 13, 30, tzinfo=UTC)
    assert run(envs_dir, ["--env", "tokyo", "--schedule", cron], environ, now=now) == 2
    assert not output.exists()
    assert repr(cron) in capsys.readouterr().out


def test_each_environment_is_decided_in_its_own_zone_with_its_own_variable(
    envs_dir: Path, tmp_path: Path
) -> None:
    """One moment, two environments: 22:09 UTC on 15 January is the 16th in Tokyo and still the
    15th in Berlin; each reads its own variable and says its own zone and name."""
    moment = datetime(2026, 1, 15, 22, 9, tzinfo=UTC)
    environ = {"KEEP_TOKYO_UNTIL": "2026-01-16", "KEEP_BERLIN_UNTIL": "2026-01-16"}
    reasons = {}
    for name in ("tokyo", "berlin"):
        output = tmp_path / f"{name}.output"
        assert run(envs_dir, ["--env", name], {**environ, "GITHUB_OUTPUT": str(output)},
                   now=moment) == 0  # fmt: skip
        reasons[name] = output.read_text(encoding="utf-8").splitlines()
    assert reasons == {
        "tokyo": ["destroy=true", "reason=KEEP_TOKYO_UNTIL=2026-01-16 is not after today "
                  "(2026-01-16 Asia/Tokyo): the nightly destroy runs"],
        "berlin": ["destroy=false", "reason=KEEP_BERLIN_UNTIL=2026-01-16 is 1 day(s) after "
                   "today (2026-01-15 Europe/Berlin): berlin is kept, the nightly destroy is "
                   "skipped"],
    }  # fmt: skip
