"""The app's reverse proxy as the web instance runs it: app/nginx.conf under a local nginx.

On the instance, Compose runs app/nginx.conf in the nginx image compose.yaml pins. Here the same
file runs under the nginx of this machine (Debian's `nginx` package, installed with apt-get when
run as root, as the MySQL stand-in is), on 127.0.0.1, with exactly two lines changed, each
checked to be there once: the port it listens on, and the app's address (Compose's `app:8000`
becomes the gunicorn a test or the benchmark started). Every deadline and limit is the file's.

Used by the app's served tests, `make bench-app` and the local rehearsal's smoke test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from gitops import apt
from gitops.paths import APP_DIR
from gitops.pipeline.db_standin import free_port
from gitops.web.server import Served, serve

PROXY_CONF = APP_DIR / "nginx.conf"
# The two lines that differ between the instance and this machine.
LISTEN = "listen 80 default_server;"
UPSTREAM = "server app:8000;"
HOW_TO_GET_NGINX = (
    "nginx is not installed: the app's reverse proxy (app/nginx.conf) runs under it. Install it "
    "(Debian/Ubuntu: apt-get install nginx; macOS: brew install nginx), or run as root on "
    "Debian/Ubuntu and it is installed with apt-get."
)
# What the image's own /etc/nginx/nginx.conf sets around conf.d/default.conf, with every path
# moved into a directory of its own.
MAIN_CONF = """\
daemon off;
worker_processes auto;
pid {prefix}/nginx.pid;
events {{
    worker_connections 1024;
}}
http {{
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    sendfile on;
    keepalive_timeout 65;
    include {site};
}}
"""


class ProxyError(RuntimeError):
    """nginx could not be found, installed or started; the message says what to do."""


def ensure_nginx(*, allow_install: bool = True) -> str:
    """The nginx binary; installed with apt-get when missing and this process may."""
    found = apt.find_program("nginx")
    if found is None and allow_install and apt.can_install():
        try:
            apt.install("nginx")
        except apt.InstallError as err:
            raise ProxyError(f"{err}\n{HOW_TO_GET_NGINX}") from None
        found = apt.find_program("nginx")
    if found is None:
        raise ProxyError(HOW_TO_GET_NGINX)
    return found


def site_config(app_port: int, port: int, text: str | None = None) -> str:
    """app/nginx.conf listening on 127.0.0.1:port and passing to 127.0.0.1:app_port."""
    text = PROXY_CONF.read_text(encoding="utf-8") if text is None else text
    for line, local in (
        (LISTEN, f"listen 127.0.0.1:{port} default_server;"),
        (UPSTREAM, f"server 127.0.0.1:{app_port};"),
    ):
        if text.count(line) != 1:
            raise ProxyError(
                f"{PROXY_CONF.name} must hold `{line}` exactly once (it holds it "
                f"{text.count(line)} times): the local proxy replaces that line"
            )
        text = text.replace(line, local)
    return text


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def proxy(app_port: int, port: int | None = None, *, timeout: float = 15.0) -> Iterator[Served]:
    """nginx with app/nginx.conf in front of 127.0.0.1:app_port; stopped at the end. Its
    `log_text()` is nginx's error log."""
    nginx = ensure_nginx()
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="proxy-") as tmp:
        prefix = Path(tmp)
        prefix.chmod(0o755)  # run as root, nginx's workers are `nobody`: they use the temp paths
        site = prefix / "site.conf"
        site.write_text(site_config(app_port, port), encoding="utf-8")
        main = prefix / "nginx.conf"
        main.write_text(MAIN_CONF.format(prefix=prefix, site=site), encoding="utf-8")
        with (prefix / "nginx.out").open("wb") as out:
            proc = subprocess.Popen(
                [nginx, "-p", f"{prefix}/", "-e", str(prefix / "error.log"), "-c", str(main)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        proxied = Served(f"http://127.0.0.1:{port}", port, proc, prefix / "error.log")
        try:
            deadline = time.monotonic() + timeout
            while not _accepts(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = (prefix / "nginx.out").read_text(errors="replace")
                    raise ProxyError(
                        f"nginx did not start on 127.0.0.1:{port} (exit {proc.poll()}):\n"
                        f"{output}{proxied.log_text()}"
                    )
                time.sleep(0.05)
            yield proxied
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # fast shutdown: master and workers
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@contextmanager
def serve_proxied(env: Mapping[str, str]) -> Iterator[tuple[Served, Served]]:
    """The web instance's two services on loopback: gunicorn as the image runs it, behind
    nginx with app/nginx.conf. Clients talk to the proxy; the app's own port stays open for
    tests that compare."""
    with serve(env, free_port()) as served, proxy(served.port) as proxied:
        yield served, proxied
