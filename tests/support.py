"""Helpers shared by the integration tests: services, throwaway databases, workers, sites, queues."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
from aiohttp import web

from leadworker.broker.producer import publish_jobs
from leadworker.broker.publisher import ConfirmedPublisher
from leadworker.broker.topology import Topology, declare_topology
from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.errors import ServiceUnavailable
from leadworker.ops.serving import serve_app
from leadworker.store.pool import Database
from leadworker.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
DEMO_SITE = ROOT / "src" / "leadworker" / "demo" / "site"

AMQP_URL = os.environ.get("LEADWORKER_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
ADMIN_DATABASE_URL = os.environ.get("LEADWORKER_TEST_DATABASE_URL", "postgresql://127.0.0.1/postgres")

HOW_TO_START = (
    "start them with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start; "
    "rabbitmq-server -detached  (or point LEADWORKER_TEST_AMQP_URL / LEADWORKER_TEST_DATABASE_URL elsewhere; "
    "with a Docker engine, testcontainers starts them)"
)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=3):
            return True
    except OSError:
        return False


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def database_url_for(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def create_database(admin_url: str, name: str, template: str | None = None) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


POOLED_URLS: dict[str, str] = {}
"""Database URLs through a test's PgBouncer (transaction mode) -> the same database directly."""


def pooled_url(bouncer: PrivatePgBouncer, direct_url: str) -> str:
    """``direct_url``'s database through ``bouncer``, remembered as pooled (see :func:`test_settings`)."""
    parts = urlsplit(direct_url)
    url = bouncer.url(parts.path.lstrip("/"), parts.username)
    POOLED_URLS[url] = direct_url
    return url


def is_pooled(database_url: str) -> bool:
    """Whether ``database_url`` goes through a test's PgBouncer in transaction mode."""
    return database_url in POOLED_URLS


def test_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for one test: unique queue prefix, short backoffs, private targets allowed. A database URL
    through a test's PgBouncer gets ``db_pool_mode=transaction`` and the direct URL beside it."""
    values: dict[str, Any] = {
        "amqp_url": AMQP_URL,
        "database_url": database_url,
        "queue_prefix": f"t{uuid.uuid4().hex[:10]}.",
        "retry_backoff": [0.2, 0.4, 0.8],
        "max_attempts": 3,
        "allow_private_networks": True,
        "metrics_port": 0,
        "shutdown_grace": 10.0,
        "fetch_retries": 0,
        "page_timeout": 5.0,
        "db_pool_min": 1,
        "db_pool_max": 5,
        # Tests do not ask the machine's resolver about their domains; the verification tests bring a DNS
        # server of their own and turn it on.
        "verify_emails": False,
    }
    if database_url in POOLED_URLS:
        values.update(db_pool_mode="transaction", database_direct_url=POOLED_URLS[database_url])
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def delete_queues(settings: Settings) -> None:
    """Delete every queue and the exchange of ``settings``' prefix."""
    topology = Topology.from_settings(settings)
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        for name, _ in topology.declarations():
            with contextlib.suppress(Exception):
                if channel.is_closed:
                    channel = await connection.channel()
                await channel.queue_delete(name)
        with contextlib.suppress(Exception):
            if channel.is_closed:
                channel = await connection.channel()
            await channel.exchange_delete(topology.exchange)
    finally:
        await connection.close()


async def declare(settings: Settings) -> Topology:
    topology = Topology.from_settings(settings)
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        await declare_topology(channel, topology)
    finally:
        await connection.close()
    return topology


async def publish(settings: Settings, db: Database, jobs: Sequence[ScrapeJob]) -> None:
    """Create the rows and publish ``jobs`` as a producer would."""
    topology = await declare(settings)
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        publisher = await ConfirmedPublisher.open(connection, topology.exchange)
        await publish_jobs(db, publisher, topology, jobs)
    finally:
        await connection.close()


async def publish_raw(
    settings: Settings, queue: str, body: bytes, *, message_id: str | None = None, headers: dict[str, Any] | None = None
) -> None:
    """Publish arbitrary bytes straight to a queue (poison messages, foreign producers)."""
    topology = await declare(settings)
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.exchange)
        await exchange.publish(
            aio_pika.Message(
                body=body, message_id=message_id, headers=headers or {}, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            ),
            routing_key=queue,
        )
    finally:
        await connection.close()


