"""``leadworker ARGS`` as it runs on Windows as far as signals go: on an event loop without
``add_signal_handler`` (Windows' loops raise NotImplementedError there), so that the worker's stop handlers take
their portable path (``signal.signal`` and a thread-safe hand-over), the one NSSM's console Ctrl+C reaches.

Usage: ``python tests/faults/windows_like_run.py run --stage scrape``. The fault tests send it real signals.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any


class NoSignalHandlersLoop(asyncio.SelectorEventLoop):
    """A real selector loop that, like Windows' loops, cannot install signal handlers."""

    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:
        raise NotImplementedError(f"no signal handlers on this loop ({signal.Signals(sig).name})")


def run_without_signal_handlers(main: Coroutine[Any, Any, Any], *, debug: bool | None = None) -> Any:
    """``asyncio.run`` on a :class:`NoSignalHandlersLoop`."""
    with asyncio.Runner(debug=debug, loop_factory=NoSignalHandlersLoop) as runner:
        return runner.run(main)


if __name__ == "__main__":
    asyncio.run = run_without_signal_handlers  # what leadworker.worker.main_sync calls
    from leadworker.cli import main

    main(sys.argv[1:])
