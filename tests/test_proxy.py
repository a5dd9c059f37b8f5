"""The reverse proxy in front of the app: app/nginx.conf, as Compose runs it on the instance
(compose.yaml) and as the tests run it here, under a real nginx in front of the image's gunicorn
against the real MariaDB stand-in (gitops.web.proxy: the same file, two addresses changed)."""

from __future__ import annotations

import json
import re
import secrets
import select
import socket
import time
from collections.abc import Iterator

import pytest
import requests
import yaml
from gitops.paths import APP_DIR
from gitops.pipeline.db_standin import AppDB
from gitops.web import proxy
from gitops.web.server import Served

import app.app as app_module

CONF = (APP_DIR / "nginx.conf").read_text(encoding="utf-8")
JSON = {"Content-Type": "application/json"}


def directives(text: str) -> dict[str, list[str]]:
    """Every simple directive of an nginx config: name -> the values it is given, in order."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = re.match(r"\s*([a-z_]+)\s+([^;{]*);", line.split("#")[0])
        if match:
            found.setdefault(match.group(1), []).append(match.group(2).strip())
    return found


def seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m)?", value).groups()
    return int(number) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[unit]


def size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmM])?", value).groups()
    return int(number) * {"k": 1024, "m": 1024 * 1024, None: 1}[unit and unit.lower()]


# --- the configuration ---------------------------------------------------------------------


def test_the_proxy_has_header_body_and_idle_deadlines_and_the_apps_body_limit() -> None:
    found = directives(CONF)
    assert seconds(found["client_header_timeout"][0]) <= 10
    assert seconds(found["client_body_timeout"][0]) <= 10
    assert seconds(found["send_timeout"][0]) <= 10
    # the server's keepalive_timeout (the upstream block's comes first): idle clients go at 5 s
    server = CONF[CONF.index("server {") :]
    assert seconds(directives(server)["keepalive_timeout"][0]) <= 5
    assert size(found["client_max_body_size"][0]) == app_module.MAX_BODY
    # a body the size of the limit stays in memory: no temporary file per request
    assert size(found["client_body_buffer_size"][0]) >= app_module.MAX_BODY
    assert found["proxy_request_buffering"] == ["on"]  # gunicorn gets whole requests only
    # upstream connections are dropped before gunicorn's --keep-alive closes them
    upstream = CONF[CONF.index("upstream app {") : CONF.index("server {")]
    assert seconds(directives(upstream)["keepalive_timeout"][0]) < 5
    assert found["server_tokens"] == ["off"]


def test_the_local_proxy_changes_only_the_two_addresses() -> None:
    local = proxy.site_config(8001, 8002).splitlines()
    original = CONF.splitlines()
    changed = [(a.strip(), b.strip()) for a, b in zip(original, local, strict=True) if a != b]
    assert changed == [
        ("server app:8000;", "server 127.0.0.1:8001;"),
        ("listen 80 default_server;", "listen 127.0.0.1:8002 default_server;"),
    ]


@pytest.mark.parametrize("text", [CONF.replace(proxy.LISTEN, "listen 8080;"), CONF + CONF])
def test_a_config_without_exactly_one_line_to_change_is_refused(text: str) -> None:
    with pytest.raises(proxy.ProxyError, match="exactly once"):
        proxy.site_config(8001, 8002, text)


def test_compose_puts_the_pinned_proxy_with_this_config_in_front_of_the_app() -> None:
    services = yaml.safe_load((APP_DIR / "compose.yaml").read_text())["services"]
    front, app = services["proxy"], services["app"]
    assert re.fullmatch(r"nginx:[\w.-]+@sha256:[0-9a-f]{64}", front["image"]), front["image"]
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in front["volumes"]
    assert front["ports"] == ["80:80"] and proxy.LISTEN == "listen 80 default_server;"
    assert proxy.UPSTREAM == "server app:8000;"  # the app service's name and gunicorn's port
    assert "ports" not in app  # only the proxy reaches gunicorn
    assert front["read_only"] is True and "no-new-privileges:true" in front["security_opt"]
    assert front["depends_on"] == ["app"]


# --- under a real nginx --------------------------------------------------------------------


@pytest.fixture
def proxied(mysql_server: AppDB) -> Iterator[tuple[Served, Served]]:
    with proxy.serve_proxied(mysql_server.env()) as running:
        yield running


def count_rows(db: AppDB, content: str) -> int:
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM study_log WHERE content LIKE %s", (content,))
        return int(cur.fetchone()[0])


def slow(port: int, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(first)
    return sock


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server answered or hung up (readable: data, end of stream or a reset)."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def test_slow_clients_are_held_by_the_proxy_and_gunicorn_sees_none_of_them(
    proxied: tuple[Served, Served], mysql_server: AppDB
) -> None:
    """40 clients trickle a header or a body: /health answers throughout, the header tricklers
    are dropped at the header deadline, and no trickled request ever reaches gunicorn."""
    served, front = proxied
    header = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n"
    body = b"POST /logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    body += b"Content-Length: 1000\r\n\r\n{"
    deadline = seconds(directives(CONF)["client_header_timeout"][0])
    tricklers = [slow(front.port, header) for _ in range(20)]
    bodies = [slow(front.port, body) for _ in range(20)]
    began = time.monotonic()
    try:
        content = f"beside slow {secrets.token_hex(4)}"
        created = requests.post(f"{front.url}/logs", json={"content": content}, timeout=3)
        assert created.status_code == 201
        while time.monotonic() - began < deadline + 5 and not all(map(closed_by_peer, tricklers)):
            assert requests.get(f"{front.url}/health", timeout=3).status_code == 200
            for sock in tricklers + bodies:
                if not closed_by_peer(sock):
                    sock.send(b"X: 1\r\n" if sock in tricklers else b" ")
            time.sleep(1)
        assert all(map(closed_by_peer, tricklers)), "the header deadline dropped no trickler"
        assert time.monotonic() - began >= deadline - 1  # dropped at the deadline, not before
    finally:
        for sock in tricklers + bodies:
            sock.close()
    log = served.log_text()
    assert "X-Slow" not in log and log.count('"POST /logs') == 1, log  # only the real POST


def test_a_chunked_body_over_the_limit_is_413_at_the_proxy(
    proxied: tuple[Served, Served], mysql_server: AppDB
) -> None:
    served, front = proxied
    tag = f"chunked {secrets.token_hex(4)}"
    parts = iter([f'{{"content": "{tag}", "pad": "'.encode(), b"y" * 8000, b'"}'])
    response = requests.post(f"{front.url}/logs", data=parts, headers=JSON, timeout=10)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413
    assert response.json() == {"error": "request entity too large"}
    assert count_rows(mysql_server, f"{tag}%") == 0
    assert '"POST /logs' not in served.log_text()  # refused at the edge


def test_the_apps_refusals_pass_through_the_proxy(proxied: tuple[Served, Served]) -> None:
    _, front = proxied
    url = f"{front.url}/logs"
    assert requests.post(url, data="content=x", timeout=5).status_code == 415
    blank = json.dumps({"content": "\u200b\u3164"})
    assert requests.post(url, data=blank, headers=JSON, timeout=5).status_code == 400
    fine = requests.post(url, json={"content": "proxied 공부"}, timeout=5)
    assert fine.status_code == 201 and fine.json()["content"] == "proxied 공부"


def test_an_app_that_is_down_gets_a_json_503_family_answer() -> None:
    """nginx's own answers keep the app's JSON shape: here gunicorn is not running at all."""
    from gitops.pipeline.db_standin import free_port

    with proxy.proxy(free_port()) as front:
        response = requests.get(f"{front.url}/health", timeout=5)
    assert response.status_code == 502
    assert response.json() == {"error": "app unavailable, try again later"}


def test_without_nginx_the_error_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proxy.apt, "find_program", lambda *names: None)
    monkeypatch.setattr(proxy.apt, "can_install", lambda: False)
    with pytest.raises(proxy.ProxyError, match=r"apt-get install nginx.*brew install nginx"):
        proxy.ensure_nginx()
