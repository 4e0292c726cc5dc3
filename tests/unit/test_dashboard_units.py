"""The dashboard's pure parts: which URLs become links, where a sign-in may send the browser back to, how the
submit form's fields and the API's field paths meet, and the geometry of the charts."""

from __future__ import annotations

import datetime as dt

import pytest

from leadworker.dashboard.charts import HEIGHT, success_chart, throughput_chart
from leadworker.dashboard.job_form import _body, _form_field, typed_values
from leadworker.dashboard.rendering import http_link, query, render_string
from leadworker.dashboard.signin import safe_next
from leadworker.store.job_stats import Bucket


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://acme.example/contact", "https://acme.example/contact"),
        ("http://acme.example:8080/", "http://acme.example:8080/"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("//evil.example/", None),
        ("/relative", None),
        ("http:///nohost", None),
        ("mailto:a@b.example", None),
        (None, None),
        (42, None),
    ],
)
def test_only_absolute_http_urls_become_links(url: object, link: str | None) -> None:
    assert http_link(url) == link


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/jobs?status=failed", "/jobs?status=failed"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("jobs", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("/jobs?q=a b", "/"),
    ],
)
def test_sign_in_returns_only_to_a_path_of_this_site(target: str, safe: str) -> None:
    assert safe_next(target) == safe


def test_templates_escape_what_a_site_wrote() -> None:
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    out = render_string("{{ name }} {{ url | http_link }}", name=hostile, url="javascript:alert(3)")
    assert "<script>" not in out and "<img" not in out and "&lt;script&gt;" in out and "None" in out


def test_form_fields_meet_the_api_field_paths() -> None:
    assert _form_field("targets.1", "not a URL") == ("targets", "line 2: not a URL")
    assert _form_field("keywords.0", "too long") == ("keywords", "item 1: too long")
    assert _form_field("max_pages", "at least 1") == ("max_pages", "at least 1")
    assert _form_field("body", "the website source needs at least one target URL in 'targets'")[0] == "targets"
    assert _form_field("body", "a directory source needs 'search_query'")[0] == "search_query"
    typed = typed_values(
        {"targets": [" https://a.example/ \r\n\r\nhttps://b.example/"], "keywords": ["a, b ,"], "max_pages": ["7"]}
    )
    body = _body(typed)
    assert body["targets"] == ["https://a.example/", "https://b.example/"]
    assert body["keywords"] == ["a", "b"] and body["max_pages"] == "7" and body["source_types"] == ["website"]
    assert "geography" not in body  # left out, not sent as an empty string


def test_query_keeps_filters_and_drops_empty_ones() -> None:
    assert query({"status": "failed", "user_id": ""}, cursor="abc") == "?status=failed&cursor=abc"
    assert query({}) == "?"


def _buckets(*counts: tuple[int, int]) -> list[Bucket]:
    start = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    return [Bucket(start + dt.timedelta(minutes=n), c, f) for n, (c, f) in enumerate(counts)]


def test_throughput_bars_stack_completed_and_failed_per_minute() -> None:
    chart = throughput_chart("t", _buckets((3, 1), (0, 0), (4, 0)), 60, 1)
    assert [(b.kind, b.label.split(": ")[1]) for b in chart.bars] == [
        ("completed", "3 completed (3/min)"),
        ("failed", "1 failed (1/min)"),
        ("completed", "4 completed (4/min)"),
    ]
    completed, failed, last = chart.bars
    assert failed.y + failed.height == pytest.approx(completed.y)  # stacked on top
    assert last.height == pytest.approx(completed.height + failed.height)  # both are 4 a minute
    assert all(0 <= b.y <= HEIGHT for b in chart.bars)
    assert [t.label for t in chart.x_ticks] == ["12:00", "12:01", "12:02"]
    assert "7 completed, 1 failed" in chart.summary


def test_success_rate_skips_buckets_where_nothing_finished() -> None:
    chart = success_chart("s", _buckets((3, 1), (0, 0), (2, 0)), 1)
    assert len(chart.dots) == 2 and len(chart.line.split()) == 2
    assert chart.dots[0][2].endswith("75 % of 4 succeeded")
    assert "83.3 % of 6" in chart.summary
    assert success_chart("s", _buckets((0, 0)), 1).summary == "s: no job finished"
