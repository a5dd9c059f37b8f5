"""make github-setup against a local fake GitHub API: what it creates, in which order, that a
second run changes nothing, and that it refuses a fork, a default branch other than main, a
token without admin rights and a private repository that cannot enforce reviewers."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gitops.github import api
from gitops.github import setup as github_setup

from tests.fake_github import NOT_FOUND, Fake, Reply, Request, Route, paged, repo_path
from tests.test_bootstrap_iam import bootstrap_provided_variables

REPO = "octo-org/gitops-seoul"
TOKEN = "ghp_fake-setup-token"
# Exactly the variables the workflows read that the bootstrap provides (from the workflow files).
VARIABLES = {
    name: (
        "tfstate-123456789012-ap-northeast-2"
        if name == "TF_STATE_BUCKET"
        else f"arn:aws:iam::123456789012:role/{name.lower()}"
    )
    for name in sorted(bootstrap_provided_variables())
}


@dataclass
class FakeRepo(Fake):
    """The repository, its environments, rulesets, variables and files; users and /user."""

    repo: dict[str, Any] = field(
        default_factory=lambda: {
            "full_name": REPO,
            "id": 89012345,
            "owner": {"login": "octo-org", "id": 1234567},
            "fork": False,
            "default_branch": "main",
            "private": False,
            "permissions": {"admin": True},
        }
    )
    users: dict[str, int] = field(default_factory=lambda: {"alice": 11, "bob": 12})
    me: str = "alice"
    enterprise: bool = False
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    branch_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rulesets: list[dict[str, Any]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail: tuple[str, str, int] | None = None  # (method, path regex, status)
    base: str = ""

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]

    def before(self, request: Request) -> Reply | None:
        self.calls.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"message": "Bad credentials"})
        if self.fail and self.fail[0] == request.method and re.search(self.fail[1], request.path):
            return Reply(self.fail[2], {"message": "Server Error"})
        return None

    def routes(self) -> list[Route]:
        def repo(rest: str) -> str:
            return repo_path(rest, REPO)

        return [
            (None, "/user", self.get_me),
            (None, r"/users/([^/]+)", self.get_user),
            ("GET", repo(""), lambda request, m: Reply(200, self.repo)),
            ("PUT", repo(r"/environments/([^/]+)"), self.put_environment),
            (None, repo(r"/environments/([^/]+)/deployment-branch-policies"), self.policies),
            (None, repo("/rulesets"), self.list_or_create_ruleset),
            ("PUT", repo(r"/rulesets/(\d+)"), self.update_ruleset),
            ("POST", repo("/actions/variables"), self.create_variable),
            (None, repo(r"/actions/variables/([^/]+)"), self.variable),
            (None, repo(r"/contents/(.+)"), self.contents),
        ]

    def get_me(self, request: Request, m: re.Match[str]) -> Reply:
        return Reply(200, {"login": self.me, "id": self.users[self.me]})

    def get_user(self, request: Request, m: re.Match[str]) -> Reply:
        if m.group(1) not in self.users:
            return NOT_FOUND
        return Reply(200, {"login": m.group(1), "id": self.users[m.group(1)]})

    def put_environment(self, request: Request, m: re.Match[str]) -> Reply:
        payload = request.json()
        rules = []
        if payload.get("reviewers") and (not self.repo["private"] or self.enterprise):
            rules.append(
                {
                    "type": "required_reviewers",
                    "prevent_self_review": payload["prevent_self_review"],
                    "reviewers": [
                        {"type": "User", "reviewer": {"id": r["id"]}} for r in payload["reviewers"]
                    ],
                }
            )
        env = {
            "name": m.group(1),
            "can_admins_bypass": payload.get("can_admins_bypass", True),
            "protection_rules": rules,
            "deployment_branch_policy": payload.get("deployment_branch_policy"),
        }
        self.environments[m.group(1)] = env
        return Reply(200, env)

    def policies(self, request: Request, m: re.Match[str]) -> Reply:
        policies = self.branch_policies.setdefault(m.group(1), [])
        if request.method == "GET":
            return paged(request, policies, self.base, key="branch_policies")
        policy = {"id": len(policies) + 1, **request.json()}
        policies.append(policy)
        return Reply(200, policy)

    def list_or_create_ruleset(self, request: Request, m: re.Match[str]) -> Reply:
        if request.method == "GET":
            return Reply(200, [{"id": r["id"], "name": r["name"]} for r in self.rulesets])
        ruleset = {"id": len(self.rulesets) + 1, **request.json()}
        self.rulesets.append(ruleset)
        return Reply(201, ruleset)

    def update_ruleset(self, request: Request, m: re.Match[str]) -> Reply:
        ruleset = self.rulesets[int(m.group(1)) - 1]
        ruleset.update(request.json())
        return Reply(200, ruleset)

    def create_variable(self, request: Request, m: re.Match[str]) -> Reply:
        payload = request.json()
        self.variables[payload["name"]] = payload["value"]
        return Reply(201, {})

    def variable(self, request: Request, m: re.Match[str]) -> Reply:
        name = m.group(1)
        if name not in self.variables:
            return NOT_FOUND
        if request.method == "GET":
            return Reply(200, {"name": name, "value": self.variables[name]})
        self.variables[name] = request.json()["value"]
        return Reply(204)

    def contents(self, request: Request, m: re.Match[str]) -> Reply:
        if m.group(1) not in self.files:
            return NOT_FOUND
        return Reply(200, {"content": base64.b64encode(self.files[m.group(1)].encode()).decode()})


@pytest.fixture
def fake(serve_fake: Callable[[FakeRepo], FakeRepo]) -> FakeRepo:
    return serve_fake(FakeRepo())


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "bootstrap" / "github-oidc").mkdir(parents=True)
    (tmp_path / "repo").mkdir()
    return {"bootstrap_dir": tmp_path / "bootstrap", "repo_root": tmp_path / "repo"}


def run(fake: FakeRepo, dirs: dict[str, Path], **kwargs: Any) -> github_setup.Report:
    gh = api.GitHub(TOKEN, REPO, fake.base, timeout=5)
    return github_setup.setup(gh, log=lambda _: None, **dirs, **kwargs)


def test_protects_environments_main_and_sets_variables(
    fake: FakeRepo, dirs: dict[str, Path]
) -> None:
    report = run(fake, dirs, reviewers=["alice", "bob"], variables=VARIABLES)

    seoul = fake.environments["seoul"]
    assert seoul["can_admins_bypass"] is False
    rule = seoul["protection_rules"][0]
    assert [r["reviewer"]["id"] for r in rule["reviewers"]] == [11, 12]
    assert rule["prevent_self_review"] is True
    nightly = fake.environments["seoul-nightly"]
    assert nightly["can_admins_bypass"] is False and nightly["protection_rules"] == []
    for env in ("seoul", "seoul-nightly"):
        assert fake.environments[env]["deployment_branch_policy"]["custom_branch_policies"] is True
        assert [p["name"] for p in fake.branch_policies[env]] == ["main"]

    (ruleset,) = fake.rulesets
    assert ruleset["enforcement"] == "active" and ruleset["bypass_actors"] == []
    assert ruleset["conditions"]["ref_name"]["include"] == ["~DEFAULT_BRANCH"]
    pr = next(r for r in ruleset["rules"] if r["type"] == "pull_request")["parameters"]
    assert pr["required_approving_review_count"] >= 1 and pr["require_code_owner_review"] is True

    owners = (dirs["repo_root"] / ".github" / "CODEOWNERS").read_text()
    for path in (".github/", "/Makefile", "/scripts/", "/modules/"):
        assert f"{path} @alice @bob" in owners
    assert any("CODEOWNERS" in w for w in report.warnings)

    ids = json.loads(
        (dirs["bootstrap_dir"] / "github-oidc" / "github.auto.tfvars.json").read_text()
    )
    assert ids == {"repository": REPO, "github_owner_id": 1234567, "github_repository_id": 89012345}
    assert fake.variables == VARIABLES

    writes = fake.writes()
    first_variable = next(i for i, c in enumerate(writes) if "/actions/variables" in c[1])
    last_environment = max(i for i, c in enumerate(writes) if "/environments/" in c[1])
    assert last_environment < first_variable, (
        "environments must be protected before roles are wired"
    )


def test_second_run_changes_nothing(fake: FakeRepo, dirs: dict[str, Path]) -> None:
    run(fake, dirs, reviewers=["alice", "bob"], variables=VARIABLES)
    fake.calls.clear()
    run(fake, dirs, reviewers=["alice", "bob"], variables=VARIABLES)
    assert len(fake.rulesets) == 1 and ("PUT", f"/repos/{REPO}/rulesets/1") in fake.calls
    assert all(len(p) == 1 for p in fake.branch_policies.values())
    assert not [
        c for c in fake.writes() if "/actions/variables" in c[1] or "branch-policies" in c[1]
    ]


def test_a_branch_policy_past_the_first_page_is_found_not_created_again(
    fake: FakeRepo,
) -> None:
    others = [{"id": i, "name": f"release-{i}", "type": "branch"} for i in range(1, 121)]
    fake.branch_policies["seoul"] = [*others, {"id": 121, "name": "main", "type": "branch"}]
    gh = api.GitHub(TOKEN, REPO, fake.base, timeout=5)
    assert api.ensure_branch_policy(gh, "seoul", "main") == "unchanged"
    assert not fake.writes()


def test_changed_variable_is_updated(fake: FakeRepo, dirs: dict[str, Path]) -> None:
    fake.variables["TF_STATE_BUCKET"] = "old-bucket"
    run(fake, dirs, variables=VARIABLES)
    assert fake.variables["TF_STATE_BUCKET"] == VARIABLES["TF_STATE_BUCKET"]
    assert ("PATCH", f"/repos/{REPO}/actions/variables/TF_STATE_BUCKET") in fake.calls


def test_single_reviewer_can_still_approve_and_is_warned(
    fake: FakeRepo, dirs: dict[str, Path]
) -> None:
    report = run(fake, dirs)  # reviewers default to the token's user
    rule = fake.environments["seoul"]["protection_rules"][0]
    assert rule["prevent_self_review"] is False and [
        r["reviewer"]["id"] for r in rule["reviewers"]
    ] == [11]
    assert any("one reviewer (alice)" in w for w in report.warnings)
    assert any("run `make bootstrap`" in w for w in report.warnings)
    assert fake.variables == {}


def test_codeowners_on_main_is_left_alone(fake: FakeRepo, dirs: dict[str, Path]) -> None:
    fake.files[".github/CODEOWNERS"] = "".join(
        f"{p} @team\n" for p in (".github/", "/Makefile", "/scripts/", "/modules/")
    )
    report = run(fake, dirs)
    assert not (dirs["repo_root"] / ".github" / "CODEOWNERS").exists()
    assert not any("CODEOWNERS" in w for w in report.warnings)


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
    fake: FakeRepo, dirs: dict[str, Path], change: dict[str, Any], message: str
) -> None:
    fake.repo.update(change)
    with pytest.raises(github_setup.SetupError, match=message):
        run(fake, dirs, variables=VARIABLES)
    assert fake.writes() == []
    assert not (dirs["bootstrap_dir"] / "github-oidc" / "github.auto.tfvars.json").exists()


def test_private_repository_without_enterprise_is_said_plainly(
    fake: FakeRepo, dirs: dict[str, Path]
) -> None:
    fake.repo["private"] = True
    with pytest.raises(github_setup.SetupError, match="only with GitHub Enterprise") as err:
        run(fake, dirs, variables=VARIABLES)
    assert "Make the repository public" in str(err.value)
    assert fake.variables == {} and fake.rulesets == []
    assert not (dirs["bootstrap_dir"] / "github-oidc" / "github.auto.tfvars.json").exists()


def test_private_repository_with_enterprise_is_fine(fake: FakeRepo, dirs: dict[str, Path]) -> None:
    fake.repo["private"], fake.enterprise = True, True
    run(fake, dirs)
    assert fake.environments["seoul"]["protection_rules"]


def test_private_repository_refused_by_the_api(fake: FakeRepo, dirs: dict[str, Path]) -> None:
    fake.repo["private"] = True
    fake.fail = ("PUT", r"/environments/seoul$", 422)
    with pytest.raises(github_setup.SetupError, match="HTTP 422"):
        run(fake, dirs)


def test_unknown_reviewer_fails_before_any_write(fake: FakeRepo, dirs: dict[str, Path]) -> None:
    with pytest.raises(api.GitHubError, match="HTTP 404"):
        run(fake, dirs, reviewers=["nobody"])
    assert fake.writes() == []


def test_api_error_fails_the_command_without_printing_the_token(
    fake: FakeRepo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake.fail = ("POST", r"/rulesets$", 500)
    monkeypatch.setattr(github_setup, "BOOTSTRAP_DIR", tmp_path)
    monkeypatch.setattr(github_setup, "bootstrap_variables", lambda: None)
    (tmp_path / "github-oidc").mkdir()
    code = github_setup.main(["--repo", REPO], {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": fake.base})
    out = capsys.readouterr()
    assert code == 1
    assert "github-setup: FAILED" in out.err and "HTTP 500" in out.err
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
    (each environment's come from envs/<name>/environment.toml), so they are not set."""
    assert github_setup.bootstrap_variables(tmp_path) is None  # no make bootstrap yet
    state = tmp_path / "github-oidc" / "state" / "seoul.tfstate"  # Seoul's own state
    state.parent.mkdir(parents=True)
    outputs = {**VARIABLES, "TF_STATE_KEY": "seoul/terraform.tfstate", "AWS_REGION": "x"}
    state.write_text(json.dumps({"outputs": {"repository_variables": {"value": outputs}}}))
    assert github_setup.bootstrap_variables(tmp_path) == VARIABLES
