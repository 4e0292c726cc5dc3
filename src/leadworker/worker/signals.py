"""Stop signals: SIGTERM/SIGINT, and SIGBREAK (the console stop NSSM sends on Windows)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any


def install_stop_handlers(loop: asyncio.AbstractEventLoop, stop: Callable[[str], None]) -> Callable[[], None]:
    """Route SIGTERM/SIGINT (and SIGBREAK, the console stop NSSM sends on Windows) to ``stop``.

    Uses ``loop.add_signal_handler`` where the loop supports it, else ``signal.signal`` with a thread-safe
    hand-over (Windows, where asyncio has no signal handlers). Returns a function that removes them.
    """
    names = ["SIGTERM", "SIGINT", "SIGBREAK"]
    signals = [getattr(signal, n) for n in names if hasattr(signal, n)]
    installed: list[Any] = []
    try:
        for sig in signals:
            loop.add_signal_handler(sig, stop, sig.name)
            installed.append(sig)
    except (NotImplementedError, RuntimeError):
        for sig in installed:
            loop.remove_signal_handler(sig)
        previous = {}
        for sig in signals:

            def handler(signum: int, _frame: Any) -> None:
                loop.call_soon_threadsafe(stop, signal.Signals(signum).name)

            previous[sig] = signal.signal(sig, handler)

        def restore_portable() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore_portable

    def restore() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return restore
