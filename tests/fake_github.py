"""One local stand-in for the GitHub REST API, shared by every test that talks to GitHub.

`FakeServer` serves any fake on 127.0.0.1: a fake is an object with a `handle(Request) -> Reply`
method, usually a `Fake` subclass that lists its endpoints in `routes()` as (method, path regex,
callback) rows and checks the token, records the call or injects a failure in `before()`. The
`serve_fake` fixture in conftest.py starts a server for one test; the `fake_github` fixture
serves `FakeGitHub` below: pull requests (by number and by commit), issues and issue comments,
and the Actions side (workflows and their state, runs, a run's jobs and artifacts, an
artifact's zip behind a redirect to a storage path that takes no token), every list paged by 2
so pagination is always exercised. Other suites (repository setup, environments) define
their own `Fake` subclass with their own routes and serve it through `serve_fake`.
`FakeRepository` below is the repository `make github-setup` configures: environments,
rulesets, variables and files, and the pull requests, check runs, reviews, merges and deployment
approvals those settings then allow or refuse.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import io
import json
import re
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

REPO = "owner/repo"
TOKEN = "test-token"
BOT = "github-actions[bot]"
PAGE = 2  # FakeGitHub pages every list by 2, so pagination is always exercised
POLL_SECONDS = 0.05  # how often a FakeServer looks for its shutdown (the default is 0.5 s)


@dataclass
class Request:
    method: str
    target: str  # as sent, query string included
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: Message
    raw: bytes

    def arg(self, name: str, default: Any = None) -> Any:
        return self.query.get(name, [default])[0]

    def json(self) -> dict[str, Any]:
        return json.loads(self.raw or b"{}")


@dataclass
class Reply:
    status: int
    payload: Any = None  # None: an empty body
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent as it is instead of the JSON of `payload`


NOT_FOUND = Reply(404, {"message": "Not Found"})

Route = tuple[str | None, str, Callable[[Request, re.Match[str]], Reply]]


class App(Protocol):
    base: str

    def handle(self, request: Request) -> Reply: ...


class Fake:
    """Dispatches a request to the first route whose method (None: any) and path regex match."""

    base: str = ""

    def before(self, request: Request) -> Reply | None:
        """Runs first; a reply here (bad token, injected failure) ends the request."""
        return None

    def routes(self) -> list[Route]:
        return []

    def handle(self, request: Request) -> Reply:
        if (early := self.before(request)) is not None:
            return early
        for method, pattern, callback in self.routes():
            if method in (None, request.method) and (m := re.fullmatch(pattern, request.path)):
                return callback(request, m)
        return NOT_FOUND


class FakeServer:
    """Serves one fake on 127.0.0.1 and sets its `base` URL."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class())
        app.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll: shutdown() at the end of every test waits up to one poll interval.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True
        )
        self.thread.start()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        app = self.app

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def handle_any(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length", "0"))
                request = Request(
                    method=self.command,
                    target=self.path,
                    path=url.path,
                    query=parse_qs(url.query),
                    headers=self.headers,
                    raw=self.rfile.read(length) if length else b"",
                )
                reply = app.handle(request)
                data = json.dumps(reply.payload).encode() if reply.payload is not None else b""
                data = reply.raw if reply.raw is not None else data
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def paged(
    request: Request, items: list[Any], base: str, per_page: int | None = None, key: str = ""
) -> Reply:
    """One page of `items` as GitHub serves a list: `per_page` a page (default: the request's
    per_page, else GitHub's 30), a `Link: rel="next"` header at `base` while more remain, and,
    with `key`, the page wrapped as `{"total_count": ..., key: [...]}`."""
    page = int(request.arg("page", "1"))
    per = per_page or int(request.arg("per_page", "30"))
    headers = {}
    if page * per < len(items):
        nxt = f"{base}{request.path}?per_page={per}&page={page + 1}"
        headers["Link"] = f'<{nxt}>; rel="next"'
    chunk = items[(page - 1) * per : page * per]
    return Reply(200, {"total_count": len(items), key: chunk} if key else chunk, headers)


def repo_path(rest: str, repo: str = REPO) -> str:
    """Path regex for /repos/{repo}{rest}."""
    return re.escape(f"/repos/{repo}") + rest


@dataclass
class FakeGitHub(Fake):
    """Pull requests by commit, issues and issue comments: what the deploy scripts use."""

    pulls_by_commit: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_with: int | None = None
    foreign_next: bool = False  # the next-page link points at another host
    base: str = ""
    next_id: int = 1000
    # Actions: workflows by file name, runs (each names its `workflow`), their jobs and artifacts
    pull_requests: dict[int, dict[str, Any]] = field(default_factory=dict)
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    artifacts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    blobs: dict[int, bytes] = field(default_factory=dict)
    blob_auth: list[str | None] = field(default_factory=list)  # Authorization seen by storage
    # The repository itself, and when the newest commit on its default branch was made
    repository: dict[str, Any] = field(
        default_factory=lambda: {"full_name": REPO, "private": False, "default_branch": "main"}
    )
    last_commit: str = "2026-11-25T09:00:00Z"

    # --- state ---------------------------------------------------------------------------

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def merged_pr(self, sha: str, number: int) -> None:
        """`sha` is the merge commit of pull request `number`."""
        self.pulls_by_commit.setdefault(sha, []).append(
            {"number": number, "merge_commit_sha": sha, "merged_at": "2026-11-26T09:00:00Z"}
        )

    def add_comment(self, number: int, body: str, login: str = BOT) -> dict[str, Any]:
        comment_id = self.new_id()
        comment = {
            "id": comment_id,
            "body": body,
            "user": {"login": login},
            "html_url": f"https://github.test/{REPO}/pull/{number}#issuecomment-{comment_id}",
        }
        self.comments.setdefault(number, []).append(comment)
        return comment

    def add_issue(
        self, body: str, *, pull: bool = False, state: str = "open", login: str = "someone"
    ) -> dict[str, Any]:
        number = len(self.issues) + 1
        issue: dict[str, Any] = {
            "number": number,
            "title": f"issue {number}",
            "body": body,
            "state": state,
            "user": {"login": login},
            "html_url": f"https://github.test/{REPO}/issues/{number}",
        }
        if pull:
            issue["pull_request"] = {"url": "x"}
        self.issues.append(issue)
        return issue

    def pull(
        self, number: int, head_sha: str, head_ref: str = "feature", base_ref: str = "main"
    ) -> dict[str, Any]:
        """Pull request `number` from branch `head_ref` into `base_ref`, whose head is (or was,
        when merged) `head_sha`."""
        owner = REPO.split("/")[0]
        self.pull_requests[number] = {
            "number": number,
            "head": {"sha": head_sha, "ref": head_ref, "label": f"{owner}:{head_ref}",
                     "repo": {"full_name": REPO}},
            "base": {"ref": base_ref, "repo": {"full_name": REPO}},
        }  # fmt: skip
        return self.pull_requests[number]

    def workflow(
        self, file: str, state: str = "active", created_at: str = "2026-01-01T00:00:00Z"
    ) -> dict[str, Any]:
        self.workflows[file] = {
            "id": len(self.workflows) + 1, "path": f".github/workflows/{file}", "state": state,
            "created_at": created_at, "name": file.removesuffix(".yml"),
        }  # fmt: skip
        return self.workflows[file]

    def add_run(self, workflow: str, **fields: Any) -> dict[str, Any]:
        """A run of `workflow` (a file name); newest added last. Fields as the API names them."""
        run_id = self.new_id()
        known = self.workflows.get(workflow) or self.workflow(workflow)
        run = {
            "id": run_id, "workflow": workflow, "workflow_id": known["id"],
            "run_number": len(self.runs) + 1,
            "event": "push", "status": "completed", "conclusion": "success",
            "head_sha": "0" * 40, "head_branch": "main", "head_repository": {"full_name": REPO},
            "created_at": "2026-11-26T00:00:00Z",
            "html_url": f"https://github.test/{REPO}/actions/runs/{run_id}", **fields,
        }  # fmt: skip
        self.runs.append(run)
        return run

    def add_job(self, run_id: int, name: str, conclusion: str | None, steps: int = 3) -> None:
        """A job of a run; `steps=0` for one that never started."""
        self.jobs.setdefault(run_id, []).append({
            "id": self.new_id(), "name": name, "conclusion": conclusion,
            "status": "completed" if conclusion else "in_progress",
            "steps": [{"name": f"step {i}", "number": i} for i in range(1, steps + 1)],
        })  # fmt: skip

    def add_artifact(
        self, run_id: int, name: str, files: dict[str, str | bytes], expired: bool = False
    ) -> int:
        """An artifact of a run holding `files`, zipped as GitHub serves it."""
        artifact_id = self.new_id()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zipped:
            for path, content in files.items():
                zipped.writestr(path, content)
        self.blobs[artifact_id] = buffer.getvalue()
        self.artifacts.setdefault(run_id, []).append(
            {"id": artifact_id, "name": name, "expired": expired}
        )
        return artifact_id

    # --- API -----------------------------------------------------------------------------

    def before(self, request: Request) -> Reply | None:
        self.calls.append((request.method, request.target))
        if request.path.startswith("/storage/"):  # the signed URL needs, and gets, no token
            self.blob_auth.append(request.headers.get("Authorization"))
            return None
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"message": "Bad credentials"})
        if self.fail_with:
            return Reply(self.fail_with, {"message": "Resource not accessible by integration"})
        return None

    def routes(self) -> list[Route]:
        return [
            ("GET", repo_path(""), lambda request, m: Reply(200, self.repository)),
            ("GET", repo_path(r"/commits/([0-9a-f]+)/pulls"), self.pulls),
            ("GET", repo_path(r"/commits/([^/]+)"), self.get_commit),
            ("GET", repo_path(r"/issues/(\d+)/comments"), self.list_comments),
            ("POST", repo_path(r"/issues/(\d+)/comments"), self.create_comment),
            (None, repo_path(r"/issues/comments/(\d+)"), self.edit_comment),
            ("GET", repo_path("/issues"), self.list_issues),
            ("POST", repo_path("/issues"), self.create_issue),
            ("PATCH", repo_path(r"/issues/(\d+)"), self.edit_issue),
            ("GET", repo_path(r"/pulls/(\d+)"), self.get_pull),
            ("GET", repo_path("/pulls"), self.list_pulls),
            ("GET", repo_path(r"/actions/workflows/([^/]+)"), self.get_workflow),
            ("GET", repo_path(r"/actions/workflows/([^/]+)/runs"), self.list_runs),
            ("GET", repo_path(r"/actions/runs/(\d+)"), self.get_run),
            ("GET", repo_path(r"/actions/runs/(\d+)/jobs"), self.list_jobs),
            ("GET", repo_path(r"/actions/runs/(\d+)/artifacts"), self.list_artifacts),
            ("GET", repo_path(r"/actions/artifacts/(\d+)/zip"), self.artifact_zip),
            ("GET", r"/storage/(\d+)", self.storage),
        ]

    def page(self, request: Request, items: list[Any]) -> Reply:
        return paged(request, items, "http://evil.test" if self.foreign_next else self.base, PAGE)

    def pulls(self, request: Request, m: re.Match[str]) -> Reply:
        return Reply(200, self.pulls_by_commit.get(m.group(1), []))

    def get_commit(self, request: Request, m: re.Match[str]) -> Reply:
        """The newest commit of the default branch (by its name), as GitHub serves a commit."""
        if m.group(1) != self.repository["default_branch"]:
            return NOT_FOUND
        return Reply(200, {"sha": "c" * 40, "commit": {"committer": {"date": self.last_commit}}})

    def list_comments(self, request: Request, m: re.Match[str]) -> Reply:
        return self.page(request, self.comments.get(int(m.group(1)), []))

    def create_comment(self, request: Request, m: re.Match[str]) -> Reply:
        return Reply(201, self.add_comment(int(m.group(1)), request.json()["body"], BOT))

    def edit_comment(self, request: Request, m: re.Match[str]) -> Reply:
        for comments in self.comments.values():
            for comment in comments:
                if comment["id"] == int(m.group(1)):
                    comment.update(request.json())
                    return Reply(200, comment)
        return NOT_FOUND

    def list_issues(self, request: Request, m: re.Match[str]) -> Reply:
        state = request.arg("state", "open")
        creator = request.arg("creator")
        found = [
            i for i in self.issues if i["state"] == state and creator in (None, i["user"]["login"])
        ]
        return self.page(request, found)

    def create_issue(self, request: Request, m: re.Match[str]) -> Reply:
        payload = request.json()
        issue = self.add_issue(payload["body"], login=BOT)
        issue["title"] = payload["title"]
        return Reply(201, issue)

    def edit_issue(self, request: Request, m: re.Match[str]) -> Reply:
        issue = self.issues[int(m.group(1)) - 1]
        issue.update(request.json())
        return Reply(200, issue)

    def get_pull(self, request: Request, m: re.Match[str]) -> Reply:
        pull = self.pull_requests.get(int(m.group(1)))
        return Reply(200, pull) if pull else NOT_FOUND

    def list_pulls(self, request: Request, m: re.Match[str]) -> Reply:
        """Every pull request (`state=all`; merged and closed ones stay listed), filtered by
        `head` as `owner:branch`, as GitHub filters it."""
        head = request.arg("head")
        found = [p for p in self.pull_requests.values() if head in (None, p["head"]["label"])]
        return self.page(request, found)

    def get_workflow(self, request: Request, m: re.Match[str]) -> Reply:
        found = self.workflows.get(m.group(1))
        return Reply(200, found) if found else NOT_FOUND

    def list_runs(self, request: Request, m: re.Match[str]) -> Reply:
        wanted = {k: request.arg(k) for k in ("event", "head_sha", "branch") if request.arg(k)}
        found = [
            r
            for r in reversed(self.runs)  # newest first, as GitHub lists them
            if m.group(1) in (r["workflow"], str(r["workflow_id"]))
            and all(r.get(k) == v for k, v in wanted.items())
        ]
        return paged(request, found, self.base, PAGE, key="workflow_runs")

    def get_run(self, request: Request, m: re.Match[str]) -> Reply:
        run = next((r for r in self.runs if r["id"] == int(m.group(1))), None)
        return Reply(200, run) if run else NOT_FOUND

    def list_jobs(self, request: Request, m: re.Match[str]) -> Reply:
        return paged(request, self.jobs.get(int(m.group(1)), []), self.base, PAGE, key="jobs")

    def list_artifacts(self, request: Request, m: re.Match[str]) -> Reply:
        name = request.arg("name")
        found = [a for a in self.artifacts.get(int(m.group(1)), []) if name in (None, a["name"])]
        return paged(request, found, self.base, PAGE, key="artifacts")

    def artifact_zip(self, request: Request, m: re.Match[str]) -> Reply:
        artifact_id = int(m.group(1))
        if artifact_id not in self.blobs:
            return NOT_FOUND
        return Reply(302, headers={"Location": f"{self.base}/storage/{artifact_id}?sig=signed"})

    def storage(self, request: Request, m: re.Match[str]) -> Reply:
        blob = self.blobs.get(int(m.group(1)))
        return Reply(200, raw=blob) if blob is not None else NOT_FOUND


