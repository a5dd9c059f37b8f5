"""gitops.github.run_logged: a wrapped command's outcome reaches the step result and the summary."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
from gitops.github import run_logged
from gitops.github.run_logged import parse_statuses

from tests.signalled import signal_when


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


@pytest.fixture
def gh(tmp_path: Path) -> dict[str, str]:
    return {
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }


def test_success_streams_output_and_summarises(
    gh: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_logged.main(["--title", "Hello", "--", *py("print('hi there')")], gh)
    assert code == 0
    assert "hi there" in capsys.readouterr().out
    assert outputs(Path(gh["GITHUB_OUTPUT"])) == {"status": "ok", "exit-code": "0"}
    summary = Path(gh["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.startswith("### Hello: ok")
    assert "**ok** (exit 0)" in summary and "hi there" in summary


def test_mapped_exit_code_is_an_outcome_not_a_failure(gh: dict[str, str]) -> None:
    argv = ["--title", "Drift", "--status", "0=clean", "--status", "2=drift", "--"]
    assert run_logged.main([*argv, *py("import sys; sys.exit(2)")], gh) == 0
    assert outputs(Path(gh["GITHUB_OUTPUT"]))["status"] == "drift"


def test_unmapped_exit_code_fails_with_the_same_code(gh: dict[str, str]) -> None:
    argv = ["--title", "Drift", "--status", "0=clean", "--status", "2=drift", "--"]
    code = run_logged.main(
        [*argv, *py("import sys; print('boom', file=sys.stderr); sys.exit(1)")], gh
    )
    assert code == 1
    assert outputs(Path(gh["GITHUB_OUTPUT"])) == {"status": "error", "exit-code": "1"}
    assert "boom" in Path(gh["GITHUB_STEP_SUMMARY"]).read_text()


def test_highlight_lists_what_was_destroyed(gh: dict[str, str]) -> None:
    script = (
        "print('module.ec2.aws_instance.this: Destroying...');"
        "print('\\x1b[1mmodule.ec2.aws_instance.this: Destruction complete after 31s\\x1b[0m');"
        "print('module.vpc.aws_vpc.this: Destruction complete after 1s');"
        "print('Destroy complete! Resources: 2 destroyed.')"
    )
    argv = ["--title", "Destroyed", "--highlight", "Destruction complete|Destroy complete", "--"]
    assert run_logged.main([*argv, *py(script)], gh) == 0
    summary = Path(gh["GITHUB_STEP_SUMMARY"]).read_text()
    bullets = [line for line in summary.splitlines() if line.startswith("- ")]
    assert bullets == [
        "- `module.ec2.aws_instance.this: Destruction complete after 31s`",
        "- `module.vpc.aws_vpc.this: Destruction complete after 1s`",
        "- `Destroy complete! Resources: 2 destroyed.`",
    ]
    assert "\x1b" not in summary


def test_highlight_without_match_says_so(gh: dict[str, str]) -> None:
    argv = ["--title", "Destroyed", "--highlight", "Destruction complete", "--"]
    assert run_logged.main([*argv, *py("print('nothing to destroy')")], gh) == 0
    assert "_No output line matched" in Path(gh["GITHUB_STEP_SUMMARY"]).read_text()


def test_tail_on_error_keeps_the_summary_short_on_success(gh: dict[str, str]) -> None:
    argv = ["--title", "Drift", "--tail-on-error", "--status", "0=clean", "--"]
    assert run_logged.main([*argv, *py("print('long ' + 'terraform text')")], gh) == 0
    summary = Path(gh["GITHUB_STEP_SUMMARY"]).read_text()
    assert "**clean**" in summary and "long terraform text" not in summary


def test_tail_on_error_still_shows_a_failure(gh: dict[str, str]) -> None:
    argv = ["--title", "Drift", "--tail-on-error", "--status", "0=clean", "--"]
    script = "import sys; print('Error: no credentials'); sys.exit(1)"
    assert run_logged.main([*argv, *py(script)], gh) == 1
    assert "Error: no credentials" in Path(gh["GITHUB_STEP_SUMMARY"]).read_text()


def test_long_output_is_cut_to_its_tail(gh: dict[str, str]) -> None:
    script = "for i in range(1000): print(f'line {i}')"
    assert run_logged.main(["--title", "Long", "--", *py(script)], gh) == 0
    summary = Path(gh["GITHUB_STEP_SUMMARY"]).read_text()
    assert "line 999" in summary and "line 699\n" not in summary and "line 700" in summary
    assert "last 300 lines" in summary


def test_missing_command_is_127(gh: dict[str, str]) -> None:
    assert run_logged.main(["--title", "x", "--", "no-such-command-here-xyz"], gh) == 127
    assert outputs(Path(gh["GITHUB_OUTPUT"]))["status"] == "error"


def test_no_separator_is_a_usage_error(gh: dict[str, str]) -> None:
    assert run_logged.main(["--title", "x", "make", "plan"], gh) == 2


def test_statuses_parse_and_default() -> None:
    assert parse_statuses([]) == {0: "ok"}
    assert parse_statuses(["0=clean", "2=drift"]) == {0: "clean", 2: "drift"}
    with pytest.raises(ValueError):
        parse_statuses(["two=drift"])


def test_fence_outgrows_backticks_in_the_output() -> None:
    def fences(line: str) -> list[str]:
        section = run_logged.summary_section(
            "T", ["c"], run_logged.Result(1, [line]), "error", None
        )
        return [part for part in section.splitlines() if part.startswith("```")]

    assert fences("plain") == ["```text", "```"]
    assert fences("a ```` b") == ["`````text", "`````"]


def test_log_file_keeps_the_whole_output_without_colour(gh: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "logs" / "apply.log"
    code = run_logged.main(
        ["--title", "T", "--log", str(log), "--", *py("print('\\x1b[31mError:\\x1b[0m boom')")], gh
    )
    assert code == 0
    assert log.read_text() == "Error: boom\n"


# --- an outcome behind make: the status file tells drift from error ---------------------------

DRIFT = ["--title", "Drift check (seoul)", "--status", "0=clean", "--status", "2=drift"]


def writes(status_file: Path, word: str | None, code: int) -> list[str]:
    """A command that writes `word` (or nothing) to the status file, then exits `code`."""
    write = f"open({str(status_file)!r}, 'w').write({word!r} + '\\n'); " if word else ""
    return py(f"{write}import sys; sys.exit({code})")


def test_make_exit_2_with_drift_recorded_is_drift(gh: dict[str, str], tmp_path: Path) -> None:
    status = tmp_path / "seoul-drift.status"
    argv = [*DRIFT, "--status-file", str(status), "--", *writes(status, "drift", 2)]
    assert run_logged.main(argv, gh) == 0
    assert outputs(Path(gh["GITHUB_OUTPUT"]))["status"] == "drift"


@pytest.mark.parametrize("word", ["error", None])
def test_make_exit_2_from_a_failure_is_an_error_not_drift(
    gh: dict[str, str], tmp_path: Path, word: str | None
) -> None:
    """GNU make exits 2 for any failed recipe: init failed, AccessDenied, no credentials..."""
    status = tmp_path / "seoul-drift.status"
    argv = [*DRIFT, "--status-file", str(status), "--", *writes(status, word, 2)]
    assert run_logged.main(argv, gh) == 2
    assert outputs(Path(gh["GITHUB_OUTPUT"])) == {"status": "error", "exit-code": "2"}
    summary = Path(gh["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.startswith("### Drift check (seoul): failed")


def test_a_stale_status_file_does_not_count(gh: dict[str, str], tmp_path: Path) -> None:
    status = tmp_path / "seoul-drift.status"
    status.write_text("drift\n")  # left by an earlier run; this command writes nothing
    argv = [*DRIFT, "--status-file", str(status), "--", *writes(status, None, 2)]
    assert run_logged.main(argv, gh) == 2
    assert outputs(Path(gh["GITHUB_OUTPUT"]))["status"] == "error"


# --- headings say what happened --------------------------------------------------------------


def test_failed_destroy_is_headed_as_a_failure(gh: dict[str, str]) -> None:
    argv = ["--title", "Destroy (seoul)", "--highlight", "Destruction complete", "--"]
    assert run_logged.main([*argv, *py("import sys; sys.exit(2)")], gh) == 2
    heading = Path(gh["GITHUB_STEP_SUMMARY"]).read_text().splitlines()[0]
    assert heading == "### Destroy (seoul): failed"


def test_successful_destroy_is_headed_with_its_outcome(gh: dict[str, str]) -> None:
    argv = ["--title", "Destroy (seoul)", "--status", "0=done", "--"]
    assert run_logged.main([*argv, *py("print('Destroy complete!')")], gh) == 0
    heading = Path(gh["GITHUB_STEP_SUMMARY"]).read_text().splitlines()[0]
    assert heading == "### Destroy (seoul): done"


# --- a cancelled job: the runner signals this script only, SIGINT then SIGTERM ------------------

STOPPABLE = """
import os, signal, sys, time
got = []
signal.signal(signal.SIGINT, lambda *_: got.append("INT"))
signal.signal(signal.SIGTERM, lambda *_: got.append("TERM"))
print("applying", flush=True)
deadline = time.monotonic() + 30
while not got and time.monotonic() < deadline:
    time.sleep(0.05)
# writing the state, releasing the lock: until every signal of the cancel has been sent, and a
# moment more, in which a wrongly forwarded second signal would still arrive
while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(0.02)
time.sleep(0.2)
with open(sys.argv[1], "w") as out:
    out.write(",".join(got))
print("stopped cleanly", flush=True)
sys.exit(130)
"""


def test_cancel_reaches_the_command_once_and_is_waited_for(tmp_path: Path) -> None:
    record = tmp_path / "record"
    child = tmp_path / "child.py"
    child.write_text(STOPPABLE)
    gitops = Path(sys.executable).parent / "gitops"  # as the workflow step runs it, exec'd
    code, output = signal_when(
        [str(gitops), "run-logged", "--title", "Apply (seoul)", "--",
         sys.executable, str(child), str(record), str(tmp_path / "sent")],
        "applying",
        [signal.SIGINT, signal.SIGTERM],
        sent=tmp_path / "sent",
    )  # fmt: skip
    assert record.read_text() == "INT", output  # exactly one SIGINT reached the command
    assert "stopped cleanly" in output
    assert code == 130, output  # the command's own exit code, after it finished
