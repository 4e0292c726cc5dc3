"""Finding Chromium without launching it, and proving that it runs (``leadworker doctor``, the worker's start)."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from leadworker.config import Settings
from leadworker.scrape import chromium
from leadworker.scrape.chromium import INSTALL_HINT, check_chromium, locate_chromium, warn_if_missing


def script(path: Path, body: str) -> str:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


async def test_a_chromium_that_runs_is_found_with_its_version(tmp_path: Path) -> None:
    exe = script(tmp_path / "chrome", 'echo "Chromium 156.0.1"')
    found = await check_chromium(Settings(browser_executable=exe))
    assert (found.ok, found.executable, found.version) == (True, exe, "Chromium 156.0.1")


async def test_a_file_that_does_not_run_is_no_browser(tmp_path: Path) -> None:
    exe = script(tmp_path / "chrome", 'echo "error while loading shared libraries: libnss3.so" >&2; exit 127')
    found = await check_chromium(Settings(browser_executable=exe))
    assert not found.ok and "libnss3.so" in (found.problem or "")


async def test_no_chromium_says_so(tmp_path: Path) -> None:
    found = await check_chromium(Settings(browser_executable=str(tmp_path / "missing")))
    assert not found.ok and found.executable is None and "LEADWORKER_BROWSER_EXECUTABLE" in (found.problem or "")
    assert "apt-get install -y chromium-headless-shell" in INSTALL_HINT


def test_playwrights_own_download_is_found_without_starting_playwright(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    monkeypatch.setattr("leadworker.scrape.browser.DEBIAN_EXECUTABLES", ())
    assert locate_chromium(Settings()).executable is None
    (tmp_path / "chromium-1200" / "chrome-linux").mkdir(parents=True)
    exe = script(tmp_path / "chromium-1200" / "chrome-linux" / "chrome", "true")
    assert locate_chromium(Settings()).executable == exe


def test_the_warning_is_logged_once_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chromium, "_WARNED", set())
    settings = Settings(browser_executable=str(tmp_path / "missing"))
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            assert not warn_if_missing(settings).ok
    assert [entry["log_level"] for entry in logs if entry["event"].startswith("no browser")] == ["warning"]
