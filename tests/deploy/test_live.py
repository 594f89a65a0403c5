"""The kit under real processes: nginx in front of gunicorn, graceful reloads and
socket-activated restarts under a steady stream of webhooks."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

import pytest

from inbox.models import InboxEvent
from inbox.signatures import sign
from syncqueue.models import QueueEntry, WorkerHeartbeat
from tests.deploy.conftest import (
    DEPLOY,
    ROOT,
    SECRET,
    VENV_BIN,
    LiveProcess,
    free_port,
    http,
    process_env,
    production_env,
    start_gunicorn,
    wait_healthy,
)
from tests.instances import PrivateRedis
from tests.processes import wait_until
from tests.support import FIXTURES

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

INVOICE = json.loads((FIXTURES / "invoice.json").read_text())


def invoice_body(n: int) -> bytes:
    doc = json.loads(json.dumps(INVOICE))
    doc["invoice"]["invoice_id"] = f"990000{n:08d}"
    doc["invoice"]["invoice_number"] = f"INV-DEPLOY-{n}"
    return json.dumps(doc).encode()


def signed_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Zoho-Webhook-Signature": sign(secret, "", "application/json", body),
    }


# ---------------------------------------------------------------- nginx in front


def nginx_site(tmp: Path, http_port: int, https_port: int, api_port: int) -> Path:
    """deploy/nginx/tds-core.conf with its ports and paths moved into tmp. Every
    replacement must apply, so a change to the site that the test misses fails here."""
    site = (DEPLOY / "nginx" / "tds-core.conf").read_text()
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("server 127.0.0.1:8001;", f"server 127.0.0.1:{api_port};"),
        ("/etc/letsencrypt/live/api.tsh.sale/fullchain.pem", str(tmp / "cert.pem")),
        ("/etc/letsencrypt/live/api.tsh.sale/privkey.pem", str(tmp / "key.pem")),
        ("/var/log/nginx/", f"{tmp}/logs/"),
        ("/opt/tds_core/staticfiles/", f"{tmp}/static/"),
        ("/var/www/html", f"{tmp}/www"),
    ):
        assert old in site, old
        site = site.replace(old, new)
    path = tmp / "tds-core.conf"
    path.write_text(site)
    return path


def nginx_conf(tmp: Path, site: Path) -> Path:
    mime = Path("/etc/nginx/mime.types")
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""
# Workers as root: the test's files live in a directory only root may enter.
user root;
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/logs/error.log;
events {{ worker_connections 256; }}
http {{
    {f"include {mime};" if mime.exists() else ""}
    default_type application/octet-stream;
    access_log {tmp}/logs/access.log;
    client_body_temp_path {tmp}/temp/body;
    proxy_temp_path {tmp}/temp/proxy;
    fastcgi_temp_path {tmp}/temp/fastcgi;
    uwsgi_temp_path {tmp}/temp/uwsgi;
    scgi_temp_path {tmp}/temp/scgi;
    include {site};
}}
"""
    )
    return conf


@pytest.fixture
def nginx_in_front(tmp_path, live_processes):
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    openssl = shutil.which("openssl")
    if not nginx or not openssl:
        pytest.skip("nginx and openssl are needed (.ci/run installs them)")
    for sub in ("logs", "temp", "www", "static"):
        (tmp_path / sub).mkdir()
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=api.tsh.sale",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    env = production_env(STATIC_ROOT=str(tmp_path / "static"))
    # As install.sh does: collectstatic with the production storage (hashed names).
    subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "collectstatic", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    api = start_gunicorn(tmp_path, env)
    live_processes.append(api)
    http_port, https_port = free_port(), free_port()
    site = nginx_site(tmp_path, http_port, https_port, int(env["API_PORT"]))
    conf = nginx_conf(tmp_path, site)
    argv = [nginx, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "logs/error.log")]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    assert "syntax is ok" in check.stderr and "test is successful" in check.stderr
    proxy = LiveProcess(argv, dict(os.environ), tmp_path / "nginx.out")
    live_processes.append(proxy)
    proxy.url = f"https://127.0.0.1:{https_port}"
    proxy.extra = {"http": f"http://127.0.0.1:{http_port}", "logs": tmp_path / "logs"}
    wait_healthy(proxy.url + "/tds/health", proxy)
    return proxy


