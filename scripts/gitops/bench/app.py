"""Load and fault benchmark of the web tier on loopback (`make bench-app`), bounded in count.

The app runs as its image runs it (gitops.web.server) against a throwaway MariaDB. Phases:
concurrent writes; /health beside slow clients; an oversized body; a database killed (SIGKILL)
and restarted while clients write and retry; retries after a connection cut after the commit.
Every write carries an Idempotency-Key and is retried with it until acknowledged, as a careful
client would. It prints accepted/stored/lost/duplicated counts and latency percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from gitops.paths import REPO_ROOT
from gitops.pipeline import db_standin
from gitops.web.server import serve

SCHEMA = (REPO_ROOT / "app" / "schema.sql").read_text(encoding="utf-8")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def latency_line(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no samples"
    return (
        f"{name}: n={len(values)} p50={pct(values, 50):.1f} ms p95={pct(values, 95):.1f} ms "
        f"p99={pct(values, 99):.1f} ms max={max(values) * 1000:.1f} ms"
    )


class Writer:
    """Writes with an Idempotency-Key each, retrying until acknowledged or out of time."""

    def __init__(self, url: str, tag: str) -> None:
        self.url, self.tag = url, tag
        self.lock = threading.Lock()
        self.accepted: dict[str, int] = {}  # content -> id acknowledged
        self.latencies: list[float] = []
        self.retries = 0
        self.local = threading.local()  # one kept-alive session per client thread

    def write(self, n: int, deadline: float) -> None:
        content, key = f"{self.tag} {n}", secrets.token_hex(16)
        session = self.local.__dict__.setdefault("session", requests.Session())
        while time.monotonic() < deadline:
            began = time.monotonic()
            try:
                r = session.post(
                    self.url,
                    json={"content": content},
                    headers={"Idempotency-Key": key},
                    timeout=10,
                )
            except requests.RequestException:
                r = None
            if r is not None and r.status_code == 201:
                with self.lock:
                    self.latencies.append(time.monotonic() - began)
                    self.accepted[content] = r.json()["id"]
                return
            with self.lock:
                self.retries += 1
            time.sleep(0.2)


def stored(app_db: db_standin.AppDB, tag: str) -> tuple[int, int, set[str]]:
    with app_db.connect() as conn, conn.cursor() as cur:
        sql = "SELECT content, COUNT(*) FROM study_log WHERE content LIKE %s GROUP BY content"
        cur.execute(sql, (f"{tag} %",))
        rows = cur.fetchall()
    return sum(c for _, c in rows), sum(c - 1 for _, c in rows if c > 1), {r[0] for r in rows}


def report_writes(name: str, writer: Writer, app_db: db_standin.AppDB, attempted: int) -> bool:
    total, duplicated, contents = stored(app_db, writer.tag)
    lost = len(set(writer.accepted) - contents)
    print(
        f"{name}: attempted={attempted} accepted={len(writer.accepted)} stored={total} "
        f"lost={lost} duplicated={duplicated} retries={writer.retries}"
    )
    print("  " + latency_line("write latency", writer.latencies))
    return lost == 0 and duplicated == 0


def concurrent_writes(url: str, app_db: db_standin.AppDB, clients: int, per_client: int) -> bool:
    # Warm-up: the first request on each pooled connection pays for opening it.
    warm = Writer(f"{url}/logs", f"warm-{secrets.token_hex(3)}")
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda n: warm.write(n, time.monotonic() + 60), range(clients * 5)))
    print(
        "  " + latency_line(f"warm-up ({clients * 5} writes, connections opened)", warm.latencies)
    )
    writer = Writer(f"{url}/logs", f"bench-{secrets.token_hex(3)}")
    deadline = time.monotonic() + 120
    began = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda n: writer.write(n, deadline), range(clients * per_client)))
    elapsed = time.monotonic() - began
    ok = report_writes(f"writes ({clients} clients)", writer, app_db, clients * per_client)
    print(f"  throughput: {len(writer.accepted) / elapsed:.0f} writes/s over {elapsed:.1f} s")
    p99 = pct(writer.latencies, 99) if writer.latencies else float("inf")
    verdict = "met" if p99 < 100 else "MISSED"
    print(f"  target p99 < 100 ms: {verdict} (load average {os.getloadavg()[0]:.1f})")
    return ok


def slow_clients(url: str, port: int, count: int) -> bool:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(b"POST /logs HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"content\"")  # fmt: skip
        socks.append(sock)
    time.sleep(0.5)
    latencies, codes = [], []
    for _ in range(20):
        began = time.monotonic()
        codes.append(requests.get(f"{url}/health", timeout=5).status_code)
        latencies.append(time.monotonic() - began)
    for sock in socks:
        sock.close()
    print(f"/health beside {count} slow clients: statuses={sorted(set(codes))}")
    print("  " + latency_line("health latency", latencies))
    return set(codes) == {200} and max(latencies) < 1.0


def oversized(url: str) -> bool:
    began = time.monotonic()
    try:
        status = requests.post(
            f"{url}/logs", data=b"x" * (20 * 1024 * 1024), timeout=30
        ).status_code
    except requests.ConnectionError:
        status = 0  # closed before the whole body was read
    took = time.monotonic() - began
    health = requests.get(f"{url}/health", timeout=5).status_code
    print(f"20 MB body: status={status} in {took * 1000:.0f} ms; /health after: {health}")
    return status in (413, 0) and health == 200


def restart_server(server: db_standin.DBServer) -> float:
    """SIGKILL the stand-in's mariadbd and start it again on the same data; seconds down."""
    assert server.pid is not None
    args = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")[:-1]
    args = [a.decode() for a in args if not a.startswith(b"--init-file")]  # users already exist
    os.kill(server.pid, signal.SIGKILL)
    began = time.monotonic()
    db_standin._reap(server.pid)
    time.sleep(1.0)
    log = Path(server.tmpdir or ".") / "server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    db_standin._children[proc.pid] = proc
    server.pid = proc.pid
    db_standin.wait_until_answers(server, proc, 60, log)
    return time.monotonic() - began