# --- A repository's settings and its pull requests: what make github-setup configures --------

ACTIONS_APP_ID = 15368  # GitHub Actions: the app every workflow job's check run comes from
ROLE_RANK = {"read": 0, "triage": 1, "write": 2, "maintain": 3, "admin": 4}
# actor_id of actor_type RepositoryRole (not documented by GitHub; what its API returns).
REPOSITORY_ROLE_IDS = {2: "maintain", 4: "write", 5: "admin"}
BYPASS_MODES = {"always", "pull_request", "exempt"}
ACTOR_TYPES = {"Integration", "OrganizationAdmin", "RepositoryRole", "Team", "DeployKey", "User"}
# Where GitHub looks for CODEOWNERS, in its order: the first file found is the only one read.
CODEOWNERS_LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
# The `permission` the collaborator-permission endpoint reports for each repository role.
PERMISSION_OF_ROLE = {"admin": "admin", "maintain": "write", "write": "write",
                      "triage": "read", "read": "read"}  # fmt: skip
RULE_PARAMETERS = {  # what GitHub requires of each rule type's parameters (REST: rulesets)
    "deletion": None,
    "non_fast_forward": None,
    "creation": None,
    "required_linear_history": None,
    "required_signatures": None,
    "pull_request": {
        "required_approving_review_count": int,
        "require_code_owner_review": bool,
        "dismiss_stale_reviews_on_push": bool,
        "require_last_push_approval": bool,
        "required_review_thread_resolution": bool,
    },
    "required_status_checks": {
        "required_status_checks": list,
        "strict_required_status_checks_policy": bool,
    },
    "merge_queue": {
        "check_response_timeout_minutes": int,
        "grouping_strategy": str,
        "max_entries_to_build": int,
        "max_entries_to_merge": int,
        "merge_method": str,
        "min_entries_to_merge": int,
        "min_entries_to_merge_wait_minutes": int,
    },
}


