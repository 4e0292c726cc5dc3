"""The pure parts of ops: durations, memory, loop lag, sd_notify, readiness reports, multiprocess files."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client import values as prometheus_values

from leadworker.broker.topology import Topology
from leadworker.common.durations import format_duration, parse_duration
from leadworker.config import Settings
from leadworker.ops import multiproc
from leadworker.ops.metrics import Metrics
from leadworker.ops.readiness import Readiness
from leadworker.ops.runtime import LoopMonitor, resident_memory_bytes
from leadworker.ops.service import prime_metrics, readiness_report
from leadworker.ops.systemd import SystemdNotifier, notify, socket_address, watchdog_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("1h", 3600),
        ("1h30m", 5400),
        ("7d", 604800),
        ("2w", 1209600),
        ("1.5h", 5400),
        (" 2H ", 7200),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "1x", "1h 30m", "-5m", "0s", "1h-", "soon", "m1"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|longer than zero"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for seconds in (1, 59, 60, 3600, 5400, 90061, 604800):
        assert parse_duration(format_duration(seconds)) == seconds
    assert format_duration(5400) == "1h30m" and format_duration(0) == "0s"


def test_resident_memory_is_the_resident_set() -> None:
    before = resident_memory_bytes()
    assert before is not None and before > 1024 * 1024
    block = bytearray(64 * 1024 * 1024)  # zero-filled: every page touched
    after = resident_memory_bytes()
    assert after is not None and after - before > 48 * 1024 * 1024
    del block


def test_loop_monitor_keeps_the_worst_lag_of_its_window() -> None:
    metrics = Metrics()
    monitor = LoopMonitor(metrics, window=0.2)
    monitor.tick(1.5)
    monitor.tick(0.01)
    exported = metrics.registry.get_sample_value
    assert monitor.lag == 1.5 and exported("leadworker_event_loop_lag_seconds") == 1.5
    assert monitor.rss and exported("leadworker_resident_memory_bytes") == monitor.rss
    while monitor.lag == 1.5:  # the spike leaves the window
        time.sleep(0.05)
        monitor.tick(0.0)
    assert monitor.lag == 0.0


async def test_loop_monitor_sees_a_blocked_loop() -> None:
    monitor = LoopMonitor(None, interval=0.02)
    ticked = asyncio.Event()
    monitor.on_tick.append(ticked.set)
    task = asyncio.create_task(monitor.run())
    await asyncio.sleep(0.1)
    time.sleep(0.3)  # noqa: ASYNC251 - a handler that blocks the loop, on purpose
    ticked.clear()
    await ticked.wait()  # the first tick after the block
    task.cancel()
    assert monitor.lag >= 0.25


def test_socket_address_and_watchdog_environment() -> None:
    assert socket_address("@abc") == "\0abc"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("vsock:2:1234") is None
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_seconds({}) is None


def _datagram_socket(tmp_path: Path, abstract: bool) -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"lw-unit-{uuid.uuid4().hex[:8]}"
        sock.bind("\0" + name)
        value = "@" + name
    else:
        value = str(tmp_path / "notify.sock")
        sock.bind(value)
    sock.settimeout(5)
    return sock, value


@pytest.mark.parametrize("abstract", [True, False])
def test_notifier_speaks_to_path_and_abstract_sockets(tmp_path: Path, abstract: bool) -> None:
    sock, value = _datagram_socket(tmp_path, abstract)
    env = {"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid()), "KEEP": "1"}
    with sock:
        notifier = SystemdNotifier.from_environment(env)
        assert notifier is not None and notifier.watchdog_timeout == 2.0
        assert env == {"KEEP": "1"}  # children (Chromium, worker processes) must not notify in our name
        notifier.ready("consuming q")
        notifier.status("x")
        notifier.status("x")  # unchanged: not sent again
        notifier.ping()
        notifier.stopping()
        got = [sock.recv(4096).decode() for _ in range(4)]
    assert got == [
        "READY=1\nSTATUS=consuming q",
        "STATUS=x",
        "WATCHDOG=1",
        "STOPPING=1\nSTATUS=draining in-flight deliveries",
    ]


def test_notify_without_listener_does_not_raise(tmp_path: Path) -> None:
    assert notify("READY=1", str(tmp_path / "nobody.sock")) is False
    assert SystemdNotifier.from_environment({}) is None


async def test_watchdog_pings_stop_while_the_loop_is_blocked(tmp_path: Path) -> None:
    sock, value = _datagram_socket(tmp_path, abstract=True)
    sock.setblocking(False)
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": value, "WATCHDOG_USEC": "100000"})
    assert notifier is not None
    task = asyncio.create_task(notifier.run_watchdog())

    def drain() -> int:
        count = 0
        while True:
            try:
                sock.recv(64)
            except BlockingIOError:
                return count
            count += 1

    with sock:
        await asyncio.sleep(0.3)
        assert drain() >= 3  # every 50 ms while the loop runs
        time.sleep(0.5)  # noqa: ASYNC251 - the loop is blocked: ten pings due, none may be sent
        assert drain() == 0
        await asyncio.sleep(0.2)
        assert drain() >= 1
        task.cancel()


def test_readiness_report_names_what_is_missing() -> None:
    ok, body = readiness_report(Readiness(broker_connected=True, database_available=True, consuming=True))
    assert ok and body["problems"] == [] and body["ready"] is True
    ok, body = readiness_report(Readiness(broker_connected=False, database_available=True, consuming=False))
    assert not ok and body["problems"] == ["broker not connected", "not consuming"]
    assert body["checks"]["broker_connected"] is False
    ok, body = readiness_report(Readiness(True, True, True, stopping=True))
    assert not ok and body["problems"] == ["stopping"]


def test_prime_metrics_creates_the_series_at_zero() -> None:
    metrics = Metrics()
    topology = Topology.from_settings(Settings(_env_file=None, queue_prefix="p."))
    prime_metrics(metrics, topology, ["scrape"])
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in metrics.registry.collect()
        for s in family.samples
    }
    for outcome in ("ack", "retry", "dead", "requeued"):
        assert samples[("leadworker_deliveries_total", (("outcome", outcome), ("queue", "p.scrape_jobs")))] == 0
    assert samples[("leadworker_jobs_finished_total", (("status", "failed"),))] == 0
    assert samples[("leadworker_leads_total", (("result", "duplicate"),))] == 0
    assert samples[("leadworker_in_flight", (("stage", "scrape"),))] == 0


def test_aggregate_readiness() -> None:
    now = 1000.0

    def state(pid: int, ready: bool = True, age: float = 1.0) -> multiproc.WorkerState:
        return multiproc.WorkerState(
            pid=pid,
            worker=f"h:{pid}",
            ready=ready,
            problems=[] if ready else ["broker not connected"],
            updated=now - age,
        )

    assert multiproc.aggregate_readiness([state(1), state(2)], expected=2, now=now)[0]
    assert multiproc.aggregate_readiness([state(1)], now=now)[0]
    ready, body = multiproc.aggregate_readiness([], now=now)
    assert not ready and body["problems"] == ["0 of 1 worker processes reporting"]
    ready, body = multiproc.aggregate_readiness([state(1), state(2, ready=False)], expected=2, now=now)
    assert not ready and body["problems"] == ["worker 2: broker not connected"]
    ready, body = multiproc.aggregate_readiness([state(1), state(2, age=60)], expected=2, now=now)
    assert not ready and body["problems"] == ["worker 2: no report for 60 s"]
    ready, body = multiproc.aggregate_readiness([state(1)], expected=2, now=now)
    assert not ready and body["problems"] == ["1 of 2 worker processes reporting"]


def test_state_files_round_trip_and_cleanup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    leftovers = [tmp_path / "counter_1.db", tmp_path / "gauge_livesum_1.db", tmp_path / "worker_1.json"]
    for path in leftovers:
        path.write_text("old")
    (tmp_path / "keep.txt").write_text("not ours")
    monkeypatch.setattr(prometheus_values, "ValueClass", prometheus_values.ValueClass)
    monkeypatch.delenv(multiproc.ENV, raising=False)
    monkeypatch.setenv(multiproc.ENV, "")
    assert multiproc.prepare_multiprocess_dir(tmp_path) == tmp_path
    assert os.environ[multiproc.ENV] == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    assert getattr(prometheus_values.ValueClass, "_multiprocess", False)

    writer = multiproc.WorkerStateFile(tmp_path, pid=4242)
    writer.write("h:4242", False, {"consuming": False}, ["not consuming"])
    (tmp_path / "worker_7.json").write_text("{half a fi")  # unreadable: skipped
    states = multiproc.read_worker_states(tmp_path)
    assert [(s.pid, s.ready, s.problems) for s in states] == [(4242, False, ["not consuming"])]
    multiproc.child_exited(4242, tmp_path)
    assert not writer.path.exists()


def test_heap_freezer_freezes_at_start_and_again_only_after_new_imports() -> None:
    import gc
    import sys
    import types

    from leadworker.ops.runtime import HeapFreezer

    freezer = HeapFreezer()
    try:
        assert freezer.freeze_if_grown() is True
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert freezer.freeze_if_grown() is False  # nothing imported since
        sys.modules["leadworker_test_lazy_module"] = types.ModuleType("leadworker_test_lazy_module")
        kept = [[] for _ in range(1000)]  # live objects made after the first freeze
        assert freezer.freeze_if_grown() is True
        assert gc.get_freeze_count() >= frozen + len(kept)
    finally:
        sys.modules.pop("leadworker_test_lazy_module", None)
        gc.unfreeze()
