"""The systemd notify protocol (``sd_notify``) in plain Python: no libsystemd, no extra dependency.

systemd starts a ``Type=notify`` service with ``NOTIFY_SOCKET`` in its environment: a datagram socket, either
a path or, when it starts with ``@``, a name in the Linux abstract namespace. The service sends
newline-separated ``KEY=VALUE`` assignments to it:

- ``READY=1`` when start-up is complete (for leadworker: topology declared and consuming);
- ``WATCHDOG=1`` at least every ``WATCHDOG_USEC`` microseconds (``WatchdogSec=``) while healthy; systemd
  kills and restarts a service that stops pinging;
- ``STOPPING=1`` when it begins to shut down (draining);
- ``STATUS=...`` a line of text that ``systemctl status`` shows.

:meth:`SystemdNotifier.from_environment` removes these variables from ``os.environ`` (as ``sd_notify`` does
with ``unset_environment``), so that processes we start (Chromium, the Playwright driver, the worker processes
of ``--processes N``) do not talk to systemd in our name.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping, MutableMapping

import structlog

log = structlog.get_logger("leadworker.systemd")

_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def socket_address(value: str) -> str | None:
    """The ``AF_UNIX`` address of a ``NOTIFY_SOCKET`` value: a path, or ``@name`` for the abstract namespace.

    Returns ``None`` for anything else (systemd's ``vsock:`` addresses are not supported).
    """
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def watchdog_seconds(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """The watchdog timeout systemd expects us to honour, in seconds, or ``None`` if there is none.

    ``WATCHDOG_PID``, when present, names the process the watchdog is meant for; another process ignores it.
    """
    value = environ.get("WATCHDOG_USEC", "")
    if not value:
        return None
    owner = environ.get("WATCHDOG_PID")
    if owner and owner.isdigit() and int(owner) != (os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(value)
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


def notify(message: str, address: str) -> bool:
    """Send one notification datagram to ``address`` (see :func:`socket_address`). Never raises."""
    if not hasattr(socket, "AF_UNIX"):  # Windows: there is no systemd to talk to
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
        return True
    except OSError as exc:
        log.warning("systemd notification failed", error=str(exc), message=message.split("\n", 1)[0])
        return False


class SystemdNotifier:
    """Talks to the service manager that started us. Create it with :meth:`from_environment`."""

    def __init__(self, address: str, watchdog: float | None = None) -> None:
        self.address = address
        self.watchdog_timeout = watchdog
        """``WatchdogSec`` in seconds, or ``None``: then :meth:`run_watchdog` has nothing to do."""
        self._last_status: str | None = None

    @classmethod
    def from_environment(
        cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = True
    ) -> SystemdNotifier | None:
        """A notifier if ``NOTIFY_SOCKET`` is set, else ``None`` (not started by systemd, or on Windows).

        With ``unset`` (the default) the variables are removed from ``environ`` so children do not inherit them.
        """
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        watchdog = watchdog_seconds(env)
        if unset:
            for name in _VARIABLES:
                env.pop(name, None)
        address = socket_address(raw) if raw else None
        if address is None:
            if raw:
                log.warning("NOTIFY_SOCKET not understood; not notifying systemd", notify_socket=raw)
            return None
        return cls(address, watchdog)

    def send(self, *assignments: str) -> bool:
        return notify("\n".join(assignments), self.address)

    def ready(self, status: str | None = None) -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self, status: str = "draining in-flight deliveries") -> None:
        self.send("STOPPING=1", f"STATUS={status}")

    def status(self, text: str) -> None:
        """Set the status line (sent only when it changed)."""
        if text != self._last_status:
            self._last_status = text
            self.send(f"STATUS={text}")

    def ping(self) -> None:
        self.send("WATCHDOG=1")

    async def run_watchdog(self) -> None:
        """Ping every half watchdog timeout, from the event loop: a blocked loop stops the pings."""
        if self.watchdog_timeout is None:
            return
        period = self.watchdog_timeout / 2
        while True:
            self.ping()
            await asyncio.sleep(period)