def codeowners_match(pattern: str, path: str) -> bool:
    """Whether a CODEOWNERS pattern covers a file (gitignore rules, the forms used here)."""
    anchored, core = pattern.startswith("/"), pattern.strip("/")
    if pattern == "*":
        return True
    if pattern.endswith("/"):
        return path.startswith(core + "/") or (not anchored and f"/{core}/" in f"/{path}")
    if anchored or "/" in core:
        return fnmatch.fnmatchcase(path, core)
    return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], core) or fnmatch.fnmatchcase(path, core)


@dataclass
class PullRequest:
    number: int
    author: str
    files: dict[str, str]  # path -> content after the change
    head: str  # head commit
    base: str  # the commit of main the head contains (strict checks need main's latest)
    last_pusher: str
    reviews: list[tuple[str, str, str]] = field(default_factory=list)  # login, state, commit
    merged: bool = False


@dataclass
class FakeRepository(Fake):
    """One repository as `make github-setup` sees it (the repository, users, environments and
    their branch policies, rulesets, variables, files on main) and as its users then use it:
    pull requests, reviews, check runs, merges and deployment approvals, judged by the rules that
    were set, the way GitHub documents them. `roles` are the collaborators (a user missing there
    is none); `branch_protection`, as GET .../branches/main/protection returns it, is main's
    classic branch protection rule, which binds merges beside the rulesets.

    Strict where GitHub is: a ruleset or environment payload GitHub would refuse gets a 422; a
    ruleset update replaces each top-level field sent (`rules`, `bypass_actors` whole); an
    environment update keeps no reviewer or wait timer it was not sent; the author of a pull
    request cannot approve it."""

    name: str = "octo-org/gitops-seoul"
    token: str = "ghp_fake-setup-token"
    repo: dict[str, Any] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=lambda: {"alice": 11, "bob": 12, "carol": 13})
    roles: dict[str, str] = field(
        default_factory=lambda: {"alice": "admin", "bob": "write", "carol": "write"}
    )
    me: str = "alice"
    enterprise: bool = False
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    branch_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rulesets: list[dict[str, Any]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # on main
    branch_protection: dict[str, Any] | None = None  # main's classic rule, None: not protected
    main: str = "c0"
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    checks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # commit -> runs
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail: tuple[str, str, int] | None = None  # (method, path regex, status)
    base: str = ""
    commits: int = 0

    def __post_init__(self) -> None:
        owner = self.name.split("/")[0]
        self.repo = {
            "full_name": self.name,
            "id": 89012345,
            "owner": {"login": owner, "id": 1234567, "type": "Organization"},
            "fork": False,
            "default_branch": "main",
            "private": False,
            "has_issues": True,
            "permissions": {"admin": True},
            **self.repo,
        }

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]

    # --- API -----------------------------------------------------------------------------

    def before(self, request: Request) -> Reply | None:
        self.calls.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return Reply(401, {"message": "Bad credentials"})
        if self.fail and self.fail[0] == request.method and re.search(self.fail[1], request.path):
            return Reply(self.fail[2], {"message": "Server Error"})
        return None

    def routes(self) -> list[Route]:
        def repo(rest: str) -> str:
            return repo_path(rest, self.name)

        return [
            (None, "/user", self.get_me),
            (None, r"/users/([^/]+)", self.get_user),
            ("GET", repo(""), lambda request, m: Reply(200, self.repo)),
            ("GET", repo(r"/environments/([^/]+)"), self.get_environment),
            ("PUT", repo(r"/environments/([^/]+)"), self.put_environment),
            (None, repo(r"/environments/([^/]+)/deployment-branch-policies"), self.policies),
            (
                "DELETE",
                repo(r"/environments/([^/]+)/deployment-branch-policies/(\d+)"),
                self.delete_policy,
            ),
            ("GET", repo(r"/collaborators/([^/]+)/permission"), self.permission),
            ("GET", repo(r"/collaborators/([^/]+)"), self.collaborator),
            ("GET", repo(r"/branches/([^/]+)/protection"), self.classic_protection),
            (None, repo("/rulesets"), self.list_or_create_ruleset),
            (None, repo(r"/rulesets/(\d+)"), self.ruleset),
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

    def get_environment(self, request: Request, m: re.Match[str]) -> Reply:
        env = self.environments.get(m.group(1))
        return Reply(200, env) if env else NOT_FOUND

    def put_environment(self, request: Request, m: re.Match[str]) -> Reply:
        payload = request.json()
        reviewers = payload.get("reviewers") or []
        if len(reviewers) > 6:
            return Reply(422, {"message": "Invalid request: at most 6 reviewers"})
        logins = {i: login for login, i in self.users.items()}
        rules: list[dict[str, Any]] = []
        if payload.get("wait_timer"):
            rules.append({"type": "wait_timer", "wait_timer": payload["wait_timer"]})
        if reviewers and (not self.repo["private"] or self.enterprise):
            rules.append(
                {
                    "type": "required_reviewers",
                    "prevent_self_review": bool(payload.get("prevent_self_review", False)),
                    "reviewers": [
                        {
                            "type": r["type"],
                            "reviewer": {"id": r["id"], "login": logins.get(r["id"])},
                        }
                        for r in reviewers
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

    def delete_policy(self, request: Request, m: re.Match[str]) -> Reply:
        policies = self.branch_policies.get(m.group(1), [])
        kept = [p for p in policies if p["id"] != int(m.group(2))]
        if len(kept) == len(policies):
            return NOT_FOUND
        self.branch_policies[m.group(1)] = kept
        return Reply(204)

    def collaborator(self, request: Request, m: re.Match[str]) -> Reply:
        return Reply(204) if m.group(1) in self.roles else NOT_FOUND

    def permission(self, request: Request, m: re.Match[str]) -> Reply:
        login = m.group(1)
        if login not in self.users:
            return NOT_FOUND
        role = self.roles.get(login)
        anyone = "none" if self.repo["private"] else "read"  # anyone reads a public repository
        return Reply(200, {
            "permission": PERMISSION_OF_ROLE[role] if role else anyone, "role_name": role or "",
            "user": {"login": login, "id": self.users[login]},
        })  # fmt: skip

    def classic_protection(self, request: Request, m: re.Match[str]) -> Reply:
        if m.group(1) != "main" or self.branch_protection is None:
            return Reply(404, {"message": "Branch not protected"})
        return Reply(200, self.branch_protection)

    def list_or_create_ruleset(self, request: Request, m: re.Match[str]) -> Reply:
        if request.method == "GET":
            summary = ("id", "name", "source_type", "source", "enforcement")
            return paged(request, [{k: r[k] for k in summary} for r in self.rulesets], self.base)
        payload = request.json()
        if problem := self.ruleset_problem(payload, creating=True):
            return Reply(422, {"message": f"Invalid request: {problem}"})
        ruleset = {"id": len(self.rulesets) + 1, "source_type": "Repository",
                   "source": self.name, "bypass_actors": [], **payload}  # fmt: skip
        self.rulesets.append(ruleset)
        return Reply(201, ruleset)

    def ruleset(self, request: Request, m: re.Match[str]) -> Reply:
        found = [r for r in self.rulesets if r["id"] == int(m.group(1))]
        if not found:
            return NOT_FOUND
        if request.method == "GET":
            return Reply(200, copy.deepcopy(found[0]))
        if found[0]["source_type"] != "Repository":
            return NOT_FOUND  # an organisation's ruleset is changed in the organisation
        payload = request.json()
        if problem := self.ruleset_problem(payload, creating=False):
            return Reply(422, {"message": f"Invalid request: {problem}"})
        found[0].update(payload)  # each field sent replaces the one stored, lists whole
        return Reply(200, found[0])

    def ruleset_problem(self, payload: dict[str, Any], *, creating: bool) -> str:
        if creating and not payload.get("name"):
            return "name is required"
        if payload.get("enforcement", "active") not in ("active", "evaluate", "disabled"):
            return f"enforcement {payload['enforcement']!r}"
        for actor in payload.get("bypass_actors", []):
            if actor.get("actor_type") not in ACTOR_TYPES:
                return f"actor_type {actor.get('actor_type')!r}"
            if actor.get("bypass_mode", "always") not in BYPASS_MODES:
                return f"bypass_mode {actor.get('bypass_mode')!r}"
            personal = self.repo["owner"].get("type") == "User"
            if actor["actor_type"] == "OrganizationAdmin" and personal:
                return "OrganizationAdmin is not applicable for personal repositories"
        types = [rule.get("type") for rule in payload.get("rules", [])]
        if len(types) != len(set(types)):
            return "a rule type appears twice"
        for rule in payload.get("rules", []):
            if rule.get("type") not in RULE_PARAMETERS:
                return f"unknown rule type {rule.get('type')!r}"
            wanted = RULE_PARAMETERS[rule["type"]]
            for key, kind in (wanted or {}).items():
                value = (rule.get("parameters") or {}).get(key)
                if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                    return f"{rule['type']}.parameters.{key} must be {kind.__name__}"
        return ""

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

    # --- what people do in the repository afterwards ------------------------------------------

    def commit(self) -> str:
        self.commits += 1
        return f"c{self.commits}"

    def open_pull(self, author: str, files: dict[str, str]) -> PullRequest:
        number = len(self.pulls) + 1
        head = self.commit()
        pr = PullRequest(number, author, dict(files), head, self.main, author)
        self.pulls[number] = pr
        return pr

    def push(self, pr: PullRequest, by: str, *, update_from_main: bool = False) -> str:
        """A new commit on the pull request's branch (`update_from_main`: main merged in)."""
        pr.head, pr.last_pusher = self.commit(), by
        if update_from_main:
            pr.base = self.main
        return pr.head

    def advance_main(self) -> None:
        """Someone else's change lands on main: open pull requests are now behind it."""
        self.main = self.commit()

    def report_check(
        self, commit: str, name: str, conclusion: str = "success", app_id: int = ACTIONS_APP_ID
    ) -> None:
        self.checks.setdefault(commit, []).append(
            {"name": name, "conclusion": conclusion, "app_id": app_id}
        )

    def approve(self, pr: PullRequest, login: str) -> None:
        if login == pr.author:  # GitHub: 422 "Can not approve your own pull request"
            raise PermissionError(f"{login} cannot approve their own pull request")
        pr.reviews.append((login, "APPROVED", pr.head))

    def _codeowners_on_main(self) -> list[tuple[str, list[str]]]:
        found = next((p for p in CODEOWNERS_LOCATIONS if p in self.files), None)
        rows = []
        for line in self.files.get(found or "", "").splitlines():
            tokens = line.split("#", 1)[0].split()
            if tokens:
                rows.append((tokens[0], [t.lstrip("@").lower() for t in tokens[1:]]))
        return rows

    def _owners(self, path: str) -> list[str]:
        owners: list[str] = []
        for pattern, names in self._codeowners_on_main():
            if codeowners_match(pattern, path):
                owners = names  # the last matching line wins
        return owners

    def _applies_to_main(self, ruleset: dict[str, Any]) -> bool:
        ref = (ruleset.get("conditions") or {}).get("ref_name") or {}

        def hits(pattern: str) -> bool:
            return pattern in ("~DEFAULT_BRANCH", "~ALL") or fnmatch.fnmatchcase(
                "refs/heads/main", pattern
            )

        return any(map(hits, ref.get("include", []))) and not any(map(hits, ref.get("exclude", [])))

    def _may_bypass(self, ruleset: dict[str, Any], actor: str) -> bool:
        for entry in ruleset.get("bypass_actors") or []:
            kind, actor_id = entry.get("actor_type"), entry.get("actor_id")
            if kind == "RepositoryRole":
                role = REPOSITORY_ROLE_IDS.get(actor_id, "")
                if role and ROLE_RANK[self.roles.get(actor, "read")] >= ROLE_RANK[role]:
                    return True
            elif kind == "User" and self.users.get(actor) == actor_id:
                return True
            elif kind == "OrganizationAdmin" and self.roles.get(actor) == "admin":
                return self.repo["owner"].get("type") == "Organization"
        return False

    def _approvals(self, pr: PullRequest, *, current_only: bool) -> list[str]:
        latest: dict[str, tuple[str, str]] = {}
        for login, state, commit in pr.reviews:
            latest[login] = (state, commit)
        return [
            login
            for login, (state, commit) in latest.items()
            if state == "APPROVED"
            and login != pr.author
            and ROLE_RANK[self.roles.get(login, "read")] >= ROLE_RANK["write"]
            and (commit == pr.head or not current_only)
        ]

    def _rule_blockers(self, rule: dict[str, Any], pr: PullRequest, commit: str) -> list[str]:
        params = rule.get("parameters") or {}
        found = []
        if rule["type"] == "pull_request":
            approvals = self._approvals(pr, current_only=params["dismiss_stale_reviews_on_push"])
            wanted = params["required_approving_review_count"]
            if len(approvals) < wanted:
                found.append(f"{wanted} approving review(s) required, {len(approvals)} given")
            if (
                params["require_last_push_approval"]
                and wanted
                and not [a for a in self._approvals(pr, current_only=True) if a != pr.last_pusher]
            ):
                found.append(f"the last push (by {pr.last_pusher}) needs someone else's approval")
            if params["require_code_owner_review"]:
                for path in sorted(pr.files):
                    owners = self._owners(path)
                    if owners and not set(owners) & {a.lower() for a in approvals}:
                        found.append(f"code owner review required for {path}")
        elif rule["type"] == "required_status_checks":
            for check in params["required_status_checks"]:
                runs = [
                    run
                    for run in self.checks.get(commit, [])
                    if run["name"] == check["context"]
                    and check.get("integration_id") in (None, run["app_id"])
                ]
                if not runs or runs[-1]["conclusion"] != "success":
                    found.append(f"required check {check['context']!r} has not passed")
            strict = params["strict_required_status_checks_policy"] and commit == pr.head
            if strict and pr.base != self.main:
                found.append("the branch is not up to date with main")
        elif rule["type"] == "merge_queue" and commit == pr.head:
            found.append("main takes changes through its merge queue")
        return found

    def merge_blockers(self, pr: PullRequest, actor: str, commit: str | None = None) -> list[str]:
        """Why `actor` may not merge the pull request now ([] when they may). `commit` other
        than the head: the merge group commit the merge queue tests instead."""
        found = []
        for ruleset in self.rulesets:
            if ruleset.get("enforcement") != "active" or not self._applies_to_main(ruleset):
                continue
            if self._may_bypass(ruleset, actor):
                continue
            for rule in ruleset.get("rules") or []:
                found += self._rule_blockers(rule, pr, commit or pr.head)
        classic = self.branch_protection or {}
        reviews = classic.get("required_pull_request_reviews") or {}
        admin_bypass = self.roles.get(actor) == "admin" and not (
            (classic.get("enforce_admins") or {}).get("enabled")
        )
        if reviews and not admin_bypass:
            wanted = reviews.get("required_approving_review_count", 0)
            approvals = self._approvals(pr, current_only=bool(reviews.get("dismiss_stale_reviews")))
            if len(approvals) < wanted:
                found.append(f"branch protection: {wanted} approving review(s) required")
        if ROLE_RANK[self.roles.get(actor, "read")] < ROLE_RANK["write"]:
            found.append(f"{actor} has no write access")
        return found

    def merge(self, pr: PullRequest, actor: str, commit: str | None = None) -> None:
        blockers = self.merge_blockers(pr, actor, commit)
        if blockers:  # GitHub: 405 "Repository rule violations found"
            raise PermissionError("; ".join(blockers))
        self.files.update(pr.files)
        self.main, pr.merged = self.commit(), True

    def deployment_blockers(self, environment: str, started_by: str, approver: str) -> list[str]:
        """Why `approver` may not approve a job of `environment` in a run `started_by` began."""
        env = self.environments.get(environment)
        if env is None:
            return [f"{environment} does not exist: GitHub would create it unprotected"]
        rule = next((r for r in env["protection_rules"] if r["type"] == "required_reviewers"), None)
        if rule is None:
            return [f"{environment} has no required reviewers: nobody is asked"]
        if self.users.get(approver) not in {r["reviewer"]["id"] for r in rule["reviewers"]}:
            return [f"{approver} is not a required reviewer of {environment}"]
        if rule["prevent_self_review"] and approver == started_by:
            return [f"prevent self-review: {approver} started this run"]
        return []