async def queue_messages(
    settings: Settings, queue: str, limit: int = 1000
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Messages sitting in ``queue``, read without removing them."""
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        found = []
        for _ in range(limit):
            message = await q.get(no_ack=False, fail=False)
            if message is None:
                break
            found.append(message)
        await channel.close()  # returns them
        return found
    finally:
        await connection.close()


async def queue_depth(settings: Settings, queue: str) -> int:
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        return q.declaration_result.message_count or 0
    finally:
        await connection.close()


async def consumer_count(settings: Settings, queue: str) -> int:
    """Consumers the broker sees on ``queue``."""
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        return q.declaration_result.consumer_count or 0
    finally:
        await connection.close()


async def all_depths(settings: Settings) -> dict[str, int]:
    topology = Topology.from_settings(settings)
    return {name: await queue_depth(settings, name) for name, _ in topology.declarations()}


async def run_until_idle(
    settings: Settings, stages: Sequence[str] = ("scrape",), *, idle: float = 0.6, timeout: float = 60.0
) -> Worker:
    """Run a worker in this event loop until it has been idle for ``idle`` seconds."""
    worker = Worker(settings, list(stages), exit_when_idle=idle)
    await asyncio.wait_for(worker.run(), timeout)
    return worker


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, stages: Sequence[str] = ("scrape",)) -> AsyncIterator[Worker]:
    """A worker running in the background of this event loop; stopped (gracefully) on exit."""
    worker = Worker(settings, list(stages))
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: worker.readiness.ready, timeout=30, what="worker ready")
        yield worker
    finally:
        worker.request_stop("test")
        await asyncio.wait_for(task, 60)


async def count_status(db: Database, job_ids: Sequence[uuid.UUID], status: str) -> int:
    """How many of ``job_ids`` are in ``status`` now."""
    value = await db.fetchval(
        "SELECT count(*) FROM scrape_jobs WHERE id = ANY($1::uuid[]) AND status = $2", list(job_ids), status
    )
    return int(value)


async def jobs_reached(
    db: Database, job_ids: Sequence[uuid.UUID], status: str = "completed", *, at_least: int | None = None
) -> bool:
    """True once ``at_least`` (default: all) of ``job_ids`` are in ``status``; False while the database does
    not answer (fault tests take it down). The one predicate to give :func:`wait_for`."""
    try:
        count = await count_status(db, job_ids, status)
    except (ServiceUnavailable, OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
        return False
    return count >= (len(job_ids) if at_least is None else at_least)


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    what: str = "condition",
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


class ThreadedServer:
    """Runs an async server (``start()``/``stop()``) on an event loop of its own, in a thread, so that it
    answers while a synchronous test waits on a subprocess."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> Any:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(30)
        return self.server

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class ScriptedSite:
    """An aiohttp site whose pages answer as a test scripts them (status sequences, delays)."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {}
        self.hits: dict[str, int] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    def page(self, path: str, html: str, *, statuses: Sequence[int] = (), delay: float = 0.0) -> None:
        """Serve ``html`` at ``path``; the first requests answer ``statuses`` in order, then 200."""
        script = list(statuses)

        async def handler(request: web.Request) -> web.StreamResponse:
            self.hits[path] = self.hits.get(path, 0) + 1
            if delay:
                await asyncio.sleep(delay)
            if script:
                status = script.pop(0)
                return web.Response(status=status, text=f"status {status}")
            return web.Response(text=html, content_type="text/html")

        self.routes[path] = handler

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="not found")
        return await handler(request)

    async def start(self) -> int:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._dispatch)
        self._runner, self.port = await serve_app(app, shutdown_timeout=1.0)
        return self.port

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def settings_env(settings: Settings) -> dict[str, str]:
    """Every setting of ``settings`` as the ``LEADWORKER_*`` variable a subprocess would read."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list):
            text = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = ",".join(f"{k}:{v}" for k, v in value.items())
        else:
            text = str(value)
        env[f"LEADWORKER_{name.upper()}"] = text
    return env


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a ``leadworker`` subprocess with these settings (JSON logs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADWORKER_")}
    env.update(settings_env(settings))
    env["LEADWORKER_LOG_FORMAT"] = "json"
    env.update(extra)
    return env


def leadworker_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "leadworker", *args]


def run_cli(
    settings: Settings, *args: str, input_text: str | None = None, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``leadworker ARGS`` as a user would, with ``settings`` in its environment."""
    return subprocess.run(
        leadworker_cmd(*args),
        env=cli_env(settings, **env),
        capture_output=True,
        text=True,
        input=input_text,
        timeout=timeout,
        cwd=ROOT,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
    return lines


class WorkerProcess:
    """A real ``leadworker run`` process, its stdout and stderr in files (a pipe could fill up and block it).

    Start one with ``await WorkerProcess.start(settings, directory, *run_args, **env)`` (or the ``spawn``
    fixture, which also kills what is left at the end of the test); read its JSON log lines with
    :meth:`logs` and :meth:`events`; signal it with :meth:`terminate`, :meth:`interrupt`, :meth:`kill`.
    """

    def __init__(self, process: asyncio.subprocess.Process, out_path: Path, err_path: Path) -> None:
        self.process = process
        self.out_path = out_path
        self.err_path = err_path

    @classmethod
    async def start(
        cls,
        settings: Settings,
        directory: Path,
        *args: str,
        stderr_path: Path | None = None,
        program: Path | None = None,
        **env: str,
    ) -> WorkerProcess:
        """``leadworker run ARGS`` with ``settings`` (and ``env``) in its environment; its logs (stderr) go to
        ``stderr_path`` if given, else next to its stdout in ``directory``. ``program``: a script that runs
        the CLI its own way (``python PROGRAM run ARGS``) instead of ``python -m leadworker``."""
        name = f"worker-{uuid.uuid4().hex[:6]}"
        out_path = directory / f"{name}.out"
        err_path = stderr_path or directory / f"{name}.err"
        command = [sys.executable, str(program), "run", *args] if program else leadworker_cmd("run", *args)
        with out_path.open("wb") as out, err_path.open("ab") as err:
            process = await asyncio.create_subprocess_exec(
                *command,
                env=cli_env(settings, LEADWORKER_METRICS_HOST="127.0.0.1", **env),
                stdout=out,
                stderr=err,
                cwd=ROOT,
            )
        return cls(process, out_path, err_path)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has ended (negative: the signal that killed it), else None."""
        return self.process.returncode

    def output(self) -> str:
        """Everything the process printed, stdout then stderr."""
        return self.out_path.read_text(errors="replace") + self.err_path.read_text(errors="replace")

    def logs(self) -> list[dict[str, Any]]:
        """Its JSON log lines (stderr), parsed."""
        return json_lines(self.err_path.read_text(errors="replace"))

    def events(self, name: str) -> list[dict[str, Any]]:
        """Its log lines whose event is ``name``."""
        return [line for line in self.logs() if line.get("event") == name]

    def signal(self, sig: signal.Signals) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def terminate(self) -> None:
        """SIGTERM, as systemd and ``kill`` send it."""
        self.signal(signal.SIGTERM)

    def interrupt(self) -> None:
        """SIGINT: Ctrl-C on a terminal (and what Python makes of NSSM's console Ctrl+C on Windows)."""
        self.signal(signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL: the OOM killer, a power cut as the broker sees it."""
        self.signal(signal.SIGKILL)

    async def wait(self, timeout: float = 120) -> int:
        """Its exit code, once it has ended (fails after ``timeout`` seconds)."""
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then its exit code."""
        self.terminate()
        return await self.wait(timeout)


Spawn = Callable[..., Awaitable[WorkerProcess]]
"""The ``spawn`` fixture: ``await spawn(settings, *run_args, **env)`` starts a :class:`WorkerProcess`."""


# --- private service instances (ops and fault tests) -----------------------------------------------------
# The shared RabbitMQ and PostgreSQL must never be stopped; a test that needs to stop a service starts a
# private instance of its own: its own port, data directory and (for RabbitMQ) node name, removed afterwards.


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: Sequence[str], *, timeout: float = 60, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip() or result.stdout}")
    return result.stdout


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PrivateRabbit:
    """A RabbitMQ node of a test's own (needs root and the Debian rabbitmq-server package; ~5 s to start).

    ``with PrivateRabbit() as rabbit:`` starts it; ``rabbit.url()`` is its AMQP URL (guest/guest, or a user
    made with :meth:`add_user`); :meth:`stop_app` / :meth:`start_app` take the broker down and up while the
    node keeps running (a broker restart as clients see it); leaving the block stops the node and deletes its
    files.
    """

    def __init__(self) -> None:
        self.node = f"lwt{uuid.uuid4().hex[:10]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lw-rabbit-"))
        self._pid: int | None = None

    def url(self, user: str = "guest", password: str = "guest") -> str:
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/"

    def ctl(self, *args: str, timeout: float = 60) -> str:
        return _run(["rabbitmqctl", "-n", self.node, *args], timeout=timeout)

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "plugins"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
        }

    def launch(self) -> None:
        """Start the node (its files written the first time) without waiting for it; see :meth:`await_up`."""
        if shutil.which("rabbitmq-server") is None or os.geteuid() != 0:
            raise RuntimeError("PrivateRabbit needs root and rabbitmq-server (apt-get install rabbitmq-server)")
        if not (self.dir / "rabbitmq.conf").exists():
            (self.dir / "rabbitmq.conf").write_text(
                f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
            )
            (self.dir / "plugins").write_text("[].\n")
            for sub in ("mnesia", "log"):
                (self.dir / sub).mkdir()
            _run(["chown", "-R", "rabbitmq:rabbitmq", str(self.dir)])
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "pid").unlink()
        _run(["rabbitmq-server", "-detached"], env=self._env())

    def await_up(self) -> None:
        """Wait for a launched node to run its broker (raises with the end of its log if it does not)."""
        try:
            self.ctl("wait", str(self.dir / "pid"), "--timeout", "90", timeout=120)
            self._pid = int((self.dir / "pid").read_text().strip())
        except Exception:
            logs = " | ".join(p.read_text(errors="replace")[-2000:] for p in (self.dir / "log").glob("*.log"))
            raise RuntimeError(f"private RabbitMQ node {self.node} did not start; its log: {logs[-3000:]}") from None

    def start(self) -> PrivateRabbit:
        try:
            self.launch()
            self.await_up()
        except Exception:
            self.close()
            raise
        return self

    def kill9(self) -> None:
        """``kill -9`` the node's Erlang VM (a crash, a power cut as its peers and clients see it)."""
        if self._pid is not None:
            os.kill(self._pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while _pid_alive(self._pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            self._pid = None

    def stop_node(self) -> None:
        """Stop the node gracefully (``rabbitmqctl stop``), waiting for its VM to exit."""
        pid = self._pid
        self.ctl("stop", timeout=120)
        while pid is not None and _pid_alive(pid):
            time.sleep(0.05)
        self._pid = None

    def add_user(self, user: str, password: str) -> None:
        self.ctl("add_user", user, password)
        self.ctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")

    def stop_app(self) -> None:
        """Stop the broker inside the node: connections drop, the port closes."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.ctl("await_startup", "--timeout", "60", timeout=90)

    def forget_consumers(self, queue: str, vhost: str = "/") -> int:
        """Remove every consumer of the classic queue ``queue`` inside the broker without telling their
        channels (what a broker that lost track of a consumer looks like to its client: the client still
        consumes, the broker sees no consumer and delivers nothing). Returns how many were removed."""
        script = (
            f'{{ok, Q}} = rabbit_amqqueue:lookup(rabbit_misc:r(<<"{vhost}">>, queue, <<"{queue}">>)), '
            "Pid = amqqueue:get_pid(Q), Cs = rabbit_amqqueue:consumers(Q), "
            '[gen_server2:call(Pid, {basic_cancel, element(1, C), element(2, C), undefined, <<"test">>},'
            " infinity) || C <- Cs], length(Cs)."
        )
        return int(self.ctl("eval", script).strip())

    def close_connections(self, reason: str = "test") -> None:
        """Close every client connection from the broker side (a network blip, as clients see it)."""
        self.ctl("close_all_connections", reason)

    def close(self, *, kill: bool = False) -> None:
        """Stop the node (if it runs; ``kill``: with -9, when its files go anyway) and delete its files."""
        if kill and self._pid is not None:
            self.kill9()
        else:
            with contextlib.suppress(Exception):
                self.ctl("stop", timeout=60)
        if self._pid is not None:
            deadline = time.monotonic() + 30
            while _pid_alive(self._pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_alive(self._pid):
                os.kill(self._pid, 9)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivateRabbit:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()


class PrivateRabbitCluster:
    """Three (``size``) private RabbitMQ nodes on loopback ports joined into one cluster, started in parallel.

    They share the Erlang cookie of the Debian package (``/var/lib/rabbitmq/.erlang.cookie``: the node
    scripts run as the ``rabbitmq`` user), so ``rabbitmqctl`` reaches each. The system broker on 5672/25672 is
    untouched. ``with PrivateRabbitCluster() as cluster:``; ``cluster.url()`` is every node's URL,
    comma-separated (what ``LEADWORKER_AMQP_URL`` takes); leaving the block stops the nodes and deletes their
    files.
    """

    def __init__(self, size: int = 3) -> None:
        self.nodes = [PrivateRabbit() for _ in range(size)]

    def url(self) -> str:
        return ",".join(node.url() for node in self.nodes)

    def start(self) -> PrivateRabbitCluster:
        from concurrent.futures import ThreadPoolExecutor

        try:
            with ThreadPoolExecutor(len(self.nodes)) as pool:
                list(pool.map(lambda node: (node.launch(), node.await_up()), self.nodes))
            seed = self.nodes[0].node
            for node in self.nodes[1:]:
                node.ctl("stop_app")
                node.ctl("join_cluster", seed, timeout=120)
                node.ctl("start_app", timeout=120)
            self.ctl("await_online_nodes", str(len(self.nodes)), "--timeout", "60", timeout=90)
        except Exception:
            self.close()
            raise
        return self

    def node_named(self, name: str) -> PrivateRabbit:
        return next(node for node in self.nodes if node.node == name)

    def running(self) -> list[PrivateRabbit]:
        return [node for node in self.nodes if node._pid is not None]

    def ctl(self, *args: str, timeout: float = 60) -> str:
        """``rabbitmqctl`` against a running node of the cluster."""
        return self.running()[0].ctl(*args, timeout=timeout)

    def leader_of(self, queue: str) -> PrivateRabbit:
        """The node leading the quorum queue ``queue`` now."""
        out = self.ctl("list_queues", "name", "leader", "--quiet", "--no-table-headers")
        for line in out.splitlines():
            name, _, leader = line.strip().partition("\t")
            if name == queue:
                return self.node_named(leader.strip())
        raise LookupError(f"queue {queue!r} not found in: {out!r}")

    def members_of(self, queue: str) -> list[str]:
        out = self.ctl("list_queues", "name", "members", "--quiet", "--no-table-headers")
        for line in out.splitlines():
            name, _, members = line.strip().partition("\t")
            if name == queue:
                return [m.strip(" []'\"") for m in members.split(",") if m.strip(" []'\"")]
        raise LookupError(f"queue {queue!r} not found in: {out!r}")

    def close(self) -> None:
        """Kill every node (their files are deleted: nothing to stop gracefully for) and delete the files."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.close(kill=True), self.nodes))

    def __enter__(self) -> PrivateRabbitCluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("PrivatePostgres needs the PostgreSQL server binaries (/usr/lib/postgresql/N/bin)")
    return found[-1].parent


class PrivatePostgres:
    """A PostgreSQL cluster of a test's own (needs root and the Debian postgresql package; ~1 s to start).

    With ``password``, TCP connections must authenticate (scram-sha-256) as ``postgres`` with it; without,
    they are trusted. :meth:`stop` / :meth:`start` take it down and up (an outage); leaving the ``with`` block
    stops it and deletes its files.
    """

    def __init__(self, password: str | None = None) -> None:
        self.password = password
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lw-postgres-"))
        self.data = self.dir / "data"
        self.bin = _postgres_bin()
        self.running = False

    def url(self, database: str = "postgres") -> str:
        auth = f"postgres:{self.password}" if self.password else "postgres"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def _as_postgres(self, *args: str, timeout: float = 60) -> str:
        return _run(["runuser", "-u", "postgres", "--", *args], timeout=timeout)

    def initialize(self) -> PrivatePostgres:
        if os.geteuid() != 0:
            raise RuntimeError("PrivatePostgres needs root (it runs initdb as the postgres user)")
        args = [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-N", "--auth-local=trust"]
        if self.password:
            pwfile = self.dir / "pw"
            pwfile.write_text(self.password + "\n")
            args += [f"--pwfile={pwfile}", "--auth-host=scram-sha-256"]
        else:
            args += ["--auth-host=trust"]
        _run(["chown", "-R", "postgres:postgres", str(self.dir)])
        self._as_postgres(*args)
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "pw").unlink()
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options, "-w", "start"
        )
        self.running = True

    def stop(self) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.running = False

    def close(self) -> None:
        if self.running:
            with contextlib.suppress(Exception):
                self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        try:
            self.initialize()
            self.start()
        except Exception:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class FakeClock:
    """Time that moves only when the code under test sleeps on it: ``clock()`` is now, ``await clock.sleep(s)``
    advances it (and records ``s`` in :attr:`sleeps`), letting other tasks run once."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        await asyncio.sleep(0)


# --- HTTP probes of a worker's metrics server ------------------------------------------------------------


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """``(status, body)`` of a GET (non-2xx statuses are returned, not raised)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape_metrics(url: str) -> dict[str, Any]:
    """``{family name: Metric}`` parsed from a Prometheus text exposition at ``url``."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = http_get(url)
    assert status == 200, (status, body[:300])
    return {family.name: family for family in text_string_to_metric_families(body)}


def sample_value(families: dict[str, Any], sample: str, **labels: str) -> float | None:
    """The value of ``sample`` (e.g. ``leadworker_deliveries_total``) with exactly these labels, if present."""
    family_name = sample
    for suffix in ("_total", "_count", "_sum", "_bucket"):
        if sample.endswith(suffix) and sample.removesuffix(suffix) in families:
            family_name = sample.removesuffix(suffix)
            break
    family = families.get(family_name)
    if family is None:
        return None
    for s in family.samples:
        if s.name == sample and s.labels == labels:
            return float(s.value)
    return None


class PrivatePgBouncer:
    """A PgBouncer of a test's own in front of a PostgreSQL server (needs root and the Debian pgbouncer
    package; starts in well under a second): ``pool_mode`` (transaction by default), a small pool, any user
    trusted. ``with PrivatePgBouncer(5432) as bouncer:``; :meth:`url` is a database through it; leaving the
    block stops it and deletes its files."""

    def __init__(self, server_port: int, *, pool_mode: str = "transaction", pool_size: int = 4) -> None:
        self.server_port = server_port
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="lw-pgbouncer-"))
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, database: str, user: str | None = None) -> str:
        return f"postgresql://{user + '@' if user else ''}127.0.0.1:{self.port}/{database}"

    def start(self) -> PrivatePgBouncer:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists() or os.geteuid() != 0:
            raise RuntimeError("PrivatePgBouncer needs root and pgbouncer (apt-get install pgbouncer)")
        users = ["postgres", "root"]
        (self.dir / "users.txt").write_text("".join(f'"{u}" ""\n' for u in users))
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.server_port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.dir / 'users.txt'}\n"
            f"pool_mode = {self.pool_mode}\ndefault_pool_size = {self.pool_size}\nmax_client_conn = 500\n"
            "ignore_startup_parameters = extra_float_digits\n"
            "server_login_retry = 1\nserver_connect_timeout = 3\nquery_wait_timeout = 30\n"
            f"logfile = {self.dir / 'log'}\npidfile = {self.dir / 'pid'}\n"
        )
        _run(["chown", "-R", "postgres:postgres", str(self.dir)])
        self._process = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", binary, str(self.dir / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not _reachable(f"postgresql://127.0.0.1:{self.port}/", self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "log").read_text(errors="replace") if (self.dir / "log").exists() else ""
                self.close()
                raise RuntimeError(f"private PgBouncer did not start: {log[-2000:]}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        path = self.dir / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            # runuser forwards SIGTERM to pgbouncer, which then stops at once
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivatePgBouncer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()
