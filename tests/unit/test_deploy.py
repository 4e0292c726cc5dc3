"""The deployment files under deploy/: they refer to what leadworker really exports and accepts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadworker.ops.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "leadworker@.service"
_OUR_NAME = re.compile(r"\bleadworker_[a-z0-9_]+")
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
    "summary": ("_sum", "_count", ""),
}


def exported_sample_names() -> set[str]:
    """Every sample name a worker's /metrics can contain."""
    names = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    doc = json.loads((DEPLOY / "grafana" / "leadworker.json").read_text())
    exprs = [t["expr"] for panel in doc["panels"] for t in panel.get("targets", [])]
    exprs += [v["definition"] for v in doc["templating"]["list"] if "definition" in v]
    return exprs


def _balanced(expr: str) -> bool:
    stack = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for ch in re.sub(r'"[^"]*"', '""', expr):
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return False
    return not stack


def test_alerts_and_dashboard_use_only_exported_metrics() -> None:
    exported = exported_sample_names()
    exprs = [rule["expr"] for rule in alert_rules()] + dashboard_exprs()
    used = {name for expr in exprs for name in _OUR_NAME.findall(expr)}
    assert used, "the files should use leadworker's own metrics"
    assert used <= exported, f"not exported by the worker: {sorted(used - exported)}"
    # Everything else they reference is RabbitMQ's plugin or Prometheus itself, and the files say so.
    foreign = {n for expr in exprs for n in re.findall(r"\b(rabbitmq_[a-z_]+)", expr)}
    assert foreign <= {"rabbitmq_queue_messages_ready", "rabbitmq_queue_consumers", "rabbitmq_queue_messages"}
    assert "rabbitmq_prometheus" in (DEPLOY / "prometheus" / "alerts.yml").read_text()
    assert "rabbitmq_prometheus" in (DEPLOY / "grafana" / "leadworker.json").read_text()
    for expr in exprs:
        assert _balanced(expr), expr


def test_alerts_cover_the_operator_questions() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    for name in (
        "LeadworkerQueueBackingUp",
        "LeadworkerDeadLettersGrowing",
        "LeadworkerNoConsumer",
        "LeadworkerDown",
        "LeadworkerRetryRateHigh",
        "LeadworkerScheduleNotFiring",
    ):
        assert name in rules, name
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_dashboard_panels_cover_throughput_latency_backlog_failures_memory() -> None:
    doc = json.loads((DEPLOY / "grafana" / "leadworker.json").read_text())
    rows = [p["title"] for p in doc["panels"] if p["type"] == "row"]
    assert rows == ["Throughput", "Latency", "Backlog", "Failures", "Process"]
    text = json.dumps(doc)
    for needle in (
        "leadworker_deliveries_total",
        "leadworker_handler_duration_seconds_bucket",
        "rabbitmq_queue_messages_ready",
        "leadworker_dead_letters_total",
        "leadworker_resident_memory_bytes",
    ):
        assert needle in text
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit_has_the_service_contract() -> None:
    s = unit_settings()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["main"]
    assert s["Restart"] == ["on-failure"]
    assert int(s["WatchdogSec"][0]) >= 10
    assert s["KillMode"] == ["mixed"] and s["KillSignal"] == ["SIGTERM"]
    from leadworker.config import Settings

    grace = Settings.model_fields["shutdown_grace"].default
    assert int(s["TimeoutStopSec"][0]) > grace
    env = (DEPLOY / "systemd" / "leadworker.env").read_text()
    assert f"LEADWORKER_SHUTDOWN_GRACE={int(grace)}" in env
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
    }.items():
        assert s[key] == [value], key
    for key in ("StateDirectory", "CacheDirectory", "RuntimeDirectory"):
        assert s[key] == ["leadworker/%i"]
    assert "/etc/leadworker/leadworker.env" in s["EnvironmentFile"]
    assert s["WantedBy"] == ["multi-user.target"]