def test_nginx_site_proxies_tds_to_gunicorn(nginx_in_front):
    base = nginx_in_front.url

    status, _, body = http("GET", base + "/tds/health")
    assert status == 200 and json.loads(body)["status"] == "ok"

    status, headers, _ = http("GET", nginx_in_front.extra["http"] + "/tds/health")
    assert status == 301
    assert re.fullmatch(r"https://[^/]+/tds/health", headers["Location"])

    body = invoice_body(1)
    url = base + "/tds/webhooks/zoho/invoices/"
    status, _, answer = http("POST", url, body, signed_headers(body))
    assert status == 202, answer
    assert json.loads(answer)["status"] == "accepted"
    status, _, answer = http("POST", url, body, signed_headers(body))
    assert status == 200 and json.loads(answer)["duplicate"] is True
    assert InboxEvent.objects.count() == 1
    assert QueueEntry.objects.count() == 1

    # A client's own X-Forwarded-For does not pass nginx: the app records nginx's peer.
    body = invoice_body(2)
    spoofed = {**signed_headers(body), "X-Forwarded-For": "203.0.113.7"}
    assert http("POST", url, body, spoofed)[0] == 202
    assert InboxEvent.objects.get(record_id="99000000000002").remote_addr == "127.0.0.1"

    wrong = http("POST", url, invoice_body(3), signed_headers(invoice_body(4)))
    assert wrong[0] == 401

    big = b'{"invoice": {"invoice_id": "1", "notes": "' + b"x" * (1024 * 1024) + b'"}}'
    status, headers, _ = http("POST", url, big, signed_headers(big))
    assert status == 413 and headers.get("Server", "").startswith("nginx")
    assert InboxEvent.objects.count() == 2

    logs = nginx_in_front.extra["logs"]
    access = (logs / "tds-core-access.log").read_text()
    assert "/tds/webhooks/zoho/invoices/" in access
    assert "/tds/health" not in access  # access_log off for the health check


def test_access_log_masks_every_token_in_the_query(nginx_in_front):
    base = nginx_in_front.url
    one, two, three = (f"secret{n}{secrets.token_hex(8)}" for n in range(3))
    body = invoice_body(5)
    webhook = f"/tds/webhooks/zoho/invoices/?token={one}&operation=update"
    assert http("POST", base + webhook, body, {"Content-Type": "application/json"})[0] == 401
    assert http("GET", f"{base}/tds/admin/login/?Token={two}&next=/tds/admin/")[0] == 200
    assert http("GET", f"{base}/tds/admin/login/?token={two}&a=1&xtoken={three}")[0] == 200

    log = nginx_in_front.extra["logs"] / "tds-core-access.log"
    # nginx writes a request's line after the response has gone out.
    wait_until(lambda: len(log.read_text().splitlines()) >= 3, 10, log.read_text)
    access = log.read_text()
    requests = re.findall(r'"((?:GET|POST) [^"]*)"', access)
    assert requests == [
        "POST /tds/webhooks/zoho/invoices/?token=***&operation=update HTTP/1.1",
        "GET /tds/admin/login/?Token=***&next=/tds/admin/ HTTP/1.1",
        "GET /tds/admin/login/?*** HTTP/1.1",
    ]
    assert not any(secret in access for secret in (one, two, three))


