"""Counting the Chromium processes a test started: each test marks its environment, Chromium inherits it."""

from __future__ import annotations

import os

MARK_VARIABLE = "LW_TEST_BROWSER_MARK"
"""Not a LEADWORKER_ variable: support.cli_env passes it on to worker subprocesses."""


def chromium_processes(mark: str) -> list[int]:
    """PIDs of live Chromium processes whose environment carries ``mark`` (Linux /proc)."""
    needle = f"{MARK_VARIABLE}={mark}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm", "rb") as handle:
                comm = handle.read().decode(errors="replace").lower()
            if "chrom" not in comm and "headless" not in comm:
                continue
            with open(f"/proc/{name}/stat", "rb") as handle:
                if handle.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    continue  # a zombie is gone, only not yet reaped
            with open(f"/proc/{name}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            continue
    return found
