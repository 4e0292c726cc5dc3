import pytest

from leadworker.config import Settings, mask_url, parse_resolve


def make(**kwargs: object) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[call-arg]


def test_env_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADWORKER_RETRY_BACKOFF", "1, 2,4")
    monkeypatch.setenv("LEADWORKER_PREFETCH", "7")
    monkeypatch.setenv("LEADWORKER_RESOLVE", "acme.test:127.0.0.1,v6.test:[::1]")
    cfg = make()
    assert cfg.retry_backoff == [1.0, 2.0, 4.0] and cfg.prefetch_for("scrape") == 7
    assert cfg.resolve == {"acme.test": "127.0.0.1", "v6.test": "::1"}
    assert make(prefetch=3).prefetch_for("normalize") == 3  # a flag beats the environment
    assert cfg.retry_delay(1) == 1.0 and cfg.retry_delay(9) == 4.0


def test_dotenv_file(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / ".env"
    path.write_text("LEADWORKER_QUEUE_PREFIX=staging.\nLEADWORKER_MAX_ATTEMPTS=9\n")
    cfg = Settings(_env_file=path)  # type: ignore[call-arg]
    assert cfg.queue_prefix == "staging." and cfg.max_attempts == 9


def test_defaults_per_stage() -> None:
    cfg = make()
    assert cfg.prefetch_for("scrape") == 16 and cfg.prefetch_for("score") == 64
    assert cfg.retry_backoff == [5, 30, 120, 600] and cfg.max_attempts == 5


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("retry_backoff", "soon", "comma-separated"),
        ("retry_backoff", "5,-1", "positive"),
        ("amqp_url", "http://x", "amqp://"),
        ("resolve", "acme.test", "host:address"),
        ("resolve", "acme.test:not-an-ip", "does not appear to be an IPv4 or IPv6 address"),
    ],
)
def test_bad_values_say_what_is_wrong(field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**{field: value})


def test_passwords_are_masked() -> None:
    assert mask_url("amqp://user:s3cret@broker:5672/vh") == "amqp://user:***@broker:5672/vh"
    assert mask_url("postgresql://127.0.0.1/db") == "postgresql://127.0.0.1/db"
    cfg = make(amqp_url="amqp://u:pw1@h/", database_url="postgresql://u:pw2@h/d", webhook_secret="pw3")
    text = repr(cfg) + str(cfg.public_view())
    assert "pw1" not in text and "pw2" not in text and "pw3" not in text


def test_parse_resolve_rejects_garbage() -> None:
    assert parse_resolve("") == {}
    with pytest.raises(ValueError):
        parse_resolve("a.test:1.2.3")


def test_job_timeout_must_stay_below_the_brokers_consumer_timeout() -> None:
    with pytest.raises(ValueError, match="consumer_timeout"):
        make(max_job_seconds=1800)
    assert make(max_job_seconds=3000, broker_consumer_timeout=3600).max_job_seconds == 3000


def test_every_setting_is_in_the_readme_table() -> None:
    """Every timing and knob is a documented setting: a field missing from the README's table fails here.
    A row may group variables that share a prefix (``LEADWORKER_DB_POOL_MIN``, ``_MAX``)."""
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `LEADWORKER_")]
    names: set[str] = set()
    for row in rows:
        cell = row.split("|")[1]
        written = [part.strip(" `") for part in cell.split(",")]
        first = written[0]
        names.add(first)
        stem = first.rsplit("_", 1)[0]
        names.update(stem + part if part.startswith("_") else part for part in written[1:])
    missing = [
        f"LEADWORKER_{field.upper()}" for field in Settings.model_fields if f"LEADWORKER_{field.upper()}" not in names
    ]
    assert not missing, missing
