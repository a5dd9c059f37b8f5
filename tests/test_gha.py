"""gitops.github.outputs: step outputs and job summaries, read back as the runner reads them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gitops.github import outputs as gha
from gitops.github import preflight

REPO_ROOT = Path(__file__).resolve().parents[1]


def raw(path: Path) -> str:
    """The file's text with no newline translation (read_text would turn a lone CR into LF)."""
    return path.read_bytes().decode("utf-8")


def runner_outputs(path: Path) -> dict[str, str]:
    """Parse a $GITHUB_OUTPUT file with the rules of the Actions runner's file command.

    A line is `name=value` when its first `=` comes before any `<<`; otherwise `name<<DELIM`
    starts a value that runs, line by line, up to a line that is exactly DELIM.
    """
    lines = raw(path).split("\n")
    outputs: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            outputs[line[:equals]] = line[equals + 1 :]
            continue
        assert heredoc > 0, f"not an output line: {line!r}"
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        body: list[str] = []
        while lines[i] != delimiter:
            body.append(lines[i])
            i += 1  # an IndexError here means the delimiter never came
        i += 1
        outputs[name] = "\n".join(body)
    return outputs


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    return {
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }


def test_single_line_outputs_are_plain_lines_in_order(environ: dict[str, str]) -> None:
    gha.set_outputs(environ, ready="true", reason="all good", url="")
    assert Path(environ["GITHUB_OUTPUT"]).read_text() == "ready=true\nreason=all good\nurl=\n"


def test_outputs_are_appended_to_what_earlier_steps_wrote(environ: dict[str, str]) -> None:
    Path(environ["GITHUB_OUTPUT"]).write_text("earlier=1\n")
    gha.set_outputs(environ, changes="false")
    gha.set_outputs(environ, changes="true")
    assert Path(environ["GITHUB_OUTPUT"]).read_text() == "earlier=1\nchanges=false\nchanges=true\n"


@pytest.mark.parametrize(
    "value",
    [
        "first line\nsecond line",
        "ends with a newline\n",
        "\nstarts with one",
        "blank\n\nlines",
        "name<<EOF\nnot=an output\nEOF",
        "carriage\rreturn",
    ],
)
def test_multi_line_value_round_trips_in_delimiter_form(
    environ: dict[str, str], value: str
) -> None:
    gha.set_outputs(environ, body=value, after="kept")
    text = raw(Path(environ["GITHUB_OUTPUT"]))
    match = re.fullmatch(r"body<<(ghadelimiter_[0-9a-f]{32})\n(.*)\n\1\nafter=kept\n", text, re.S)
    assert match, text
    assert match.group(2) == value
    assert runner_outputs(Path(environ["GITHUB_OUTPUT"])) == {"body": value, "after": "kept"}


def test_a_newline_in_a_value_cannot_set_another_output(environ: dict[str, str]) -> None:
    gha.set_outputs(environ, reason="nothing to see\nready=true\ndestroy=true", ready="false")
    assert runner_outputs(Path(environ["GITHUB_OUTPUT"])) == {
        "reason": "nothing to see\nready=true\ndestroy=true",
        "ready": "false",
    }


def test_a_delimiter_found_in_the_value_is_never_used(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    guesses = iter(["a" * 32, "b" * 32])
    monkeypatch.setattr(gha.secrets, "token_hex", lambda _n: next(guesses))
    value = f"x\nghadelimiter_{'a' * 32}\nready=true"
    gha.set_outputs(environ, reason=value)
    text = Path(environ["GITHUB_OUTPUT"]).read_text()
    assert text.startswith(f"reason<<ghadelimiter_{'b' * 32}\n")
    assert runner_outputs(Path(environ["GITHUB_OUTPUT"])) == {"reason": value}


@pytest.mark.parametrize(
    "name", ["", "1st", "-x", "a=b", "a<<b", "a b", "a\nb", "ready\n", "a.b", "é"]
)
def test_names_that_are_not_identifiers_are_refused_before_writing(
    environ: dict[str, str], name: str
) -> None:
    with pytest.raises(ValueError, match="not an identifier"):
        gha.set_outputs(environ, **{"fine": "1", name: "2"})
    assert not Path(environ["GITHUB_OUTPUT"]).exists()


def test_github_identifiers_with_dashes_and_underscores_are_accepted(
    environ: dict[str, str],
) -> None:
    gha.set_outputs(environ, **{"exit-code": "0", "_private": "x", "A1": "y"})
    assert runner_outputs(Path(environ["GITHUB_OUTPUT"])) == {
        "exit-code": "0",
        "_private": "x",
        "A1": "y",
    }


def test_a_value_that_is_not_a_string_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(TypeError):
        gha.set_outputs(environ, ready=True)  # type: ignore[arg-type]
    assert not Path(environ["GITHUB_OUTPUT"]).exists()


def test_summary_is_appended_as_given(environ: dict[str, str]) -> None:
    Path(environ["GITHUB_STEP_SUMMARY"]).write_text("# Earlier step\n\n")
    gha.append_summary(environ, "**Done**: line one\nline two\n\n")
    assert Path(environ["GITHUB_STEP_SUMMARY"]).read_text() == (
        "# Earlier step\n\n**Done**: line one\nline two\n\n"
    )


@pytest.mark.parametrize("unset", [{}, {"GITHUB_OUTPUT": "", "GITHUB_STEP_SUMMARY": ""}])
def test_nothing_is_written_outside_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unset: dict[str, str]
) -> None:
    monkeypatch.chdir(tmp_path)
    gha.set_outputs(unset, ready="true", reason="a\nb")
    gha.append_summary(unset, "**summary**\n")
    assert list(tmp_path.iterdir()) == []


def test_names_are_checked_even_outside_actions() -> None:
    with pytest.raises(ValueError):
        gha.set_outputs({}, **{"bad name": "x"})


def test_preflight_reason_with_a_newline_stays_one_output(environ: dict[str, str]) -> None:
    verdict = preflight.Verdict(False, "skipped\nready=true")
    preflight.report(verdict, environ)
    assert runner_outputs(Path(environ["GITHUB_OUTPUT"])) == {
        "ready": "false",
        "reason": "skipped\nready=true",
    }
