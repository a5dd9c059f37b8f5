"""One local stand-in for the GitHub REST API, shared by every test that talks to GitHub.

`FakeServer` serves any fake on 127.0.0.1: a fake is an object with a `handle(Request) -> Reply`
method, usually a `Fake` subclass that lists its endpoints in `routes()` as (method, path regex,
callback) rows and checks the token, records the call or injects a failure in `before()`. The
`serve_fake` fixture in conftest.py starts a server for one test; the `fake_github` fixture
serves `FakeGitHub` below: pull requests by commit, issues and issue comments, every list paged
by 2 so pagination is always exercised. Other suites (repository setup, environments) define
their own `Fake` subclass with their own routes and serve it through `serve_fake`.
"""

from __future__ import annotations

import json
import re
import threading
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

    # --- API -----------------------------------------------------------------------------

    def before(self, request: Request) -> Reply | None:
        self.calls.append((request.method, request.target))
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
