from pathlib import Path

import pytest

from leadworker.scrape import browser
from leadworker.scrape.browser import BrowserUnavailable, find_executable


def executable(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_configured_executable_wins_and_must_exist(tmp_path: Path) -> None:
    chrome = executable(tmp_path / "my-chrome")
    assert find_executable(chrome, playwright_path=executable(tmp_path / "pw" / "chrome")) == chrome
    with pytest.raises(BrowserUnavailable, match="LEADWORKER_BROWSER_EXECUTABLE='/nowhere/chrome'"):
        find_executable("/nowhere/chrome")


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "ms-playwright"))
    debian = [str(tmp_path / "usr" / "chromium-headless-shell"), str(tmp_path / "usr" / "chromium")]
    monkeypatch.setattr(browser, "DEBIAN_EXECUTABLES", tuple(debian))
    with pytest.raises(BrowserUnavailable, match="no Chromium found"):
        find_executable(None)
    executable(Path(debian[1]))
    assert find_executable(None) == debian[1]
    executable(Path(debian[0]))
    assert find_executable(None) == debian[0]
    shell = executable(tmp_path / "ms-playwright" / "chromium_headless_shell-1200" / "chrome-linux" / "headless_shell")
    assert find_executable(None) == shell
    own = executable(tmp_path / "pw-own" / "chrome")
    assert find_executable(None, playwright_path=own) == own
    assert find_executable(None, playwright_path=str(tmp_path / "not-downloaded")) == shell
