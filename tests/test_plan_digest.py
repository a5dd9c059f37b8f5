"""gitops.preview.digest: the preview's plan digest and the deploy's comparison with it.

Real plan fixtures (tests/fixtures/plans/) and a local fake of the GitHub REST API.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gitops.github.api import GitHub
from gitops.github.comments import PR_MARKER
from gitops.paths import REPO_ROOT
from gitops.preview import digest as plan_digest
from gitops.preview.digest import attach, comment_block, digest, fingerprint, parse, verdict

from tests.fake_github import REPO, TOKEN, FakeGitHub

PLANS = REPO_ROOT / "tests" / "fixtures" / "plans"
SHA = "0123456789abcdef0123456789abcdef01234567"


def _regenerate_module() -> Any:
    spec = importlib.util.spec_from_file_location("regenerate", PLANS / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SECRETS = _regenerate_module().SECRETS


def plan(name: str) -> dict[str, Any]:
    return json.loads((PLANS / f"{name}.json").read_text(encoding="utf-8"))


def preview_comment(plans: dict[str, dict[str, Any]]) -> str:
    block = comment_block({env: digest(p) for env, p in plans.items()})
    return attach(f"{PR_MARKER}\n## Terraform plan preview\n", block)


@pytest.fixture
def gh(fake_github: FakeGitHub) -> GitHub:
    return GitHub(TOKEN, REPO, fake_github.base, timeout=5)


# --- the digest ------------------------------------------------------------------------------


def test_digest_holds_addresses_and_actions_and_no_values() -> None:
    data = digest(plan("update"))
    assert set(data) == {"resources", "outputs"}
    assert data["resources"]["module.network.aws_vpc.this"] == "update"
    assert all(isinstance(v, str) for v in data["resources"].values())
    block = comment_block({"seoul": data})
    for name in ("create", "update", "replace", "destroy"):
        text = json.dumps(digest(plan(name))) + comment_block({"x": digest(plan(name))})
        assert not [s for s in SECRETS if s in text]
    assert block.startswith("<!-- plan-digest v1 seoul sha256=")


def test_replace_and_no_changes_are_digested_as_terraform_says() -> None:
    replaced = digest(plan("replace"))["resources"]
    assert replaced["module.web.aws_instance.this"] in ("delete,create", "create,delete")
    assert digest(plan("no_changes")) == {"resources": {}, "outputs": {}}


def test_the_block_round_trips_through_the_comment() -> None:
    plans = {"localstack": plan("create"), "seoul": plan("update")}
    found = parse(preview_comment(plans))
    assert set(found) == {"localstack", "seoul"}
    for env, p in plans.items():
        assert found[env].data == digest(p)
        assert found[env].hash == fingerprint(digest(p))


def test_an_edited_digest_is_not_trusted_beyond_its_hash() -> None:
    body = preview_comment({"seoul": plan("update")})
    head, data = body.split(" sha256=")[1].split(" ", 1)
    tampered = body.replace(data[:12], "A" * 12)
    found = parse(tampered)
    assert found["seoul"].data is None and found["seoul"].hash == head


def test_past_its_budget_only_the_hash_is_kept() -> None:
    block = comment_block({"seoul": digest(plan("create"))}, budget=100)
    found = parse(block)
    assert found["seoul"].data is None
    text = verdict("seoul", digest(plan("update")), 7, found["seoul"], SHA).text
    assert "too large" in text and "differs from the plan previewed in #7" in text


def test_plan_preview_puts_the_digest_under_its_marker(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gitops",
            "plan-preview",
            f"seoul={PLANS / 'update.json'}",
            f"localstack={PLANS / 'create.json'}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    assert lines[0] == PR_MARKER
    assert lines[1].startswith("<!-- plan-digest v1 seoul ")
    assert parse(out)["seoul"].data == digest(plan("update"))
    assert parse(out)["localstack"].data == digest(plan("create"))


# --- the comparison on main ------------------------------------------------------------------


def test_same_plan_matches_the_preview(fake_github: FakeGitHub, gh: GitHub) -> None:
    fake_github.merged_pr(SHA, 7)
    fake_github.add_comment(7, preview_comment({"seoul": plan("update")}))
    result = plan_digest.check(gh, "seoul", plan("update"), SHA)
    assert result.matches is True
    assert "matches the plan previewed in #7" in result.text


def test_one_resource_more_is_listed(fake_github: FakeGitHub, gh: GitHub) -> None:
    previewed = plan("create")
    previewed["resource_changes"] = [
        rc for rc in previewed["resource_changes"] if rc["address"] != "aws_ssm_parameter.release"
    ]
    fake_github.merged_pr(SHA, 7)
    fake_github.add_comment(7, preview_comment({"seoul": previewed}))
    result = plan_digest.check(gh, "seoul", plan("create"), SHA)
    assert result.matches is False
    assert "> [!WARNING]" in result.text and "differs from the plan previewed in #7" in result.text
    assert "- ➕ only in this plan: `aws_ssm_parameter.release` (create)" in result.text
    assert result.text.count("\n- ") == 1


def test_one_action_changed_is_listed(fake_github: FakeGitHub, gh: GitHub) -> None:
    current = plan("update")
    rc = next(r for r in current["resource_changes"] if r["address"].endswith("aws_vpc.this"))
    rc["change"]["actions"] = ["delete", "create"]
    fake_github.merged_pr(SHA, 7)
    fake_github.add_comment(7, preview_comment({"seoul": plan("update")}))
    result = plan_digest.check(gh, "seoul", current, SHA)
    assert result.matches is False
    assert "`module.network.aws_vpc.this`: previewed update, now **delete,create**" in result.text


def test_push_without_a_pull_request_says_so(fake_github: FakeGitHub, gh: GitHub) -> None:
    result = plan_digest.check(gh, "seoul", plan("update"), SHA)
    assert result.matches is None
    assert "No pull request" in result.text and SHA[:7] in result.text


def test_a_digest_written_by_someone_else_is_ignored(fake_github: FakeGitHub, gh: GitHub) -> None:
    fake_github.merged_pr(SHA, 7)
    forged = preview_comment({"seoul": plan("update")})
    fake_github.add_comment(7, forged, login="mallory")
    result = plan_digest.check(gh, "seoul", plan("update"), SHA)
    assert result.matches is None and "Not previewed" in result.text


def test_newest_preview_wins_across_pages(fake_github: FakeGitHub, gh: GitHub) -> None:
    fake_github.merged_pr(SHA, 7)
    fake_github.add_comment(7, preview_comment({"seoul": plan("create")}))
    for i in range(3):
        fake_github.add_comment(7, f"chatter {i}", login="someone")
    fake_github.add_comment(7, preview_comment({"seoul": plan("update")}))
    assert plan_digest.check(gh, "seoul", plan("update"), SHA).matches is True


def test_an_unmerged_pull_request_is_not_the_source(fake_github: FakeGitHub, gh: GitHub) -> None:
    fake_github.pulls_by_commit[SHA] = [{"number": 9, "merge_commit_sha": None, "merged_at": None}]
    assert plan_digest.check(gh, "seoul", plan("update"), SHA).matches is None


# --- the command -----------------------------------------------------------------------------


def environ(fake: FakeGitHub, tmp_path: Path) -> dict[str, str]:
    return {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": fake.base,
        "GITHUB_SHA": SHA,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def test_command_writes_the_verdict_to_the_summary(
    fake_github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_github.merged_pr(SHA, 7)
    fake_github.add_comment(7, preview_comment({"seoul": plan("update")}))
    env = environ(fake_github, tmp_path)
    argv = ["compare", "--env", "seoul", "--plan", str(PLANS / "update.json")]
    assert plan_digest.main(argv, env) == 0
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("### Plan bound to its preview (seoul)")
    assert "matches the plan previewed in #7" in summary
    assert "seoul: plan matches the previewed plan" in capsys.readouterr().out


def test_command_warns_and_goes_on_when_github_fails(
    fake_github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_github.fail_with = 502
    env = environ(fake_github, tmp_path)
    argv = ["compare", "--env", "seoul", "--plan", str(PLANS / "update.json")]
    assert plan_digest.main(argv, env) == 0
    assert "Could not compare with the preview" in (tmp_path / "summary.md").read_text()
    assert "::warning title=Plan not compared with its preview::" in capsys.readouterr().out
    assert TOKEN not in (tmp_path / "summary.md").read_text()


def test_command_refuses_a_missing_plan_or_a_bad_sha(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    env = environ(fake_github, tmp_path)
    assert plan_digest.main(["compare", "--env", "seoul", "--plan", str(tmp_path / "no")], env) == 2
    with pytest.raises(SystemExit) as exc:
        plan_digest.main(["compare", "--env", "s", "--plan", "x", "--sha", "main"], env)
    assert exc.value.code == 2
    assert not fake_github.calls