def test_admin_and_its_static_files_work_under_tds(nginx_in_front):
    base = nginx_in_front.url
    status, headers, _ = http("GET", base + "/tds/admin/")
    assert status == 302
    assert headers["Location"] == "/tds/admin/login/?next=/tds/admin/"

    status, headers, page = http("GET", base + "/tds/admin/login/")
    assert status == 200
    # Django saw HTTPS (X-Forwarded-Proto from a trusted proxy): HSTS and secure cookies.
    assert "max-age=31536000" in headers["Strict-Transport-Security"]
    assert "Secure" in headers["Set-Cookie"]
    css = re.search(rb'href="(/tds/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
    assert css, page[:2000]

    status, headers, content = http("GET", base + css[1].decode())
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert b"body" in content
    # Served by nginx from STATIC_ROOT, not by the app (which tags every response).
    assert "X-Request-ID" not in headers
    assert "Expires" in headers


# ---------------------------------------------------- reloads under a webhook stream


class Stream:
    """Threads sending unique signed webhooks, each on a new connection, as Zoho does."""

    def __init__(self, port: int, secret: str = SECRET, threads: int = 2) -> None:
        self.port = port
        self.secret = secret
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.results: list[tuple[int, int, float]] = []  # (n, status, sent at)
        self.errors: list[str] = []
        self.counter = 0
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def next_number(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def run(self) -> None:
        while not self.stop.is_set():
            n = self.next_number()
            body = invoice_body(n)
            sent = time.monotonic()
            try:
                conn = HTTPConnection("127.0.0.1", self.port, timeout=60)
                conn.request(
                    "POST", "/webhooks/zoho/invoices/", body, signed_headers(body, self.secret)
                )
                status = conn.getresponse().status
                conn.close()
            except OSError as error:
                with self.lock:
                    self.errors.append(f"#{n}: {error!r}")
                continue
            with self.lock:
                self.results.append((n, status, sent))
            time.sleep(0.005)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(90)

    def sent_since(self, moment: float) -> int:
        with self.lock:
            return sum(1 for _, _, sent in self.results if sent > moment)

    def wait_for(self, count: int, after: float, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.sent_since(after) < count:
            assert time.monotonic() < deadline, f"stream stalled: {self.errors[:5]}"
            time.sleep(0.02)


def assert_nothing_lost(stream: Stream) -> None:
    assert stream.errors == []
    bad = [(n, status) for n, status, _ in stream.results if status != 202]
    assert bad == []
    assert len(stream.results) == stream.counter  # every request got an answer
    assert InboxEvent.objects.count() == len(stream.results)
    assert QueueEntry.objects.count() == len(stream.results)


def test_sighup_reload_under_a_webhook_stream_loses_nothing(tmp_path, live_processes):
    api = start_gunicorn(tmp_path, process_env())
    live_processes.append(api)
    port = int(api.url.rsplit(":", 1)[1])
    with Stream(port) as stream:
        for _ in range(2):
            stream.wait_for(40, after=time.monotonic() - 0.5)
            api.proc.send_signal(signal.SIGHUP)  # what `systemctl reload` sends
            hup = time.monotonic()
            stream.wait_for(80, after=hup)  # the stream carries on through the reload
    assert_nothing_lost(stream)
    assert len(stream.results) >= 160
    log = api.output()
    # `gunicorn … tds_site.wsgi`, as the unit runs it: the workers serve the ASGI application.
    assert "Application startup complete." in log, log[-3000:]
    assert log.count("Handling signal: hup") == 2, log[-3000:]
    # 2 workers at start, 2 new ones per reload: the old ones really were replaced.
    assert len(set(re.findall(r"Booting worker with pid: (\d+)", log))) >= 6, log[-3000:]


def start_socket_activated(tmp_path: Path, listener: socket.socket, secrets_: str, name: str):
    """gunicorn handed a listening socket the way systemd's tds-core-api.socket hands it:
    fd 3, LISTEN_FDS=1, LISTEN_PID=its own pid."""
    env = process_env(ZOHO_WEBHOOK_SECRETS=secrets_, API_PORT=str(listener.getsockname()[1]))
    fd = listener.fileno()
    argv = [
        "/bin/bash",  # dash cannot name a descriptor above 9
        "-c",
        f'exec 3<&{fd}; LISTEN_FDS=1 LISTEN_PID=$$ exec "$@"',
        "bash",
        str(VENV_BIN / "gunicorn"),
        "-c",
        "deploy/gunicorn.conf.py",
        "tds_site.wsgi",
    ]
    return start_gunicorn(tmp_path, env, name=name, argv=argv, pass_fds=(fd,))


def test_socket_activated_restarts_rotate_the_secret_without_losing_webhooks(
    tmp_path, live_processes
):
    """The runbook's secret rotation: restart with old+new, switch the sender, restart with
    new only. systemd keeps the socket across restarts; here the test process does."""
    old, new = "OldWebhookSecret2025", "NewWebhookSecret2026"
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    port = listener.getsockname()[1]
    try:
        api = start_socket_activated(tmp_path, listener, old, "api-1")
        live_processes.append(api)
        assert "Listening at" in api.output()
        with Stream(port, secret=old) as stream:
            for number, secrets_ in ((2, f"{old},{new}"), (3, new)):
                stream.wait_for(40, after=time.monotonic() - 0.5)
                # systemctl restart: TERM (graceful), then a new process on the same socket.
                stopped_at = time.monotonic()
                api.stop()
                assert api.proc.returncode == 0, api.log_path.read_text()[-2000:]
                api = start_socket_activated(tmp_path, listener, secrets_, f"api-{number}")
                live_processes.append(api)
                stream.wait_for(40, after=stopped_at)
                if number == 2:
                    stream.secret = new  # Zoho now signs with the new secret
        assert_nothing_lost(stream)
        body = invoice_body(10**7)
        status, _, _ = http(
            "POST", f"{api.url}/webhooks/zoho/invoices/", body, signed_headers(body, old)
        )
        assert status == 401  # the old secret is gone
    finally:
        listener.close()


def test_worker_unit_command_starts_and_stops_gracefully(tmp_path, live_processes):
    """`python manage.py qcluster` as tds-core-worker.service runs it; SIGTERM ends it, right
    after start-up (a stop used to deadlock there on SQLite) and after beating, when it
    records its graceful stop so the monitor does not call its host lost."""
    for run in ("at-start", "after-a-beat"):
        worker = LiveProcess(
            [str(VENV_BIN / "python"), "manage.py", "qcluster"],
            process_env(WORKER_POLL_INTERVAL="0.5"),
            tmp_path / f"worker-{run}.log",
        )
        live_processes.append(worker)
        wait_until(lambda: "worker started" in worker.output(), 30, worker.output)
        if run == "after-a-beat":
            wait_until(lambda: WorkerHeartbeat.objects.exists(), 30, worker.output)
        assert worker.proc.poll() is None
        started = time.monotonic()
        worker.stop(timeout=60)  # SIGTERM, as systemctl stop sends
        assert worker.proc.returncode == 0, worker.log_path.read_text()[-2000:]
        assert time.monotonic() - started < 30
    heartbeats = list(WorkerHeartbeat.objects.all())  # the first run may not have beaten yet
    assert heartbeats
    assert all(h.stopped_at and h.stopped_at >= h.last_beat_at for h in heartbeats)


def test_worker_stops_promptly_behind_a_backlog_of_drain_tasks(tmp_path, live_processes):
    """Thousands of drain tasks waiting in Redis (what API processes dispatched while every
    worker was busy, before the dispatch checked for a waiting one): SIGTERM still ends the
    worker within seconds. Its workers used to recycle mid-stop, leaving django-q2's pusher
    blocked on a full task queue until systemd's KILL, and the monitor saved every empty
    drain's result first."""
    redis = PrivateRedis()
    redis.start()
    try:
        env = process_env(REDIS_URL=redis.url, WORKER_POLL_INTERVAL="0.5", WORKER_CONCURRENCY="2")
        subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", "shell", "-c",
             "from syncqueue.dispatch import enqueue_drains; enqueue_drains(3000)"],
            env=env, check=True, timeout=120,
        )  # fmt: skip
        worker = LiveProcess(
            [str(VENV_BIN / "python"), "manage.py", "qcluster"], env, tmp_path / "worker.log"
        )
        live_processes.append(worker)
        wait_until(lambda: "worker started" in worker.output(), 30, worker.output)
        time.sleep(4)  # the workers churn through the backlog
        started = time.monotonic()
        worker.stop(timeout=90)
        assert worker.proc.returncode == 0, worker.log_path.read_text()[-2000:]
        assert time.monotonic() - started < 8, "the stop waited for the backlog"
    finally:
        redis.destroy()
