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
"""

from __future__ import annotations

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
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
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

            do_GET = do_POST = do_PUT = do_PATCH = handle_any

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

    def pull(self, number: int, head_sha: str) -> dict[str, Any]:
        """Pull request `number`, whose head is (or was, when merged) `head_sha`."""
        self.pull_requests[number] = {
            "number": number,
            "head": {"sha": head_sha, "repo": {"full_name": REPO}},
        }
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
            "head_sha": "0" * 40, "head_repository": {"full_name": REPO},
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
            ("GET", repo_path(r"/commits/([0-9a-f]+)/pulls"), self.pulls),
            ("GET", repo_path(r"/issues/(\d+)/comments"), self.list_comments),
            ("POST", repo_path(r"/issues/(\d+)/comments"), self.create_comment),
            (None, repo_path(r"/issues/comments/(\d+)"), self.edit_comment),
            ("GET", repo_path("/issues"), self.list_issues),
            ("POST", repo_path("/issues"), self.create_issue),
            ("PATCH", repo_path(r"/issues/(\d+)"), self.edit_issue),
            ("GET", repo_path(r"/pulls/(\d+)"), self.get_pull),
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
