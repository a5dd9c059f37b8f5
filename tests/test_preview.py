"""gitops.preview.plans_dir: each environment reaches the preview as planned, failed or skipped."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gitops.preview import plans_dir as preview
from gitops.preview import render
from gitops.preview.model import plan_has_changes
from gitops.preview.plans_dir import EnvPlan, classify


def test_classify_each_case(tmp_path: Path) -> None:
    (tmp_path / "localstack.json").write_text("{}")
    (tmp_path / "seoul.stderr.txt").write_text("Error: no credentials")
    items = classify(tmp_path, [("localstack", ""), ("seoul", ""), ("tokyo", "")], {})
    assert items[0] == EnvPlan("localstack", "planned", str(tmp_path / "localstack.json"))
    assert items[1] == EnvPlan("seoul", "failed", str(tmp_path / "seoul.stderr.txt"))
    assert items[2].kind == "failed"
    assert "No plan was produced for tokyo" in Path(items[2].value).read_text()


def test_skip_reason_wins_and_empty_reason_does_not_skip(tmp_path: Path) -> None:
    (tmp_path / "seoul.json").write_text("{}")
    skipped = classify(tmp_path, [("seoul", "")], {"seoul": "AWS OIDC is not configured"})
    assert skipped == [EnvPlan("seoul", "skipped", "AWS OIDC is not configured")]
    assert classify(tmp_path, [("seoul", "")], {"seoul": ""})[0].kind == "planned"


def test_stem_names_the_drift_files(tmp_path: Path) -> None:
    (tmp_path / "seoul-drift.json").write_text("{}")
    (tmp_path / "seoul.json").write_text("{}")
    item = classify(tmp_path, [("seoul", "seoul-drift")], {})[0]
    assert item == EnvPlan("seoul", "planned", str(tmp_path / "seoul-drift.json"))


def test_main_renders_in_process_what_plan_preview_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_subprocess(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("preview.py must render in-process, not run our own Python")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    plans = tmp_path / "plans"
    plans.mkdir()
    write_plan(plans / "localstack.json", [["create"]])
    out, summary = tmp_path / "comment.md", tmp_path / "summary.md"
    argv = [
        "--plans", str(plans), "--env", "localstack", "--env", "seoul",
        "--skipped", "seoul=AWS OIDC is not configured", "--output", str(out),
        "--summary", str(summary),
    ]  # fmt: skip
    assert preview.main(argv, {}) == 0
    expected, _ = render.render_files(
        [("localstack", plans / "localstack.json")], [], [("seoul", "AWS OIDC is not configured")]
    )
    assert out.read_text() == expected
    assert expected.splitlines()[0] == render.MARKER
    assert "aws_instance.r0" in summary.read_text()
    assert "::notice title=Plan skipped (seoul)::AWS OIDC is not configured" in (
        capsys.readouterr().out
    )


def test_aws_skipped_skips_every_aws_environment_and_no_emulated_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fork or a repository without AWS plans no AWS environment: one reason covers them all,
    whatever the descriptions name; an empty reason skips nothing."""
    plans = tmp_path / "plans"
    plans.mkdir()
    write_plan(plans / "localstack.json", [["create"]])
    out = tmp_path / "comment.md"
    argv = ["--plans", str(plans), "--aws-skipped", "fork", "--output", str(out), "--summary", ""]
    assert preview.main(argv, {}) == 0
    log = capsys.readouterr().out
    assert "::notice title=Plan skipped (seoul)::fork" in log
    assert "localstack: planned" in log
    assert preview.main([*argv[:2], "--aws-skipped", " ", *argv[4:]], {}) == 0
    assert "seoul: failed" in capsys.readouterr().out


def test_main_fails_on_a_plan_file_that_is_not_a_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "seoul.json").write_text("{not json")
    output = tmp_path / "github_output"
    argv = ["--plans", str(tmp_path), "--env", "seoul", "--output", str(tmp_path / "c.md")]
    assert preview.main(argv, {"GITHUB_OUTPUT": str(output)}) == 1
    err = capsys.readouterr().err
    assert "seoul.json is not valid JSON" in err
    assert not output.exists()  # no changes=false for a plan nobody could read
    assert not (tmp_path / "c.md").exists()


