"""scripts/preview.py: each environment reaches plan_preview.py as planned, failed or skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import preview
from scripts.preview import EnvPlan, classify, plan_has_changes, renderer_args

REAL_RENDERER = Path(__file__).resolve().parents[1] / "scripts" / "plan_preview.py"

# A stand-in for plan_preview.py that records the arguments it was given.
RECORDER = """
import json, sys
print("<!-- plan-preview -->")
print(json.dumps(sys.argv[1:]))
"""


@pytest.fixture
def recorder(tmp_path: Path) -> Path:
    path = tmp_path / "recorder.py"
    path.write_text(RECORDER, encoding="utf-8")
    return path


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


def test_renderer_arguments_follow_the_plan_preview_contract() -> None:
    items = [
        EnvPlan("localstack", "planned", "p/localstack.json"),
        EnvPlan("seoul", "skipped", "not configured"),
        EnvPlan("tokyo", "failed", "p/tokyo.stderr.txt"),
    ]
    assert renderer_args(items, "summary.md") == [
        "localstack=p/localstack.json",
        "--skipped",
        "seoul=not configured",
        "--failed",
        "tokyo=p/tokyo.stderr.txt",
        "--summary",
        "summary.md",
    ]


def test_main_runs_the_renderer_and_writes_the_comment(
    tmp_path: Path, recorder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "localstack.json").write_text("{}")
    out = tmp_path / "comment.md"
    argv = [
        "--plans", str(plans), "--env", "localstack", "--env", "seoul",
        "--skipped", "seoul=AWS OIDC is not configured", "--output", str(out),
        "--renderer", str(recorder),
    ]  # fmt: skip
    assert preview.main(argv, {"GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}) == 0
    first, args = out.read_text().splitlines()
    assert first == "<!-- plan-preview -->"
    assert json.loads(args) == [
        f"localstack={plans / 'localstack.json'}",
        "--skipped",
        "seoul=AWS OIDC is not configured",
        "--summary",
        str(tmp_path / "summary"),
    ]
    assert "::notice title=Plan skipped (seoul)::AWS OIDC is not configured" in (
        capsys.readouterr().out
    )


def test_main_reports_a_renderer_failure(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import sys; sys.exit(3)")
    argv = ["--plans", str(tmp_path), "--env", "seoul", "--renderer", str(broken)]
    assert preview.main(argv, {}) == 3


@pytest.mark.skipif(not REAL_RENDERER.exists(), reason="scripts/plan_preview.py not in the tree")
def test_real_renderer_marks_the_comment(tmp_path: Path) -> None:
    (tmp_path / "seoul.stderr.txt").write_text("Error: No valid credential sources found\n")
    out = tmp_path / "comment.md"
    argv = ["--plans", str(tmp_path), "--env", "seoul", "--env", "localstack"]
    argv += ["--skipped", "localstack=not run here", "--output", str(out)]
    assert preview.main([*argv, "--summary", str(tmp_path / "summary.md")], {}) == 0
    text = out.read_text()
    assert "<!-- plan-preview -->" in text.splitlines()[0]
    assert "seoul" in text and "localstack" in text


def write_plan(path: Path, actions: list[list[str]], outputs: list[str] | None = None) -> Path:
    plan = {
        "format_version": "1.2",
        "resource_changes": [
            {"address": f"aws_instance.r{i}", "change": {"actions": a}}
            for i, a in enumerate(actions)
        ],
        "output_changes": {f"o{i}": {"actions": [a]} for i, a in enumerate(outputs or [])},
    }
    path.write_text(json.dumps(plan))
    return path


@pytest.mark.parametrize(
    ("actions", "outputs", "expected"),
    [
        ([["no-op"], ["read"]], ["no-op"], False),
        ([], [], False),
        ([["no-op"], ["create"]], [], True),
        ([["delete", "create"]], [], True),
        ([["update"]], [], True),
        ([["delete"]], [], True),
        ([["no-op"]], ["update"], True),
    ],
)
def test_plan_has_changes(
    tmp_path: Path, actions: list[list[str]], outputs: list[str], expected: bool
) -> None:
    assert plan_has_changes(write_plan(tmp_path / "p.json", actions, outputs)) is expected


def test_main_tells_the_workflow_whether_there_is_anything_to_apply(
    tmp_path: Path, recorder: Path
) -> None:
    write_plan(tmp_path / "seoul.json", [["no-op"]])
    output = tmp_path / "github_output"
    argv = ["--plans", str(tmp_path), "--env", "seoul", "--renderer", str(recorder)]
    argv += ["--output", str(tmp_path / "c.md")]
    assert preview.main(argv, {"GITHUB_OUTPUT": str(output)}) == 0
    assert output.read_text() == "changes=false\n"
    write_plan(tmp_path / "seoul.json", [["no-op"], ["update"]])
    assert preview.main(argv, {"GITHUB_OUTPUT": str(output)}) == 0
    assert output.read_text().splitlines()[-1] == "changes=true"
