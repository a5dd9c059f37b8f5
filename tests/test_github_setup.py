"""make github-setup against a local fake GitHub (tests.fake_github.FakeRepository): what it
creates, in which order, for every AWS environment described; solo and team set-ups walked end
to end (set-up, the CODEOWNERS pull request, merges the rules allow or refuse, deployment
approvals); a second run that keeps the user's own rules, bypass actors, reviewers and
required checks; and the refusals (a fork, a default branch other than main, a token without
admin rights, a private repository that cannot enforce reviewers)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from gitops import environments
from gitops.github import api, protection
from gitops.github import setup as github_setup
from gitops.paths import REPO_ROOT
from gitops.terraform.bootstrap import workflow_variables

from tests.fake_github import ACTIONS_APP_ID, FakeRepository, PullRequest

REPO = "octo-org/gitops-seoul"
TOKEN = "ghp_fake-setup-token"
AWS = [env for env in environments.load().values() if not env.emulated]
CODEOWNERS = protection.CODEOWNERS_PATH
PR_WORKFLOW = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "pr.yml").read_text())
PR_TRIGGERS = PR_WORKFLOW.get("on", PR_WORKFLOW.get(True))  # YAML 1.1 reads `on` as true
GATE_CHECK = PR_WORKFLOW["jobs"]["gate"]["name"]  # the check run GitHub names after the job


def role_variables(env: environments.Environment, bucket: str = "tfstate-123456789012-x") -> dict:
    """What `make bootstrap` would give an environment: its [roles] variables and the bucket."""
    return {
        name: bucket if name == "TF_STATE_BUCKET" else f"arn:aws:iam::123456789012:role/{name}"
        for name in workflow_variables(env)
    }


def all_variables(envs: list[environments.Environment]) -> dict[str, str]:
    return {k: v for env in envs for k, v in role_variables(env).items()}


@pytest.fixture
def fake(serve_fake: Callable[[FakeRepository], FakeRepository]) -> FakeRepository:
    return serve_fake(FakeRepository(name=REPO, token=TOKEN))


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "bootstrap" / "github-oidc").mkdir(parents=True)
    (tmp_path / "repo").mkdir()
    return {"bootstrap_dir": tmp_path / "bootstrap", "repo_root": tmp_path / "repo"}


def run(
    fake: FakeRepository,
    dirs: dict[str, Path],
    *,
    bootstrapped: bool = True,
    envs: list[environments.Environment] | None = None,
    **kwargs: Any,
) -> github_setup.Report:
    gh = api.GitHub(TOKEN, REPO, fake.base, timeout=5)
    kwargs.setdefault("variables_of", role_variables if bootstrapped else lambda env: None)
    return github_setup.setup(gh, envs=AWS if envs is None else envs, log=lambda _: None,
                              **dirs, **kwargs)  # fmt: skip


def our_ruleset(fake: FakeRepository) -> dict[str, Any]:
    (found,) = [r for r in fake.rulesets if r["name"] == protection.RULESET_NAME
                and r["source_type"] == "Repository"]  # fmt: skip
    return found


def rule(ruleset: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [r for r in ruleset["rules"] if r["type"] == kind]
    return found.get("parameters") or {}


def codeowners_pull(fake: FakeRepository, dirs: dict[str, Path], author: str) -> PullRequest:
    """The first pull request the walk-through suggests: the CODEOWNERS the set-up wrote."""
    text = (dirs["repo_root"] / CODEOWNERS).read_text()
    return fake.open_pull(author, {CODEOWNERS: text})


def test_the_required_check_is_the_gate_job_of_the_pull_request_workflow() -> None:
    assert protection.REQUIRED_CHECK == GATE_CHECK


def test_protects_environments_main_and_sets_variables(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    report = run(fake, dirs, reviewers=["alice", "bob"])
    assert report.mode is not None and report.mode.team

    for env in AWS:
        gate = fake.environments[env.gate]
        assert gate["can_admins_bypass"] is False
        (reviewers,) = [r for r in gate["protection_rules"] if r["type"] == "required_reviewers"]
        assert [r["reviewer"]["id"] for r in reviewers["reviewers"]] == [11, 12]
        assert reviewers["prevent_self_review"] is True
        named = [env.gate]
        if env.nightly:
            nightly = fake.environments[env.nightly.environment]
            assert nightly["can_admins_bypass"] is False and nightly["protection_rules"] == []
            named.append(env.nightly.environment)
        for name in named:
            policy = fake.environments[name]["deployment_branch_policy"]
            assert policy == {"protected_branches": False, "custom_branch_policies": True}
            assert [p["name"] for p in fake.branch_policies[name]] == ["main"]

    ruleset = our_ruleset(fake)
    assert ruleset["enforcement"] == "active" and ruleset["bypass_actors"] == []
    assert ruleset["conditions"]["ref_name"]["include"] == ["~DEFAULT_BRANCH"]
    pr = rule(ruleset, "pull_request")
    assert pr["required_approving_review_count"] == 1 and pr["require_code_owner_review"] is True
    checks = rule(ruleset, "required_status_checks")
    assert checks["strict_required_status_checks_policy"] is True
    assert checks["required_status_checks"] == [
        {"context": GATE_CHECK, "integration_id": ACTIONS_APP_ID}
    ]
    assert {"deletion", "non_fast_forward"} <= {r["type"] for r in ruleset["rules"]}

    owners = (dirs["repo_root"] / CODEOWNERS).read_text()
    for path in protection.CODEOWNED:
        assert f"\n{path} @alice @bob\n" in owners
    assert any("CODEOWNERS" in w for w in report.warnings)

    ids = json.loads(
        (dirs["bootstrap_dir"] / "github-oidc" / "github.auto.tfvars.json").read_text()
    )
    assert ids == {"repository": REPO, "github_owner_id": 1234567, "github_repository_id": 89012345}
    assert fake.variables == all_variables(AWS)

    writes = fake.writes()
    first_variable = next(i for i, c in enumerate(writes) if "/actions/variables" in c[1])
    last_environment = max(i for i, c in enumerate(writes) if "/environments/" in c[1])
    assert last_environment < first_variable, (
        "environments must be protected before roles are wired"
    )


def test_every_codeowned_path_exists_and_covers_what_runs_with_credentials() -> None:
    for path in protection.CODEOWNED:
        assert (REPO_ROOT / path.strip("/")).exists(), f"{path}: no such file or folder"
    wanted = {"/envs/", "/bootstrap/", "/requirements/", "/pyproject.toml",
              "/.terraform-version", "/app/", "/.pre-commit-config.yaml",
              ".github/", "/Makefile", "/scripts/", "/modules/"}  # fmt: skip
    assert wanted <= set(protection.CODEOWNED)


# --- solo and team, end to end ----------------------------------------------------------------


def test_solo_set_up_works_end_to_end(fake: FakeRepository, dirs: dict[str, Path]) -> None:
    """One person: set-up, the CODEOWNERS pull request, merged by its author once the gate is
    green and the branch is up to date, then the deployment approved by that same person."""
    report = run(fake, dirs)  # reviewers default to the token's user
    assert report.mode is not None and report.mode.name == "solo"
    assert not [w for w in report.warnings if "cannot merge" in w]

    pr = codeowners_pull(fake, dirs, "alice")
    assert fake.merge_blockers(pr, "alice") == [f"required check {GATE_CHECK!r} has not passed"]
    fake.report_check(pr.head, GATE_CHECK, app_id=999)  # another app's check does not count
    assert fake.merge_blockers(pr, "alice")
    fake.report_check(pr.head, GATE_CHECK)
    assert fake.merge_blockers(pr, "alice") == []

    fake.advance_main()  # main moved: the preview is stale until the branch is updated
    assert fake.merge_blockers(pr, "alice") == ["the branch is not up to date with main"]
    fake.push(pr, "alice", update_from_main=True)
    fake.report_check(pr.head, GATE_CHECK)
    fake.merge(pr, "alice")
    assert fake.files[CODEOWNERS].startswith("# Written by make github-setup")

    for env in AWS:  # the merge started the deploy run; its author approves it
        assert fake.deployment_blockers(env.gate, started_by="alice", approver="alice") == []
        assert fake.deployment_blockers(env.gate, "alice", "bob")  # not a reviewer
        if env.nightly:
            nightly = fake.environments[env.nightly.environment]
            assert not [r for r in nightly["protection_rules"] if r["type"] == "required_reviewers"]

    # The next change, CODEOWNERS now on main, still needs nobody else.
    change = fake.open_pull("alice", {"envs/seoul/main.tf": "# changed"})
    fake.report_check(change.head, GATE_CHECK)
    fake.merge(change, "alice")


def test_team_set_up_works_end_to_end(fake: FakeRepository, dirs: dict[str, Path]) -> None:
    report = run(fake, dirs, reviewers=["alice", "bob"])
    assert report.mode is not None and report.mode.name == "team"

    pr = codeowners_pull(fake, dirs, "alice")
    fake.report_check(pr.head, GATE_CHECK)
    assert "1 approving review(s) required, 0 given" in fake.merge_blockers(pr, "alice")
    with pytest.raises(PermissionError, match="own pull request"):
        fake.approve(pr, "alice")
    fake.approve(pr, "bob")
    fake.merge(pr, "alice")

    # CODEOWNERS is on main now: a change to what runs with credentials needs a code owner.
    change = fake.open_pull("alice", {"envs/seoul/main.tf": "# changed"})
    fake.report_check(change.head, GATE_CHECK)
    fake.approve(change, "carol")  # a writer, not a code owner
    assert fake.merge_blockers(change, "alice") == [
        "code owner review required for envs/seoul/main.tf"
    ]
    fake.approve(change, "bob")
    assert fake.merge_blockers(change, "alice") == []
    fake.push(change, "alice")  # a new push after the approvals: approved again, by another
    fake.report_check(change.head, GATE_CHECK)
    blockers = fake.merge_blockers(change, "alice")
    assert "1 approving review(s) required, 0 given" in blockers
    assert "the last push (by alice) needs someone else's approval" in blockers
    fake.approve(change, "bob")
    fake.merge(change, "alice")

    for env in AWS:  # alice merged: the deploy run is hers; bob approves it, she cannot
        assert fake.deployment_blockers(env.gate, "alice", "alice") == [
            "prevent self-review: alice started this run"
        ]
        assert fake.deployment_blockers(env.gate, "alice", "bob") == []
        assert fake.deployment_blockers(env.gate, "alice", "carol")


def test_a_second_run_keeps_the_users_rules_bypass_actors_reviewers_and_required_check(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    """A ruleset update replaces the whole rules and bypass_actors lists: the set-up sends them
    merged with what the user added by hand between two runs."""
    run(fake, dirs)
    ruleset = our_ruleset(fake)
    bypass = {"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "pull_request"}
    ruleset["bypass_actors"].append(bypass)
    ruleset["rules"].append({"type": "required_linear_history"})
    extra_check = {"context": "docs", "integration_id": ACTIONS_APP_ID}
    rule(ruleset, "required_status_checks")["required_status_checks"].append(extra_check)
    gate = AWS[0].gate
    assert gate is not None
    added = fake.environments[gate]
    added["protection_rules"] = [
        {"type": "wait_timer", "wait_timer": 5},
        {"type": "required_reviewers", "prevent_self_review": False,
         "reviewers": [{"type": "User", "reviewer": {"id": 11}},
                       {"type": "User", "reviewer": {"id": 13}}]},
    ]  # fmt: skip
    before = json.loads(json.dumps(our_ruleset(fake)))

    run(fake, dirs)

    after = our_ruleset(fake)
    assert after == before  # nothing lost, nothing added: it already had everything
    assert after["bypass_actors"] == [bypass]
    assert {"type": "required_linear_history"} in after["rules"]
    checks = rule(after, "required_status_checks")
    assert checks["strict_required_status_checks_policy"] is True
    assert [c["context"] for c in checks["required_status_checks"]] == [GATE_CHECK, "docs"]
    env = fake.environments[gate]
    assert {"type": "wait_timer", "wait_timer": 5} in env["protection_rules"]
    (reviewers,) = [r for r in env["protection_rules"] if r["type"] == "required_reviewers"]
    assert [r["reviewer"]["id"] for r in reviewers["reviewers"]] == [11, 13]
    assert len(fake.rulesets) == 1


def test_second_run_changes_nothing(fake: FakeRepository, dirs: dict[str, Path]) -> None:
    run(fake, dirs, reviewers=["alice", "bob"])
    environments_before = json.loads(json.dumps(fake.environments))
    fake.calls.clear()
    run(fake, dirs, reviewers=["alice", "bob"])
    assert len(fake.rulesets) == 1 and ("PUT", f"/repos/{REPO}/rulesets/1") in fake.calls
    assert fake.environments == environments_before
    assert all(len(p) == 1 for p in fake.branch_policies.values())
    assert not [
        c for c in fake.writes() if "/actions/variables" in c[1] or "branch-policies" in c[1]
    ]


def test_solo_after_team_keeps_the_stricter_rule_and_says_how_to_lower_it(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    run(fake, dirs, reviewers=["alice", "bob"])
    report = run(fake, dirs)
    assert rule(our_ruleset(fake), "pull_request")["required_approving_review_count"] == 1
    (warning,) = [w for w in report.warnings if "cannot merge" in w]
    assert "1 approving review(s)" in warning and "Settings → Rules → Rulesets" in warning


def test_team_after_solo_asks_for_reviews_and_gives_every_reviewer_the_paths(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    run(fake, dirs)
    pr = codeowners_pull(fake, dirs, "alice")
    fake.report_check(pr.head, GATE_CHECK)
    fake.merge(pr, "alice")
    (dirs["repo_root"] / CODEOWNERS).unlink()  # a fresh checkout of main

    report = run(fake, dirs, reviewers=["alice", "bob"])
    assert rule(our_ruleset(fake), "pull_request")["require_code_owner_review"] is True
    assert any("CODEOWNERS" in w for w in report.warnings)
    owners = (dirs["repo_root"] / CODEOWNERS).read_text()
    for path in protection.CODEOWNED:
        assert f"\n{path} @alice @bob\n" in owners  # bob can now approve alice's changes


def test_an_exclusion_of_main_is_dropped_and_a_disabled_ruleset_made_active(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    run(fake, dirs)
    ruleset = our_ruleset(fake)
    ruleset["enforcement"] = "disabled"
    ruleset["conditions"]["ref_name"]["exclude"] = ["refs/heads/*", "refs/heads/release-*"]
    report = run(fake, dirs)
    ruleset = our_ruleset(fake)
    assert ruleset["enforcement"] == "active"
    assert ruleset["conditions"]["ref_name"]["exclude"] == ["refs/heads/release-*"]
    assert any("refs/heads/*" in line and "dropped" in line for line in report.lines)


def test_an_organisation_ruleset_of_the_same_name_is_left_to_the_organisation(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    fake.rulesets.append({"id": 1, "name": protection.RULESET_NAME, "source_type": "Organization",
                          "source": "octo-org", "enforcement": "active", "rules": []})  # fmt: skip
    run(fake, dirs)
    assert fake.rulesets[0]["rules"] == []
    assert rule(our_ruleset(fake), "required_status_checks")


def test_a_merge_queue_gets_the_required_check_from_the_merge_group_run(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    """With a merge queue (added by hand; GitHub offers it to organisations' repositories), a
    pull request merges once the required check passed on the merge group's commit: only a
    workflow that runs on `merge_group` reports it there."""
    run(fake, dirs)
    our_ruleset(fake)["rules"].append({"type": "merge_queue", "parameters": {
        "check_response_timeout_minutes": 60, "grouping_strategy": "ALLGREEN",
        "max_entries_to_build": 5, "max_entries_to_merge": 5, "merge_method": "MERGE",
        "min_entries_to_merge": 1, "min_entries_to_merge_wait_minutes": 5,
    }})  # fmt: skip
    run(fake, dirs)  # kept on a second run
    assert rule(our_ruleset(fake), "merge_queue")["merge_method"] == "MERGE"

    pr = fake.open_pull("alice", {"app/app.py": "# changed"})
    fake.report_check(pr.head, GATE_CHECK)
    assert fake.merge_blockers(pr, "alice") == ["main takes changes through its merge queue"]
    group = fake.commit()  # the queue's gh-readonly-queue/main/... commit
    if "merge_group" in PR_TRIGGERS:  # the gate runs there too, and reports on that commit
        fake.report_check(group, GATE_CHECK)
    assert fake.merge_blockers(pr, "alice", commit=group) == []


def test_a_bypass_actor_the_user_added_is_honoured(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    run(fake, dirs, reviewers=["alice", "bob"])
    our_ruleset(fake)["bypass_actors"].append(
        {"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "pull_request"}
    )
    run(fake, dirs, reviewers=["alice", "bob"])
    pr = fake.open_pull("bob", {"README.md": "x"})
    assert fake.merge_blockers(pr, "alice") == []  # an admin: bypass kept
    assert fake.merge_blockers(pr, "bob")  # a writer: no bypass


# --- several environments ---------------------------------------------------------------------


def second_environment(name: str = "") -> environments.Environment:
    """Another AWS environment as its environment.toml would describe it, by default under a
    name no description uses (a checkout may describe osaka already)."""
    name = name or next(n for n in ("osaka", "nara", "kobe") if n not in environments.names())
    base = AWS[0]
    assert base.nightly is not None
    upper = name.upper()
    return dataclasses.replace(
        base,
        name=name,
        region="ap-northeast-3",
        state_key=f"{name}/terraform.tfstate",
        gate=name,
        roles=environments.Roles(
            f"AWS_{upper}_PLAN_ROLE_ARN",
            f"AWS_{upper}_APPLY_ROLE_ARN",
            f"AWS_{upper}_DESTROY_ROLE_ARN",
        ),  # fmt: skip
        nightly=dataclasses.replace(
            base.nightly, environment=f"{name}-nightly", keep_alive=f"KEEP_{upper}_UNTIL"
        ),
    )


def test_every_aws_environment_is_protected_and_wired_once_it_is_bootstrapped(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    second = second_environment()
    envs = [*AWS, second]
    bootstrapped = {env.name for env in AWS}

    def variables_of(env: environments.Environment) -> dict[str, str] | None:
        return role_variables(env) if env.name in bootstrapped else None

    report = run(fake, dirs, envs=envs, variables_of=variables_of)
    for env in envs:
        assert env.gate in fake.environments and env.nightly is not None
        assert fake.environments[env.nightly.environment]["can_admins_bypass"] is False
    assert fake.variables == all_variables(AWS)
    (waiting,) = [w for w in report.warnings if f"envs/{second.name}" in w]
    assert f"make bootstrap ENV={second.name}" in waiting

    bootstrapped.add(second.name)  # `make bootstrap ENV=<name>`, then the set-up again
    run(fake, dirs, envs=envs, variables_of=variables_of)
    assert fake.variables == all_variables(envs)
    assert f"AWS_{second.name.upper()}_PLAN_ROLE_ARN" in fake.variables


def test_two_environments_cannot_give_one_variable_two_values(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    second = second_environment()

    def variables_of(env: environments.Environment) -> dict[str, str]:
        return role_variables(env, bucket=f"bucket-of-{env.name}")

    with pytest.raises(github_setup.SetupError, match="TF_STATE_BUCKET"):
        run(fake, dirs, envs=[*AWS, second], variables_of=variables_of)
    assert fake.variables == {}


def test_a_branch_policy_past_the_first_page_is_found_not_created_again(
    fake: FakeRepository,
) -> None:
    others = [{"id": i, "name": f"release-{i}", "type": "branch"} for i in range(1, 121)]
    fake.branch_policies["seoul"] = [*others, {"id": 121, "name": "main", "type": "branch"}]
    gh = api.GitHub(TOKEN, REPO, fake.base, timeout=5)
    assert api.ensure_branch_policy(gh, "seoul", "main") == ("unchanged", others)
    assert not fake.writes()


def test_changed_variable_is_updated(fake: FakeRepository, dirs: dict[str, Path]) -> None:
    fake.variables["TF_STATE_BUCKET"] = "old-bucket"
    report = run(fake, dirs)
    assert fake.variables["TF_STATE_BUCKET"] == all_variables(AWS)["TF_STATE_BUCKET"]
    assert ("PATCH", f"/repos/{REPO}/actions/variables/TF_STATE_BUCKET") in fake.calls
    assert "ok variable TF_STATE_BUCKET: updated (was 'old-bucket')" in report.lines


def test_before_the_bootstrap_no_variable_is_set_and_the_next_step_is_named(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    report = run(fake, dirs, bootstrapped=False)
    assert fake.variables == {}
    for env in AWS:
        assert any(f"make bootstrap ENV={env.name}" in w for w in report.warnings)


def test_one_reviewer_may_approve_their_own_deployments(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    run(fake, dirs, reviewers=["bob"])  # one reviewer, not the token's user: still solo
    gate = AWS[0].gate
    assert gate is not None
    (reviewers,) = fake.environments[gate]["protection_rules"]
    assert reviewers["prevent_self_review"] is False
    assert [r["reviewer"]["id"] for r in reviewers["reviewers"]] == [12]


def test_prevent_self_review_found_with_one_reviewer_is_turned_off_and_said(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    gate = AWS[0].gate
    assert gate is not None
    fake.environments[gate] = {"name": gate, "protection_rules": [
        {"type": "required_reviewers", "prevent_self_review": True,
         "reviewers": [{"type": "User", "reviewer": {"id": 11}}]}]}  # fmt: skip
    report = run(fake, dirs)
    assert fake.deployment_blockers(gate, "alice", "alice") == []
    assert any("prevent self-review off" in w for w in report.warnings)


def test_too_many_reviewers_is_refused_before_writing_the_environment(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    fake.users.update({f"user{i}": 100 + i for i in range(6)})
    fake.roles.update({f"user{i}": "write" for i in range(6)})
    with pytest.raises(github_setup.SetupError, match="GitHub allows 6"):
        run(fake, dirs, reviewers=["alice", *(f"user{i}" for i in range(6))])
    assert not [c for c in fake.writes() if "/environments/" in c[1]]


# --- CODEOWNERS --------------------------------------------------------------------------------


def test_codeowners_on_main_is_left_alone(fake: FakeRepository, dirs: dict[str, Path]) -> None:
    fake.files[CODEOWNERS] = "".join(f"{p} @alice @team\n" for p in protection.CODEOWNED)
    report = run(fake, dirs)
    assert not (dirs["repo_root"] / CODEOWNERS).exists()
    assert not any("CODEOWNERS" in w for w in report.warnings)


def test_codeowners_keeps_the_users_lines_and_adds_what_is_missing(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    fake.files[CODEOWNERS] = "* @docs-team\n/modules/ @carol  # networking\n/scripts/ @alice\n"
    run(fake, dirs, reviewers=["alice", "bob"])
    lines = (dirs["repo_root"] / CODEOWNERS).read_text().splitlines()
    assert lines[:3] == ["* @docs-team", "/modules/ @carol @alice @bob", "/scripts/ @alice @bob"]
    assert "/requirements/ @alice @bob" in lines and "/envs/ @alice @bob" in lines
    assert lines.count("/modules/ @carol @alice @bob") == 1


def test_an_earlier_set_ups_codeowners_is_extended_not_repeated() -> None:
    earlier = (
        "# Written by make github-setup. Changes here need a code owner's approving review.\n"
        + "".join(f"{p} @alice\n" for p in (".github/", "/Makefile", "/scripts/", "/modules/"))
    )
    text = protection.codeowners(earlier, ["alice"])
    assert text.startswith(earlier)
    assert text.count("# Written by make github-setup") == 1
    assert "/requirements/ @alice" in text and "/pyproject.toml @alice" in text
    assert protection.codeowners_cover(text, ["alice"])
    assert not protection.codeowners_cover(text, ["alice", "bob"])


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"fork": True, "parent": {"full_name": "upstream/gitops"}},
            "is a fork of upstream/gitops",
        ),
        ({"default_branch": "master"}, "default branch is 'master'"),
        ({"permissions": {"admin": False}}, "not an admin"),
    ],
)
def test_refuses_before_writing_anything(
    fake: FakeRepository, dirs: dict[str, Path], change: dict[str, Any], message: str
) -> None:
    fake.repo.update(change)
    with pytest.raises(github_setup.SetupError, match=message):
        run(fake, dirs)
    assert fake.writes() == []
    assert not (dirs["bootstrap_dir"] / "github-oidc" / "github.auto.tfvars.json").exists()


def test_issues_turned_off_are_named_because_the_unattended_runs_report_through_them(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    """The drift check and the nightly watchdog open an issue when they find a problem; with
    Issues turned off GitHub refuses it (410) and only a red scheduled run is left, whose
    e-mail goes to whoever last changed the cron line."""
    quiet = run(fake, dirs)
    assert not [w for w in quiet.warnings if "Issues" in w]
    fake.repo["has_issues"] = False
    report = run(fake, dirs)
    (warning,) = [w for w in report.warnings if "Issues" in w]
    assert "watchdog" in warning and "Settings" in warning


def test_private_repository_without_enterprise_is_said_plainly(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    fake.repo["private"] = True
    with pytest.raises(github_setup.SetupError, match="only with GitHub Enterprise") as err:
        run(fake, dirs)
    assert "Make the repository public" in str(err.value)
    assert fake.variables == {} and fake.rulesets == []
    assert not (dirs["bootstrap_dir"] / "github-oidc" / "github.auto.tfvars.json").exists()


def test_private_repository_with_enterprise_is_fine(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    fake.repo["private"], fake.enterprise = True, True
    run(fake, dirs)
    assert all(fake.environments[env.gate]["protection_rules"] for env in AWS if env.gate)


def test_private_repository_refused_by_the_api(fake: FakeRepository, dirs: dict[str, Path]) -> None:
    fake.repo["private"] = True
    fake.fail = ("PUT", rf"/environments/{AWS[0].gate}$", 422)
    with pytest.raises(github_setup.SetupError, match="HTTP 422"):
        run(fake, dirs)


def test_unknown_reviewer_fails_before_any_write(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    for login in ("nobody", "octo-org/deployers"):  # a misspelt login; a team, not a login
        with pytest.raises(github_setup.SetupError, match=f"no GitHub user {login!r}"):
            run(fake, dirs, reviewers=["alice", login])
    assert fake.writes() == []


def test_api_error_fails_the_command_without_printing_the_token(
    fake: FakeRepository,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake.fail = ("POST", r"/rulesets$", 500)
    monkeypatch.setattr(github_setup, "BOOTSTRAP_DIR", tmp_path)
    monkeypatch.setattr(github_setup, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(github_setup, "recorded_variables", lambda env, root=None: None)
    (tmp_path / "github-oidc").mkdir()
    code = github_setup.main(["--repo", REPO], {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": fake.base})
    out = capsys.readouterr()
    assert code == 1
    assert "github-setup: FAILED" in out.err and "HTTP 500" in out.err
    assert "run it again" in out.err
    assert TOKEN not in out.out + out.err


def test_cli_without_a_token_or_repo_says_what_to_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github_setup.shutil, "which", lambda _: None)  # no gh CLI either
    assert github_setup.main(["--repo", REPO], {}) == 1
    assert "no token: set GITHUB_TOKEN" in capsys.readouterr().err
    assert github_setup.main(["--repo", ""], {"GITHUB_TOKEN": TOKEN}) == 1
    assert "REPO is empty" in capsys.readouterr().err


def test_variables_from_the_bootstrap_are_the_ones_the_workflows_read(tmp_path: Path) -> None:
    """The root's output may still list the region and the state key; no workflow reads them
    (each environment's come from envs/<name>/environment.toml), so they are not set. An
    environment whose roles the bootstrap did not make yet has none."""
    env = AWS[0]
    assert github_setup.recorded_variables(env, tmp_path) is None  # no make bootstrap yet
    state = tmp_path / "github-oidc" / "state" / f"{env.name}.tfstate"  # its own state
    state.parent.mkdir(parents=True)
    outputs = {**role_variables(env), "TF_STATE_KEY": "seoul/terraform.tfstate", "AWS_REGION": "x"}
    state.write_text(json.dumps({"outputs": {"repository_variables": {"value": outputs}}}))
    assert github_setup.recorded_variables(env, tmp_path) == role_variables(env)
    assert github_setup.recorded_variables(second_environment(), tmp_path) is None


def test_the_walk_through_names_what_the_set_up_does() -> None:
    """docs/PIPELINE.md's step 1 names the paths, the ruleset and the check the code sets."""
    docs = (REPO_ROOT / "docs" / "PIPELINE.md").read_text(encoding="utf-8")
    step = docs.split("### 1. `make github-setup", 1)[1].split("\n### 2.", 1)[0]
    for path in protection.CODEOWNED:
        assert f"`{path.strip('/')}" in step, f"{path} is not in the walk-through's step 1"
    assert f"**`{protection.RULESET_NAME}`**" in step and f"**`{GATE_CHECK}`**" in step
    assert "solo" in step and "team" in step


# --- what a real repository may already hold --------------------------------------------------


def test_a_codeowners_github_already_reads_elsewhere_is_extended_not_shadowed(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    """GitHub reads the first of .github/CODEOWNERS, CODEOWNERS and docs/CODEOWNERS: a file
    written to .github/ beside the user's root CODEOWNERS would silently switch theirs off."""
    fake.files["CODEOWNERS"] = "/docs/ @carol\n"
    report = run(fake, dirs, reviewers=["alice", "bob"])
    assert not (dirs["repo_root"] / CODEOWNERS).exists()
    written = (dirs["repo_root"] / "CODEOWNERS").read_text()
    assert written.startswith("/docs/ @carol\n") and "\n/envs/ @alice @bob\n" in written
    assert any("CODEOWNERS on main" in w and ".github/" not in w.split(" on main")[0]
               for w in report.warnings)  # fmt: skip

    pr = fake.open_pull("alice", {"CODEOWNERS": written})
    fake.report_check(pr.head, GATE_CHECK)
    fake.approve(pr, "bob")
    fake.merge(pr, "alice")
    change = fake.open_pull("alice", {"docs/guide.md": "x", "envs/seoul/main.tf": "# changed"})
    fake.report_check(change.head, GATE_CHECK)
    fake.approve(change, "bob")
    assert fake.merge_blockers(change, "alice") == [
        "code owner review required for docs/guide.md"  # carol's line is still in force
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # A reviewer approves applies to the AWS account: a login that exists but was never
        # given access (a typo, an invitation not accepted) is not made an approver.
        ({"users": {"mallory": 66}}, "mallory is not a collaborator"),
        # GitHub counts only approvals and code owners with write access: with one writer
        # among the reviewers, that writer's own pull requests could never merge.
        ({"roles": {"mallory": "read"}, "users": {"mallory": 66}}, "mallory has read access"),
    ],
)
def test_reviewers_who_cannot_do_the_job_are_refused_before_any_write(
    fake: FakeRepository, dirs: dict[str, Path], change: dict[str, dict[str, Any]], message: str
) -> None:
    for name, added in change.items():
        getattr(fake, name).update(added)
    with pytest.raises(github_setup.SetupError, match=message):
        run(fake, dirs, reviewers=["alice", "mallory"])
    assert fake.writes() == []


def test_a_read_only_reviewer_approves_deployments_but_owns_no_code(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    fake.users["dave"], fake.roles["dave"] = 14, "triage"
    report = run(fake, dirs, reviewers=["alice", "bob", "dave"])
    gate = AWS[0].gate
    assert gate is not None
    assert fake.deployment_blockers(gate, started_by="alice", approver="dave") == []
    owners = (dirs["repo_root"] / CODEOWNERS).read_text()
    assert "\n/envs/ @alice @bob\n" in owners and "@dave" not in owners
    assert any("dave" in w and "code owner" in w for w in report.warnings)


def test_solo_is_told_when_a_classic_branch_rule_asks_for_a_review(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    """A classic branch protection rule binds merges beside the ruleset: one asking for a
    review, enforced for admins, leaves a solo maintainer unable to merge anything."""
    fake.branch_protection = {
        "required_pull_request_reviews": {"required_approving_review_count": 1},
        "enforce_admins": {"enabled": True},
    }
    report = run(fake, dirs)
    pr = codeowners_pull(fake, dirs, "alice")
    fake.report_check(pr.head, GATE_CHECK)
    assert fake.merge_blockers(pr, "alice") == ["branch protection: 1 approving review(s) required"]
    (warning,) = [w for w in report.warnings if "cannot merge" in w]
    assert "branch protection rule" in warning and "Settings → Branches" in warning


def test_a_nightly_environment_is_left_to_main_alone(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    """The destroy role trusts whatever job the nightly environment admits, unattended: a
    branch rule added there by hand is removed (and said); one on a gate, which a reviewer
    guards, is kept and named."""
    env = AWS[0]
    assert env.gate is not None and env.nightly is not None
    run(fake, dirs)
    for name in (env.gate, env.nightly.environment):
        fake.branch_policies[name].append({"id": 7, "name": "release/*", "type": "branch"})
    report = run(fake, dirs)
    assert [p["name"] for p in fake.branch_policies[env.nightly.environment]] == ["main"]
    assert [p["name"] for p in fake.branch_policies[env.gate]] == ["main", "release/*"]
    assert any("removed" in line and "release/*" in line for line in report.lines)
    assert any(env.gate in w and "release/*" in w for w in report.warnings)


def test_a_private_repository_without_environments_is_said_plainly(
    fake: FakeRepository, dirs: dict[str, Path]
) -> None:
    """A private repository on GitHub Free has no environments: whatever status the API
    refuses the environment with, the set-up says what to change."""
    fake.repo["private"] = True
    fake.fail = ("PUT", rf"/environments/{AWS[0].gate}$", 404)
    with pytest.raises(github_setup.SetupError, match="Make the repository public"):
        run(fake, dirs)