def test_systemd_instance_port_and_stages_as_the_shell_computes_them(tmp_path: Path) -> None:
    """Run the unit's ExecStart line the way systemd would (``$$`` → ``$``, ``%i`` → the instance)."""
    (exec_start,) = unit_settings()["ExecStart"]
    match = re.fullmatch(r"/bin/sh -c '(.*)'", exec_start)
    assert match, exec_start
    script = match.group(1).replace("$$", "$").replace("%i", "3")
    assert "exec /opt/leadworker/venv/bin/leadworker run " in script
    script = script.replace("/opt/leadworker/venv/bin/leadworker", "printf '%s\\n'")
    out = subprocess.run(
        ["/bin/sh", "-c", script],
        env={"METRICS_PORT_BASE": "9463", "WORKER_STAGES": "scrape"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["run", "--stage", "scrape", "--metrics-port", "9466"]
    from typer.testing import CliRunner

    from leadworker.cli import app

    help_text = CliRunner().invoke(app, ["run", "--help"]).output
    assert "--stage" in help_text and "--metrics-port" in help_text


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` must accept the unit without a single warning (where it is installed)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here: the unit was not verified (apt-get install systemd)")
    shutil.copy(UNIT, tmp_path / UNIT.name)
    bad = UNIT.read_text().replace("KillMode=mixed", "KillMode=sometimes")
    (tmp_path / "broken@.service").write_text(bad)

    def verify(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["systemd-analyze", "verify", str(tmp_path / name)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )

    for name in ("leadworker@.service", "leadworker@1.service"):
        result = verify(name)
        assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stderr
    # The check is real: the same file with one bad value is reported.
    assert "kill mode" in verify("broken@1.service").stderr


def test_nssm_scripts() -> None:
    install = (DEPLOY / "nssm" / "install.ps1").read_text()
    uninstall = (DEPLOY / "nssm" / "uninstall.ps1").read_text()
    for needle in (
        '$parameters = "run --stage $Stages --metrics-port $port"',
        "AppParameters $parameters",
        '$parameters = "api --port $ApiPort"',
        "[switch] $Api",
        "AppStopMethodSkip 6",
        "AppStopMethodConsole $stopWaitMs",
        "$stopWaitMs = ($ShutdownGraceSeconds + $StopMarginSeconds) * 1000",
        "AppStdout",
        "AppStderr",
        "AppRotateFiles 1",
        "AppRotateOnline 1",
        "AppRotateBytes",
        "AppRestartDelay $RestartDelayMs",
        "AppExit Default Restart",
        "AppEnvironmentExtra @environment",
        "AppKillProcessTree 1",
    ):
        assert needle in install, needle
    from leadworker.config import Settings

    grace = Settings.model_fields["shutdown_grace"].default
    defaults = dict(re.findall(r"\[int\] \$(\w+) = (\d+)", install))
    assert int(defaults["ShutdownGraceSeconds"]) == grace and int(defaults["StopMarginSeconds"]) > 0
    assert "nssm" in uninstall.lower() and "remove $name confirm" in uninstall
    for script in (install, uninstall):
        assert script.count("{") == script.count("}") and script.count("(") == script.count(")")
        # "$name:" would be a drive-qualified variable in PowerShell; it must be written "${name}:".
        assert not re.search(r'"[^"]*\$[A-Za-z_]\w*:[^"]*"', script.replace("${", "")), "unbraced $var: in a string"


def test_api_service_files() -> None:
    """The HTTP API's systemd unit and compose service run `leadworker api` and stop it with SIGTERM."""
    unit = (DEPLOY / "systemd" / "leadworker-api.service").read_text()
    assert "ExecStart=/opt/leadworker/venv/bin/leadworker api" in unit and "KillSignal=SIGTERM" in unit
    api = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["api"]
    assert api["command"][:1] == ["api"] and "/readyz" in " ".join(api["healthcheck"]["test"])


def test_compose_file() -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = doc["services"]
    assert services["rabbitmq"]["image"].endswith("-management")
    assert services["postgres"]["image"].startswith("postgres:")
    worker = services["worker"]
    assert worker["command"][:1] == ["run"] and worker["deploy"]["replicas"] >= 2
    assert int(worker["stop_grace_period"].rstrip("s")) > int(worker["environment"]["LEADWORKER_SHUTDOWN_GRACE"])
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    build = services["migrate"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (DEPLOY / "Dockerfile").resolve()
    assert (DEPLOY / "rabbitmq" / "enabled_plugins").read_text().strip() == "[rabbitmq_management,rabbitmq_prometheus]."
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["tini", "--", "leadworker"]' in dockerfile and "chromium-headless-shell" in dockerfile