def test_real_renderer_marks_the_comment(tmp_path: Path) -> None:
    (tmp_path / "seoul.stderr.txt").write_text("Error: No valid credential sources found\n")
    out = tmp_path / "comment.md"
    argv = ["--plans", str(tmp_path), "--env", "seoul", "--env", "localstack"]
    argv += ["--skipped", "localstack=not run here", "--output", str(out)]
    assert preview.main([*argv, "--summary", str(tmp_path / "summary.md")], {}) == 0
    text = out.read_text()
    assert "<!-- plan-preview -->" in text.splitlines()[0]
    assert "seoul" in text and "localstack" in text


# Resource changes whose actions are no-op but which still change what the state records.
IMPORT = {"address": "aws_s3_bucket.b", "change": {"actions": ["no-op"], "importing": {"id": "b"}}}
MOVE = {
    "address": "module.web.aws_instance.this",
    "previous_address": "aws_instance.web",
    "change": {"actions": ["no-op"]},
}


def write_plan(
    path: Path,
    actions: list[list[str]],
    outputs: list[str] | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> Path:
    plan = {
        "format_version": "1.2",
        "resource_changes": [
            {"address": f"aws_instance.r{i}", "change": {"actions": a}}
            for i, a in enumerate(actions)
        ]
        + (extra or []),
        "output_changes": {f"o{i}": {"actions": [a]} for i, a in enumerate(outputs or [])},
    }
    path.write_text(json.dumps(plan))
    return path


# (resource actions, output actions, extra resource changes, has changes)
HAS_CHANGES = [
    ([["no-op"], ["read"]], ["no-op"], [], False),
    ([], [], [], False),
    ([["no-op"], ["create"]], [], [], True),
    ([["delete", "create"]], [], [], True),
    ([["update"]], [], [], True),
    ([["delete"]], [], [], True),
    ([["no-op"]], ["update"], [], True),
    ([["forget"]], [], [], True),  # removed from state (a `removed` block)
    ([["no-op"]], [], [IMPORT], True),  # an import-only plan must be applied
    ([["no-op"]], [], [MOVE], True),  # so must a move-only plan
]


@pytest.mark.parametrize(("actions", "outputs", "extra", "expected"), HAS_CHANGES)
def test_plan_has_changes(
    tmp_path: Path,
    actions: list[list[str]],
    outputs: list[str],
    extra: list[dict[str, Any]],
    expected: bool,
) -> None:
    path = write_plan(tmp_path / "p.json", actions, outputs, extra)
    assert plan_has_changes(json.loads(path.read_text())) is expected


@pytest.mark.parametrize(("actions", "outputs", "extra", "expected"), HAS_CHANGES)
def test_comment_summary_and_changes_output_agree(
    tmp_path: Path,
    actions: list[list[str]],
    outputs: list[str],
    extra: list[dict[str, Any]],
    expected: bool,
) -> None:
    """One definition of "has changes": the deploy's output, the comment and the summary."""
    plans = tmp_path / "plans"
    plans.mkdir()
    write_plan(plans / "seoul.json", actions, outputs, extra)
    output, comment, summary = tmp_path / "out", tmp_path / "c.md", tmp_path / "s.md"
    argv = ["--plans", str(plans), "--env", "seoul", "--output", str(comment),
            "--summary", str(summary)]  # fmt: skip
    assert preview.main(argv, {"GITHUB_OUTPUT": str(output)}) == 0
    assert output.read_text() == f"changes={str(expected).lower()}\n"
    for text in (comment.read_text(), summary.read_text()):
        assert ("### `seoul`: no changes" in text) is not expected


@pytest.mark.parametrize("extra", [[IMPORT], [MOVE]], ids=["import", "move"])
def test_an_import_or_move_only_plan_asks_for_approval(
    tmp_path: Path, extra: list[dict[str, Any]]
) -> None:
    write_plan(tmp_path / "seoul.json", [["no-op"]], extra=extra)
    output = tmp_path / "github_output"
    argv = ["--plans", str(tmp_path), "--env", "seoul", "--output", str(tmp_path / "c.md")]
    assert preview.main(argv, {"GITHUB_OUTPUT": str(output)}) == 0
    assert output.read_text() == "changes=true\n"
    # The comment a reviewer reads agrees: it shows the change, not "no changes".
    assert "no changes" not in (tmp_path / "c.md").read_text().lower()


def test_main_tells_the_workflow_whether_there_is_anything_to_apply(tmp_path: Path) -> None:
    write_plan(tmp_path / "seoul.json", [["no-op"]])
    output = tmp_path / "github_output"
    argv = ["--plans", str(tmp_path), "--env", "seoul", "--output", str(tmp_path / "c.md")]
    assert preview.main(argv, {"GITHUB_OUTPUT": str(output)}) == 0
    assert output.read_text() == "changes=false\n"
    write_plan(tmp_path / "seoul.json", [["no-op"], ["update"]])
    assert preview.main(argv, {"GITHUB_OUTPUT": str(output)}) == 0
    assert output.read_text().splitlines()[-1] == "changes=true"


# --- the redacted model a pull request's plan job uploads instead of its plan -----------------

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "plans"


def _fixture_secrets() -> tuple[str, ...]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("regenerate", FIXTURES / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SECRETS


@pytest.mark.parametrize("fixture", ["create", "update", "replace", "destroy", "no_changes"])
def test_the_redacted_model_holds_no_secret_and_renders_the_same_preview(
    tmp_path: Path, fixture: str
) -> None:
    """What a pull request uploads instead of the plan: the comment rendered from it is the
    comment rendered from the plan, and none of the plan's secrets is in it."""
    plans, out = tmp_path / "plans", tmp_path / "redacted"
    plans.mkdir()
    (plans / "seoul.json").write_text((FIXTURES / f"{fixture}.json").read_text())
    raw_comment = tmp_path / "raw.md"
    argv = ["--plans", str(plans), "--env", "seoul", "--summary", str(tmp_path / "s1.md")]
    assert preview.main([*argv, "--output", str(raw_comment), "--redacted-out", str(out)], {}) == 0
    model = out / "seoul.preview.json"
    text = model.read_text(encoding="utf-8")
    assert not [s for s in _fixture_secrets() if s in text]
    assert [p.name for p in out.iterdir()] == ["seoul.preview.json"]

    uploaded = tmp_path / "uploaded"  # what the preview job downloads: the model alone
    uploaded.mkdir()
    (uploaded / "seoul.preview.json").write_text(text)
    from_model = tmp_path / "model.md"
    argv = ["--plans", str(uploaded), "--env", "seoul", "--summary", str(tmp_path / "s2.md")]
    changes = tmp_path / "changes"
    assert preview.main([*argv, "--output", str(from_model)], {"GITHUB_OUTPUT": str(changes)}) == 0
    assert from_model.read_text() == raw_comment.read_text()
    assert (tmp_path / "s2.md").read_text() == (tmp_path / "s1.md").read_text()
    expected = "false" if fixture == "no_changes" else "true"
    assert changes.read_text() == f"changes={expected}\n"


def test_a_failed_plan_travels_as_a_redacted_model(tmp_path: Path) -> None:
    plans, out = tmp_path / "plans", tmp_path / "redacted"
    plans.mkdir()
    secret = _fixture_secrets()[0]
    (plans / "seoul.stderr.txt").write_text(f'Error: bad\n  password = "{secret}"\n')
    argv = ["--plans", str(plans), "--env", "seoul", "--summary", str(tmp_path / "s.md")]
    assert preview.main([*argv, "--output", str(tmp_path / "c.md"), "--redacted-out", str(out)],
                        {}) == 0  # fmt: skip
    text = (out / "seoul.preview.json").read_text()
    assert secret not in text and '"state": "failed"' in text
    item = classify(out, [("seoul", "")], {})[0]
    assert item == EnvPlan("seoul", "model", str(out / "seoul.preview.json"))


def test_a_file_that_is_not_a_redacted_model_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "seoul.preview.json").write_text('{"format": "something else"}')
    argv = ["--plans", str(tmp_path), "--env", "seoul", "--output", str(tmp_path / "c.md")]
    assert preview.main([*argv, "--summary", str(tmp_path / "s.md")], {}) == 1
    err = capsys.readouterr().err
    assert "seoul.preview.json is not a redacted plan preview" in err