def database_restart(url: str, app_db: db_standin.AppDB, clients: int, per_client: int) -> bool:
    assert app_db.server is not None
    writer = Writer(f"{url}/logs", f"restart-{secrets.token_hex(3)}")
    deadline = time.monotonic() + 120
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(writer.write, n, deadline) for n in range(clients * per_client)]
        time.sleep(0.5)
        down = restart_server(app_db.server)
        for future in futures:
            future.result()
    print(f"database SIGKILLed and restarted mid-load (down {down:.1f} s)")
    return report_writes("  writes across the restart", writer, app_db, clients * per_client)


def cut_after_commit(port: int, url: str, app_db: db_standin.AppDB, count: int) -> bool:
    tag = f"cut-{secrets.token_hex(3)}"
    replayed = 0
    for n in range(count):
        content, key = f"{tag} {n}", secrets.token_hex(16)
        body = json.dumps({"content": content}).encode()
        head = (f"POST /logs HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
                f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(head.encode() + body)  # hang up without the answer
        time.sleep(0.05)
        r = requests.post(f"{url}/logs", json={"content": content},
                          headers={"Idempotency-Key": key}, timeout=5)  # fmt: skip
        replayed += r.headers.get("Idempotent-Replayed") == "true"
    total, duplicated, _ = stored(app_db, tag)
    print(f"cut after commit, then retried: requests={count} stored={total} "
          f"duplicated={duplicated} answered-from-key={replayed}")  # fmt: skip
    return total == count and duplicated == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=50)
    parser.add_argument("--slow", type=int, default=10)
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run")
    server = db_standin.ensure_db(os.environ if os.environ.get("DB_HOST") else {})
    name = f"bench_{secrets.token_hex(3)}"
    try:
        app_db = db_standin.provision(server, name, name, secrets.token_urlsafe(16), SCHEMA)
        port = db_standin.free_port()
        with serve(app_db.env(), port) as served:
            results = {
                "writes": concurrent_writes(served.url, app_db, args.clients, args.per_client),
                "slow clients": slow_clients(served.url, port, args.slow),
                "oversized": oversized(served.url),
                "db restart": database_restart(served.url, app_db, args.clients, 10),
                "cut after commit": cut_after_commit(port, served.url, app_db, 20),
            }
        db_standin.deprovision(server, name, name)
    finally:
        db_standin.stop(server)
    for what, ok in results.items():
        print(f"{'ok' if ok else 'FAIL'} {what}")
    return 0 if all(results.values()) else 1
