"""gitops.preview.digest: the plan digest, and the deploy's comparison with the preview its
pull request's run uploaded for the head commit; forged comments change nothing.

Real plan fixtures (tests/fixtures/plans/) and a local fake of the GitHub REST API.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from gitops.github.api import GitHub
from gitops.github.comments import PR_MARKER
from gitops.paths import REPO_ROOT
from gitops.preview import digest as plan_digest
from gitops.preview import model
from gitops.preview.digest import Previewed, digest, fingerprint, verdict

from tests.fake_github import REPO, TOKEN, FakeGitHub

PLANS = REPO_ROOT / "tests" / "fixtures" / "plans"
SHA = "0123456789abcdef0123456789abcdef01234567"  # the merge commit on main
HEAD = "fedcba9876543210fedcba9876543210fedcba98"  # the pull request's head commit
EARLIER = "1111111111111111111111111111111111111111"  # an earlier push of the pull request


def _regenerate_module() -> Any:
    spec = importlib.util.spec_from_file_location("regenerate", PLANS / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SECRETS = _regenerate_module().SECRETS


def plan(name: str) -> dict[str, Any]:
    return json.loads((PLANS / f"{name}.json").read_text(encoding="utf-8"))


def redacted(env: str, name: str, tmp_path: Path) -> str:
    """The `<env>.preview.json` a pull request's plan job uploads for fixture plan `name`."""
    path = tmp_path / f"{env}-{name}.json"
    path.write_text(json.dumps(plan(name)), encoding="utf-8")
    (built,) = model.build([(env, path)], [], [])
    return json.dumps(model.to_json(built))


def previewed(
    fake: FakeGitHub,
    tmp_path: Path,
    name: str,
    *,
    head: str = HEAD,
    pr: int = 7,
    fork: bool = False,
    env: str = "seoul",
    branch: str = "feature",
) -> dict[str, Any]:
    """Pull request `pr` (head `head`, from `branch`), merged as SHA, whose pr.yml run for
    `head` uploaded the preview of fixture plan `name`; the run."""  # fmt: skip
    if SHA not in fake.pulls_by_commit:
        fake.merged_pr(SHA, pr)
    fake.pull(pr, HEAD, head_ref=branch)
    repo = "someone/fork" if fork else REPO
    run = fake.add_run("pr.yml", event="pull_request", head_sha=head, head_branch=branch,
                       head_repository={"full_name": repo})  # fmt: skip
    fake.add_artifact(
        run["id"], f"plans-{env}", {f"{env}.preview.json": redacted(env, name, tmp_path)}
    )
    return run


def legacy_comment(plans: dict[str, dict[str, Any]]) -> str:
    """A preview comment carrying digest lines the way the pipeline once wrote them: what a
    forger would post or edit in."""
    import base64
    import zlib

    lines = [PR_MARKER]
    for env, p in plans.items():
        data = json.dumps(digest(p), sort_keys=True, separators=(",", ":")).encode()
        packed = base64.b64encode(zlib.compress(data, 9)).decode()
        lines.append(f"<!-- plan-digest v1 {env} sha256={fingerprint(digest(p))} {packed} -->")
    return "\n".join([*lines, "## Terraform plan preview", ""])


@pytest.fixture
def gh(fake_github: FakeGitHub) -> GitHub:
    return GitHub(TOKEN, REPO, fake_github.base, timeout=5)


# --- the digest ------------------------------------------------------------------------------


def test_digest_holds_addresses_and_actions_and_no_values() -> None:
    data = digest(plan("update"))
    assert set(data) == {"resources", "outputs"}
    assert data["resources"]["module.network.aws_vpc.this"] == "update"
    assert all(isinstance(v, str) for v in data["resources"].values())
    for name in ("create", "update", "replace", "destroy"):
        assert not [s for s in SECRETS if s in json.dumps(digest(plan(name)))]
    assert len(fingerprint(data)) == 64


def test_replace_and_no_changes_are_digested_as_terraform_says() -> None:
    replaced = digest(plan("replace"))["resources"]
    assert replaced["module.web.aws_instance.this"] in ("delete,create", "create,delete")
    assert digest(plan("no_changes")) == {"resources": {}, "outputs": {}}


def test_the_redacted_model_carries_the_digest_and_no_secret(tmp_path: Path) -> None:
    for name in ("create", "update", "replace", "destroy"):
        text = redacted("seoul", name, tmp_path)
        assert json.loads(text)["environment"]["digest"] == digest(plan(name))
        assert not [s for s in SECRETS if s in text]


def test_the_comment_carries_no_digest(tmp_path: Path) -> None:
    """The comment is no source of truth: nothing in it looks like a digest to trust."""
    from gitops.preview import render

    path = tmp_path / "p.json"
    path.write_text(json.dumps(plan("update")))
    comment, _ = render.render_files([("seoul", path)], [], [])
    assert "plan-digest" not in comment and fingerprint(digest(plan("update"))) not in comment


