"""Load and fault benchmark of the web tier on loopback (`make bench-app`), bounded in count.

The app runs as its image runs it (gitops.web.server) behind the reverse proxy as Compose runs
it (app/nginx.conf under a local nginx, gitops.web.proxy), against a throwaway MariaDB; every
request goes through the proxy. Phases: concurrent writes; /health while 40 clients trickle
headers, then bodies; an oversized body; a database killed (SIGKILL) and restarted while
clients write and retry; retries after a connection cut after the commit. --direct first runs
the slow clients and the writes against gunicorn alone, for comparison.
Every write carries an Idempotency-Key and is retried with it until acknowledged, as a careful
client would. It prints accepted/stored/lost/duplicated counts and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from gitops.pipeline import db_standin
from gitops.web.proxy import serve_proxied


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


# What one attempt can end in besides an answer: a refused, cut or timed-out connection, an
# answer that is no HTTP or no JSON row. Each is a failed attempt, retried with the same key.
CLIENT_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                 LookupError, TypeError)  # fmt: skip


class Writer:
    """Writes with an Idempotency-Key each over kept-alive connections, each retried with its
    key until acknowledged or out of time. One asyncio loop in one thread: a client that costs
    little CPU, so the figures are the server's and not 20 client threads queueing for a GIL
    on the same two cores."""

    def __init__(self, port: int, tag: str) -> None:
        self.port, self.tag = port, tag
        self.accepted: dict[str, int] = {}  # content -> id acknowledged
        self.latencies: list[float] = []
        self.retries = 0

    def run(self, count: int, clients: int, seconds: float) -> None:
        """Write `count` entries from `clients` connections, for at most `seconds`."""
        asyncio.run(self._run(count, clients, time.monotonic() + seconds))

    async def _run(self, count: int, clients: int, deadline: float) -> None:
        todo = iter(range(count))
        await asyncio.gather(*(self._client(todo, deadline) for _ in range(clients)))

    async def _client(self, todo: Iterator[int], deadline: float) -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for n in todo:
            content, key = f"{self.tag} {n}", secrets.token_hex(16)
            body = json.dumps({"content": content}).encode()
            request = (
                f"POST /logs HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            began = time.monotonic()  # what the client waits: retries and back-off included
            while time.monotonic() < deadline:
                try:
                    conn = conn or await asyncio.open_connection("127.0.0.1", self.port)
                    status, answer, keep = await asyncio.wait_for(exchange(conn, request), 10)
                    row_id = json.loads(answer)["id"] if status == 201 else None
                except CLIENT_ERRORS:
                    status, row_id, keep = 0, None, False
                if not keep and conn is not None:
                    conn[1].close()
                    conn = None
                if row_id is not None:
                    self.latencies.append(time.monotonic() - began)
                    self.accepted[content] = row_id
                    break
                self.retries += 1
                await asyncio.sleep(0.2)
        if conn is not None:
            conn[1].close()


async def exchange(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes
) -> tuple[int, bytes, bool]:
    """Send one HTTP/1.1 request; (status, body, whether the connection stays open)."""
    reader, writer = conn
    writer.write(request)
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = dict(
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(":") for line in head[1:] if line)
    )
    if "content-length" not in headers:
        raise ValueError("the answer has no Content-Length")
    body = await reader.readexactly(int(headers["content-length"]))
    return status, body, headers.get("connection", "").lower() != "close"


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
    return lost == 0 and duplicated == 0 and len(writer.accepted) == attempted


def concurrent_writes(
    port: int, app_db: db_standin.AppDB, clients: int, per_client: int, where: str = "via proxy"
) -> bool:
    # Warm-up: the first request on each pooled connection pays for opening it.
    warm = Writer(port, f"warm-{secrets.token_hex(3)}")
    warm.run(clients * 5, clients, 60)
    print(
        "  " + latency_line(f"warm-up ({clients * 5} writes, connections opened)", warm.latencies)
    )
    writer = Writer(port, f"bench-{secrets.token_hex(3)}")
    began = time.monotonic()
    writer.run(clients * per_client, clients, 120)
    elapsed = time.monotonic() - began
    ok = report_writes(f"writes ({clients} clients, {where})", writer, app_db, clients * per_client)
    print(f"  throughput: {len(writer.accepted) / elapsed:.0f} writes/s over {elapsed:.1f} s")
    p99 = pct(writer.latencies, 99) if writer.latencies else float("inf")
    verdict = "met" if p99 < 100 else "MISSED"
    print(f"  target p99 < 100 ms: {verdict} (load average {os.getloadavg()[0]:.1f})")
    return ok


class Trickler:
    """`count` slow clients on one port, each sending a request a piece a second: header lines
    that never end (`header`), or a body far slower than its Content-Length says (`body`). A
    socket the server answers or closes is counted as dropped and replaced at once, as an
    attacker would, so `count` stay open all along. One thread writes to all of them."""

    PIECES = {
        "header": (b"GET /health HTTP/1.1\r\nHost: bench\r\n", b"X-Slow: 1\r\n"),
        "body": (
            b"POST /logs HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n",
            b" ",
        ),
    }

    def __init__(self, port: int, kind: str, count: int) -> None:
        self.port, self.count = port, count
        self.first, self.piece = self.PIECES[kind]
        self.dropped = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.sendall(self.first)
        sock.setblocking(False)
        return sock

    def _run(self) -> None:
        socks = [self._open() for _ in range(self.count)]
        while not self.stopping.wait(1.0):
            for i, sock in enumerate(socks):
                try:
                    readable, _, _ = select.select([sock], [], [], 0)
                    if readable:  # an answer (408, 413) or the end: the server let go
                        raise ConnectionResetError
                    sock.send(self.piece)
                except OSError:
                    sock.close()
                    self.dropped += 1
                    socks[i] = self._open()
        for sock in socks:
            sock.close()

    def __enter__(self) -> Trickler:
        self.thread.start()
        time.sleep(1.5)  # every socket open and its first pieces sent
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)


def probe_health(url: str, seconds: float) -> tuple[list[float], list[int]]:
    """GET /health on a new connection every 50 ms for `seconds`: latencies and statuses (0:
    no answer within 5 s, counted as 5 s)."""
    latencies, codes = [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.monotonic()
        try:
            codes.append(requests.get(f"{url}/health", timeout=5).status_code)
        except requests.RequestException:
            codes.append(0)
        latencies.append(time.monotonic() - began)
        time.sleep(0.05)
    return latencies, codes


def slow_clients(url: str, port: int, count: int, seconds: float, where: str) -> bool:
    """/health while `count` clients trickle headers, then while `count` trickle bodies."""
    ok = True
    for kind in ("header", "body"):
        with Trickler(port, kind, count) as slow:
            latencies, codes = probe_health(url, seconds)
        statuses = ",".join(f"{c}x{codes.count(c)}" for c in sorted(set(codes)))
        print(
            f"/health {where}, {count} clients trickling a {kind} for {seconds:.0f} s: "
            f"statuses {statuses}; slow sockets let go by the server: {slow.dropped}"
        )
        print("  " + latency_line("health latency", latencies))
        ok = ok and set(codes) == {200} and max(latencies) < 1.0
    return ok


def oversized(url: str) -> bool:
    began = time.monotonic()
    try:
        status = requests.post(
            f"{url}/logs",
            data=b"x" * (20 * 1024 * 1024),
            timeout=30,
            headers={"Content-Type": "application/json"},
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


def database_restart(port: int, app_db: db_standin.AppDB, clients: int, per_client: int) -> bool:
    """Kill the database once a fifth of the writes are acknowledged, so the kill, the time it
    is down and its restart all fall while clients are writing."""
    assert app_db.server is not None
    count = clients * per_client
    writer = Writer(port, f"restart-{secrets.token_hex(3)}")
    writing = threading.Thread(target=writer.run, args=(count, clients, 120))
    writing.start()
    deadline = time.monotonic() + 60
    while len(writer.accepted) < count // 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    before = len(writer.accepted)
    down = restart_server(app_db.server)
    writing.join()
    print(
        f"database SIGKILLed and restarted mid-load (down {down:.1f} s; {before} of {count} "
        "writes acknowledged before the kill)"
    )
    ok = report_writes("  writes across the restart", writer, app_db, count)
    # the outage was hit: writes were acknowledged before the kill, and some were refused
    return ok and 0 < before < count and writer.retries > 0


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
    parser.add_argument("--slow", type=int, default=40, help="slow clients at once")
    parser.add_argument("--slow-seconds", type=float, default=15.0, help="each slow phase")
    parser.add_argument(
        "--direct", action="store_true",
        help="also run the slow clients against gunicorn alone, without the proxy (the before)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run")
    server = db_standin.ensure_db(os.environ if os.environ.get("DB_HOST") else {})
    name = f"bench_{secrets.token_hex(3)}"
    try:
        schema = db_standin.SCHEMA_FILE.read_text(encoding="utf-8")
        app_db = db_standin.provision(server, name, name, secrets.token_urlsafe(16), schema)
        # Every phase talks to the proxy, as clients of the web instance do.
        with serve_proxied(app_db.env()) as (served, proxied):
            url, port = proxied.url, proxied.port
            print(f"gunicorn on {served.url} behind nginx (app/nginx.conf) on {url}")
            if args.direct:  # the before, and the proxy's cost: reported, not judged
                slow_clients(served.url, served.port, args.slow, args.slow_seconds, "direct")
                concurrent_writes(served.port, app_db, args.clients, args.per_client, "direct")
            results = {
                "writes": concurrent_writes(port, app_db, args.clients, args.per_client),
                "slow clients": slow_clients(url, port, args.slow, args.slow_seconds, "via proxy"),
                "oversized": oversized(url),
                "db restart": database_restart(port, app_db, args.clients, args.per_client),
                "cut after commit": cut_after_commit(port, url, app_db, 20),
            }
        db_standin.deprovision(server, name, name)
    finally:
        db_standin.stop(server)
    for what, ok in results.items():
        print(f"{'ok' if ok else 'FAIL'} {what}")
    return 0 if all(results.values()) else 1
