"""A local stand-in for the few GitHub REST endpoints the deploy reports use.

Pull requests by commit (GET /repos/{o}/{r}/commits/{sha}/pulls) and pull request comments
(GET, paginated by 2 so pagination is always exercised, and POST). The `fake_github` fixture
in conftest.py serves it on 127.0.0.1 for a test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

REPO = "owner/repo"
TOKEN = "test-token"
BOT = "github-actions[bot]"
PAGE = 2


@dataclass
class FakeGitHub:
    pulls_by_commit: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_with: int | None = None
    base: str = ""
    next_id: int = 100

    def merged_pr(self, sha: str, number: int) -> None:
        """`sha` is the merge commit of pull request `number`."""
        self.pulls_by_commit.setdefault(sha, []).append(
            {"number": number, "merge_commit_sha": sha, "merged_at": "2026-11-26T09:00:00Z"}
        )

    def add_comment(self, number: int, body: str, login: str = BOT) -> dict[str, Any]:
        self.next_id += 1
        comment = {
            "id": self.next_id,
            "body": body,
            "user": {"login": login},
            "html_url": f"https://github.test/{REPO}/pull/{number}#issuecomment-{self.next_id}",
        }
        self.comments.setdefault(number, []).append(comment)
        return comment


def make_handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self, method: str) -> None:
            fake.calls.append((method, self.path))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.reply(401, {"message": "Bad credentials"})
                return
            if fake.fail_with:
                self.reply(fake.fail_with, {"message": "Server Error"})
                return
            url = urlparse(self.path)
            rest = url.path.removeprefix(f"/repos/{REPO}")
            if (m := re.fullmatch(r"/commits/([0-9a-f]+)/pulls", rest)) and method == "GET":
                self.reply(200, fake.pulls_by_commit.get(m.group(1), []))
            elif m := re.fullmatch(r"/issues/(\d+)/comments", rest):
                number = int(m.group(1))
                if method == "POST":
                    length = int(self.headers.get("Content-Length", "0"))
                    body = json.loads(self.rfile.read(length))["body"]
                    self.reply(201, fake.add_comment(number, body))
                    return
                items = fake.comments.get(number, [])
                page = int(parse_qs(url.query).get("page", ["1"])[0])
                headers = {}
                if page * PAGE < len(items):
                    nxt = f"{fake.base}{url.path}?per_page={PAGE}&page={page + 1}"
                    headers["Link"] = f'<{nxt}>; rel="next"'
                self.reply(200, items[(page - 1) * PAGE : page * PAGE], headers)
            else:
                self.reply(404, {"message": "Not Found"})

        def do_GET(self) -> None:  # noqa: N802
            self.handle_any("GET")

        def do_POST(self) -> None:  # noqa: N802
            self.handle_any("POST")

    return Handler