# --- the comparison on main ------------------------------------------------------------------


def test_same_plan_matches_the_preview_of_the_head_commit(
    fake_github: FakeGitHub, gh: GitHub, tmp_path: Path
) -> None:
    run = previewed(fake_github, tmp_path, "update")
    result = plan_digest.check(gh, "seoul", plan("update"), SHA)
    assert result.matches is True
    assert "matches the plan previewed in #7 at its head commit `fedcba9`" in result.text
    assert f"[run #{run['run_number']}]({run['html_url']})" in result.text


def test_the_artifact_is_fetched_without_the_token(
    fake_github: FakeGitHub, gh: GitHub, tmp_path: Path
) -> None:
    previewed(fake_github, tmp_path, "update")
    assert plan_digest.check(gh, "seoul", plan("update"), SHA).matches is True
    assert fake_github.blob_auth == [None], "the storage URL must not receive the token"


def test_one_resource_more_is_listed(fake_github: FakeGitHub, gh: GitHub, tmp_path: Path) -> None:
    previewed(fake_github, tmp_path, "update")
    current = plan("update")
    extra = json.loads(json.dumps(current["resource_changes"][0]))
    extra["address"] = "aws_s3_bucket.extra"
    extra["change"]["actions"] = ["create"]
    current["resource_changes"].append(extra)
    result = plan_digest.check(gh, "seoul", current, SHA)
    assert result.matches is False
    assert "> [!WARNING]" in result.text and "differs from the plan previewed in #7" in result.text
    assert "- ➕ only in this plan: `aws_s3_bucket.extra` (create)" in result.text
    assert result.text.count("\n- ") == 1


def test_one_action_changed_is_listed(fake_github: FakeGitHub, gh: GitHub, tmp_path: Path) -> None:
    previewed(fake_github, tmp_path, "update")
    current = plan("update")
    rc = next(r for r in current["resource_changes"] if r["address"].endswith("aws_vpc.this"))
    rc["change"]["actions"] = ["delete", "create"]
    result = plan_digest.check(gh, "seoul", current, SHA)
    assert result.matches is False
    assert "`module.network.aws_vpc.this`: previewed update, now **delete,create**" in result.text


# The forgeries: a destructive plan must never "match" because of something the pull request,
# or anyone with write access, could put in a comment or in another commit's run.


def test_an_extra_marked_bot_comment_does_not_make_a_destroy_match(
    fake_github: FakeGitHub, gh: GitHub, tmp_path: Path
) -> None:
    """A same-repository pull request's workflow token writes as github-actions[bot] too: an
    earlier push with an edited pr.yml can post a marked comment carrying any digest."""
    previewed(fake_github, tmp_path, "update")
    fake_github.add_comment(7, legacy_comment({"seoul": plan("update")}))
    fake_github.add_comment(7, legacy_comment({"seoul": plan("destroy")}))  # the forgery
    result = plan_digest.check(gh, "seoul", plan("destroy"), SHA)
    assert result.matches is False
    assert "differs from the plan previewed in #7" in result.text


def test_an_edited_bot_comment_does_not_make_a_destroy_match(
    fake_github: FakeGitHub, gh: GitHub, tmp_path: Path
) -> None:
    previewed(fake_github, tmp_path, "update")
    comment = fake_github.add_comment(7, legacy_comment({"seoul": plan("update")}))
    comment["body"] = legacy_comment({"seoul": plan("destroy")})  # edited by someone with write
    assert plan_digest.check(gh, "seoul", plan("destroy"), SHA).matches is False


def test_a_preview_of_another_commit_is_not_the_preview(
    fake_github: FakeGitHub, gh: GitHub, tmp_path: Path
) -> None:
    """An earlier push's run (whose workflow the pull request may have edited) previewed the
    destroy; the run of the head commit, the code that was merged, previewed the update."""
    previewed(fake_github, tmp_path, "update")
    previewed(fake_github, tmp_path, "destroy", head=EARLIER)  # newer run, other commit
    assert plan_digest.check(gh, "seoul", plan("destroy"), SHA).matches is False
    assert plan_digest.check(gh, "seoul", plan("update"), SHA).matches is True


def test_a_forks_run_of_the_head_commit_is_not_trusted(
    fake_github: FakeGitHub, gh: GitHub, tmp_path: Path
) -> None:
    previewed(fake_github, tmp_path, "destroy", fork=True)
    result = plan_digest.check(gh, "seoul", plan("destroy"), SHA)
    assert result.matches is None and "Not previewed" in result.text
    assert "no run of pr.yml for its head commit `fedcba9`" in result.text


def forged_run(fake: FakeGitHub, tmp_path: Path, branch: str, number: int = 8) -> None:
    """A second pull request from `branch` at the same head commit, into a base branch whose
    pr.yml someone with write access changed: GitHub runs the workflow of the merge of the
    head into that base, and its run, of the same head commit in this repository, uploads
    whatever `plans-seoul` that workflow writes (here: a preview of the destroy)."""
    fake.pull(number, HEAD, head_ref=branch, base_ref="evil-base")
    run = fake.add_run("pr.yml", event="pull_request", head_sha=HEAD, head_branch=branch)
    fake.add_artifact(
        run["id"], "plans-seoul", {"seoul.preview.json": redacted("seoul", "destroy", tmp_path)}
    )


