"""gitops.github.env_gate against a fake GitHub environments API served on localhost."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from gitops.github import env_gate

from tests.fake_github import NOT_FOUND, Fake, Reply, Request, Route, paged, repo_path

REPO = "owner/repo"
TOKEN = "test-token"
REVIEWER = {"type": "User", "reviewer": {"login": "alice", "id": 1}}


@dataclass
class FakeEnvironments(Fake):
    """Environments and their branch policies, as GET /repos/{repo}/environments/... returns."""

    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    branch_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail_with: int | None = None
    calls: list[str] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    base: str = ""

    def add(
        self,
        name: str,
        *,
        reviewers: list[dict[str, Any]] | None = None,
        prevent_self_review: bool = False,
        branch_policy: dict[str, bool] | None = None,
        policies: list[tuple[str, str]] | None = None,
        can_admins_bypass: bool | None = False,
    ) -> None:
        rules: list[dict[str, Any]] = []
        if reviewers is not None:
            rules.append(
                {
                    "id": 1,
                    "type": "required_reviewers",
                    "prevent_self_review": prevent_self_review,
                    "reviewers": reviewers,
                }
            )
        if branch_policy is not None:
            rules.append({"id": 2, "type": "branch_policy"})
        self.environments[name] = {
            "id": len(self.environments) + 1,
            "name": name,
            "protection_rules": rules,
            "deployment_branch_policy": branch_policy,
        }
        if can_admins_bypass is not None:  # None: an API that does not return the field
            self.environments[name]["can_admins_bypass"] = can_admins_bypass
        self.branch_policies[name] = [
            {"id": i, "name": n, "type": t} for i, (t, n) in enumerate(policies or [])
        ]

    def before(self, request: Request) -> Reply | None:
        self.calls.append(request.path)
        self.tokens.add(request.headers.get("Authorization", ""))
        if self.fail_with:
            return Reply(self.fail_with, {"message": "Resource not accessible by integration"})
        return None

    def routes(self) -> list[Route]:
        return [
            ("GET", repo_path("/environments/([^/]*)", REPO), self.environment),
            (
                "GET",
                repo_path("/environments/([^/]*)/deployment-branch-policies", REPO),
                self.policies,
            ),
        ]

    def environment(self, request: Request, m: re.Match[str]) -> Reply:
        name = unquote(m.group(1))
        if name not in self.environments:
            return NOT_FOUND
        return Reply(200, self.environments[name])

    def policies(self, request: Request, m: re.Match[str]) -> Reply:
        name = unquote(m.group(1))
        if name not in self.environments:
            return NOT_FOUND
        return paged(request, self.branch_policies[name], self.base, key="branch_policies")


@pytest.fixture
def fake(serve_fake: Callable[[FakeEnvironments], FakeEnvironments]) -> FakeEnvironments:
    return serve_fake(FakeEnvironments())


def run(
    fake: FakeEnvironments, tmp_path: Path, *names: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    summary = tmp_path / "summary.md"
    environ = {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": fake.base,
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    code = env_gate.main(list(names), environ)
    out = capsys.readouterr().out
    return code, out, summary.read_text() if summary.exists() else ""


MAIN_ONLY = {"protected_branches": False, "custom_branch_policies": True}


def test_both_gates_configured_pass(fake: FakeEnvironments, tmp_path: Path, capsys) -> None:
    fake.add("seoul", reviewers=[REVIEWER])
    fake.add("seoul-nightly", branch_policy=MAIN_ONLY, policies=[("branch", "main")])
    code, out, summary = run(fake, tmp_path, "seoul", "seoul-nightly", capsys=capsys)
    assert code == 0, out
    assert "environment seoul: protected (required reviewers: alice)" in out
    assert "environment seoul-nightly: protected (deployments from the branch main only)" in out
    assert summary == ""
    assert fake.tokens == {f"Bearer {TOKEN}"}
    assert f"/repos/{REPO}/environments/seoul-nightly/deployment-branch-policies" in fake.calls


def test_missing_environment_is_refused_with_what_to_create(
    fake: FakeEnvironments, tmp_path: Path, capsys
) -> None:
    code, out, summary = run(fake, tmp_path, "seoul", capsys=capsys)
    assert code == 1
    assert "::error title=Environment seoul not protected::" in out
    assert "environment `seoul` does not exist" in out
    assert "New environment `seoul` and set required reviewers" in out
    assert "[!CAUTION]" in summary and "does not exist" in summary


@pytest.mark.parametrize("reviewers", [None, []], ids=["no rule", "empty rule"])
def test_seoul_without_reviewers_is_refused(
    fake: FakeEnvironments, tmp_path: Path, capsys, reviewers: list[Any] | None
) -> None:
    fake.add("seoul", reviewers=reviewers, branch_policy=MAIN_ONLY, policies=[("branch", "main")])
    code, out, summary = run(fake, tmp_path, "seoul", capsys=capsys)
    assert code == 1
    assert "has no required reviewers" in out
    assert "tick “Required reviewers”" in summary


def test_gate_that_administrators_may_bypass_is_refused_with_the_fix(
    fake: FakeEnvironments, tmp_path: Path, capsys
) -> None:
    fake.add("seoul", reviewers=[REVIEWER], can_admins_bypass=True)
    code, out, summary = run(fake, tmp_path, "seoul", capsys=capsys)
    assert code == 1
    assert "::error title=Environment seoul not protected::" in out
    assert "lets administrators bypass its protection rules" in out
    assert "untick “Allow administrators to bypass configured protection rules”" in summary
    assert "`can_admins_bypass: false`" in summary


def test_gate_without_the_bypass_field_is_judged_by_its_reviewers(
    fake: FakeEnvironments, tmp_path: Path, capsys
) -> None:
    fake.add("seoul", reviewers=[REVIEWER], can_admins_bypass=None)
    assert run(fake, tmp_path, "seoul", capsys=capsys)[0] == 0


def test_nightly_environment_administrators_may_bypass_is_a_warning(
    fake: FakeEnvironments, tmp_path: Path, capsys
) -> None:
    fake.add(
        "seoul-nightly", branch_policy=MAIN_ONLY, policies=[("branch", "main")],
        can_admins_bypass=True,
    )  # fmt: skip
    code, out, _ = run(fake, tmp_path, "seoul-nightly", capsys=capsys)
    assert code == 0
    assert "::warning title=Environment seoul-nightly::" in out
    assert "bypass its branch policy" in out


def test_one_reviewer_who_cannot_review_their_own_run_is_a_warning(
    fake: FakeEnvironments, tmp_path: Path, capsys
) -> None:
    fake.add("seoul", reviewers=[REVIEWER], prevent_self_review=True)
    code, out, summary = run(fake, tmp_path, "seoul", capsys=capsys)
    assert code == 0
    assert "::warning title=Environment seoul::" in out and "can never be approved" in out
    assert "[!WARNING]" in summary


@pytest.mark.parametrize(
    ("branch_policy", "policies", "expected"),
    [
        (None, [], "lets every branch deploy"),
        ({"protected_branches": True, "custom_branch_policies": False}, [], "every protected"),
        (MAIN_ONLY, [("branch", "main"), ("branch", "release/*")], "branch release/*"),
        (MAIN_ONLY, [("branch", "*")], "deploys from branch *"),
        (MAIN_ONLY, [("tag", "main")], "deploys from tag main"),
        (MAIN_ONLY, [], "deploys from nothing"),
    ],
    ids=["all branches", "protected branches", "main and more", "wildcard", "tag", "no rule"],
)
def test_nightly_branch_policy_wider_than_main_is_refused(
    fake: FakeEnvironments,
    tmp_path: Path,
    capsys,
    branch_policy: dict[str, bool] | None,
    policies: list[tuple[str, str]],
    expected: str,
) -> None:
    fake.add("seoul-nightly", branch_policy=branch_policy, policies=policies)
    code, out, summary = run(fake, tmp_path, "seoul-nightly", capsys=capsys)
    assert code == 1
    assert expected in out
    assert "keep exactly one rule: the branch `main`" in summary


def test_branch_policies_are_read_past_the_first_page(
    fake: FakeEnvironments, tmp_path: Path, capsys
) -> None:
    many = [("branch", "main")] + [("branch", f"feature-{i}") for i in range(120)]
    fake.add("seoul-nightly", branch_policy=MAIN_ONLY, policies=many)
    code, out, _ = run(fake, tmp_path, "seoul-nightly", capsys=capsys)
    assert code == 1
    assert "branch feature-119" in out


@pytest.mark.parametrize("status", [401, 403])
def test_token_without_permission_says_which_permission(
    fake: FakeEnvironments, tmp_path: Path, capsys, status: int
) -> None:
    fake.add("seoul", reviewers=[REVIEWER])
    fake.fail_with = status
    code, out, summary = run(fake, tmp_path, "seoul", capsys=capsys)
    assert code == 1
    assert f"HTTP {status}" in out
    assert "`permissions: actions: read`" in out and "actions: read" in summary


def test_server_error_fails_closed(fake: FakeEnvironments, tmp_path: Path, capsys) -> None:
    fake.add("seoul", reviewers=[REVIEWER])
    fake.fail_with = 502
    code, out, _ = run(fake, tmp_path, "seoul", capsys=capsys)
    assert code == 1
    assert "Re-run the job; nothing was planned, applied or destroyed" in out


def test_unreachable_api_fails_closed(tmp_path: Path, capsys) -> None:
    environ = {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": "http://127.0.0.1:9",  # discard port: nothing listens
    }
    assert env_gate.main(["seoul"], environ) == 1
    assert "could not read environment `seoul`" in capsys.readouterr().out


def test_unknown_environment_and_missing_token_are_refused(tmp_path: Path, capsys) -> None:
    environ = {"GITHUB_REPOSITORY": REPO, "GITHUB_STEP_SUMMARY": str(tmp_path / "s.md")}
    assert env_gate.main(["seoul"], environ) == 1
    assert "GITHUB_TOKEN is not set" in capsys.readouterr().out
    assert "GITHUB_TOKEN" in (tmp_path / "s.md").read_text()
    environ["GITHUB_TOKEN"] = TOKEN
    assert env_gate.main(["prod"], environ) == 1
    assert "no envs/*/environment.toml names the GitHub environment `prod`" in (
        capsys.readouterr().out
    )


def test_one_bad_environment_fails_the_run(fake: FakeEnvironments, tmp_path: Path, capsys) -> None:
    fake.add("seoul", reviewers=[REVIEWER])
    fake.add("seoul-nightly", branch_policy=None)
    code, out, _ = run(fake, tmp_path, "seoul", "seoul-nightly", capsys=capsys)
    assert code == 1
    assert "environment seoul: protected" in out
    assert "environment `seoul-nightly` lets every branch deploy" in out


def test_rules_come_from_the_environment_descriptions() -> None:
    from dataclasses import replace

    from gitops import environments

    described = environments.load()
    assert env_gate.rules() == env_gate.rules(described)
    seoul = {"seoul": env_gate.REVIEWERS, "seoul-nightly": env_gate.MAIN_ONLY}
    assert seoul.items() <= env_gate.rules().items()
    osaka = replace(described["seoul"], name="osaka", gate="osaka", nightly=None)
    found = env_gate.rules({**described, "osaka": osaka})
    assert found["osaka"] == env_gate.REVIEWERS and "osaka-nightly" not in found
    assert "localstack" not in found  # an emulated environment is never gated