def test_a_second_pull_request_of_the_head_commit_into_another_base_cannot_forge_a_match(
    fake_github: FakeGitHub, gh: GitHub, tmp_path: Path
) -> None:
    """From the same branch: its run cannot be told apart from the merged pull request's (same
    commit, same branch), so no preview is trusted and the approver reads the plan in full."""
    previewed(fake_github, tmp_path, "update")
    forged_run(fake_github, tmp_path, branch="feature")
    result = plan_digest.check(gh, "seoul", plan("destroy"), SHA)
    assert result.matches is None and "Not previewed" in result.text
    assert "#8" in result.text and "evil-base" in result.text


def test_a_run_of_the_head_commit_from_another_branch_is_not_the_preview(
    fake_github: FakeGitHub, gh: GitHub, tmp_path: Path
) -> None:
    """From another branch at the same commit: only the merged pull request's branch counts."""
    previewed(fake_github, tmp_path, "update")
    forged_run(fake_github, tmp_path, branch="copy-of-feature")
    assert plan_digest.check(gh, "seoul", plan("destroy"), SHA).matches is False
    assert plan_digest.check(gh, "seoul", plan("update"), SHA).matches is True


def test_newest_run_of_the_head_commit_wins_across_pages(
    fake_github: FakeGitHub, gh: GitHub, tmp_path: Path
) -> None:
    previewed(fake_github, tmp_path, "create")
    for _ in range(3):  # runs of other pull requests in between
        fake_github.add_run("pr.yml", event="pull_request", head_sha=EARLIER)
    previewed(fake_github, tmp_path, "update")  # "Re-run all jobs" after a rebase of main
    assert plan_digest.check(gh, "seoul", plan("update"), SHA).matches is True


def test_an_expired_preview_says_so(fake_github: FakeGitHub, gh: GitHub, tmp_path: Path) -> None:
    previewed(fake_github, tmp_path, "update")
    for artifacts in fake_github.artifacts.values():
        for artifact in artifacts:
            artifact["expired"] = True
    result = plan_digest.check(gh, "seoul", plan("update"), SHA)
    assert result.matches is None and "expired" in result.text


def test_a_failed_pull_request_plan_is_not_a_preview(
    fake_github: FakeGitHub, gh: GitHub, tmp_path: Path
) -> None:
    fake_github.merged_pr(SHA, 7)
    fake_github.pull(7, HEAD)
    run = fake_github.add_run("pr.yml", event="pull_request", head_sha=HEAD, head_branch="feature")
    failed = tmp_path / "seoul.stderr.txt"
    failed.write_text("Error: no credentials")
    (built,) = model.build([], [("seoul", failed)], [])
    fake_github.add_artifact(run["id"], "plans-seoul",
                             {"seoul.preview.json": json.dumps(model.to_json(built))})  # fmt: skip
    result = plan_digest.check(gh, "seoul", plan("update"), SHA)
    assert result.matches is None and "failed" in result.text


def test_push_without_a_pull_request_says_so(fake_github: FakeGitHub, gh: GitHub) -> None:
    result = plan_digest.check(gh, "seoul", plan("update"), SHA)
    assert result.matches is None
    assert "No pull request" in result.text and SHA[:7] in result.text


def test_an_unmerged_pull_request_is_not_the_source(fake_github: FakeGitHub, gh: GitHub) -> None:
    fake_github.pulls_by_commit[SHA] = [{"number": 9, "merge_commit_sha": None, "merged_at": None}]
    assert plan_digest.check(gh, "seoul", plan("update"), SHA).matches is None


def test_a_dispatched_deploy_is_shown_as_it_is(fake_github: FakeGitHub, gh: GitHub) -> None:
    """A deploy started by hand (a replacement, a re-plan): no pull request previewed it."""
    result = plan_digest.check(gh, "seoul", plan("replace"), SHA, event="workflow_dispatch")
    assert result.matches is None and "Started by hand" in result.text
    assert not fake_github.calls


def test_the_verdict_lists_what_differs_without_the_api() -> None:
    found = Previewed(fingerprint(digest(plan("update"))), digest(plan("update")), 7, HEAD, "run")
    text = verdict("seoul", digest(plan("no_changes")), 7, found, SHA).text
    assert "- ➖ previewed, not in this plan:" in text


# --- the command -----------------------------------------------------------------------------


def environ(fake: FakeGitHub, tmp_path: Path) -> dict[str, str]:
    return {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": fake.base,
        "GITHUB_SHA": SHA,
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }


def test_command_writes_the_verdict_to_the_summary(
    fake_github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previewed(fake_github, tmp_path, "update")
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
