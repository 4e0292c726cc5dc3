import time
import uuid
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from leadworker.config import Settings
from leadworker.contracts import ScrapeJob
from leadworker.errors import PermanentError
from leadworker.scrape.directory import Recipe, available_recipes, find_recipe, load_recipe_file, read_fields


def settings(recipes_dir: Path | None = None) -> Settings:
    return Settings(_env_file=None, recipes_dir=recipes_dir)  # type: ignore[call-arg]


def test_bundled_recipe_loads_and_fills_its_template() -> None:
    recipe = find_recipe("demo-directory", settings())
    job = ScrapeJob(
        job_id=uuid.uuid4(),
        source_types=["directory:demo-directory"],
        search_query="solar & wind",
        geography="Hamburg, Germany",
    )
    assert recipe.search_url_for(job) == "http://bizdirectory.test/search?q=solar+%26+wind&where=Hamburg%2C+Germany"
    assert recipe.search_url_for(job, "http://127.0.0.1:8080").startswith("http://127.0.0.1:8080/search?")
    assert recipe.fields["website"].attribute == "href" and recipe.fields["website"].selector == "a.website"
    assert recipe.detail_fields["emails"].attribute == "href" and recipe.detail_fields["emails"].all
    assert "demo-directory" in available_recipes(settings())


def test_recipes_dir_comes_first_and_json_works(tmp_path: Path) -> None:
    (tmp_path / "demo-directory.json").write_text(
        '{"search_url": "https://dir.test/?q={query}", "results": ".r", "fields": {"company_name": "h3"}}'
    )
    recipe = find_recipe("demo-directory", settings(tmp_path))
    assert recipe.search_url == "https://dir.test/?q={query}" and recipe.name == "demo-directory"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("search_url: x\nresults: .r\nfields: {company_name: h3}", "absolute http(s) URL"),
        (
            "search_url: 'https://d.test/?q={query}&p={page}'\nresults: .r\nfields: {company_name: h3}",
            "unknown placeholders ['page']",
        ),
        ("search_url: 'https://d.test/'\nresults: .r\nfields: {telefax: h3}", "fields.telefax"),
        ("search_url: 'https://d.test/'\nresults: '[[['\nfields: {company_name: h3}", "not a CSS selector"),
        ("search_url: 'https://d.test/'\nresults: .r\nfields: {company_name: h3}\nmax_pages: 0", "max_pages"),
        (
            "search_url: 'https://d.test/'\nresults: .r\nfields: {company_name: h3}\nfollow_websites: true",
            "follow_websites: Extra inputs are not permitted",
        ),
        (
            "search_url: 'https://d.test/'\nresults: .r\nfields: {company_name: h3}\ndetail_fields: {emails: a}",
            "detail_fields need a detail_link",
        ),
        ("search_url: 'https://d.test/'\n  results: [", "not YAML"),
        ("- just\n- a list", "expected a mapping"),
        ("search_url: '{base_url}/s'\nresults: .r\nfields: {company_name: h3}", "has no base_url"),
        (
            "search_url: 'https://d.test/'\nresults: .r\nfields: {company_name: {selector: h3, pattern: '('}}",
            "not a regular expression",
        ),
        (
            "search_url: 'https://d.test/'\nresults: .r\nfields: {company_name: {selector: h3, pattern: '"
            + "a" * 501
            + "'}}",
            "pattern is 501 characters, over the limit of 500",
        ),
    ],
)
def test_invalid_recipes_get_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(PermanentError) as caught:
        load_recipe_file(path)
    assert caught.value.kind == "invalid_recipe"
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert str(path) in str(caught.value)


def test_unknown_recipe_names_the_available_ones() -> None:
    with pytest.raises(PermanentError, match=r"no directory recipe named 'nope'.*available: .*demo-directory") as c:
        find_recipe("nope", settings())
    assert c.value.kind == "unknown_source"


def test_fields_are_read_with_evidence() -> None:
    recipe = Recipe.model_validate(
        {
            "name": "t",
            "search_url": "https://d.test/",
            "results": ".r",
            "fields": {
                "company_name": "h3",
                "website": "a.w::attr(href)",
                "phones": {"selector": ".t", "all": True},
                "emails": "a.m::attr(href)",
                "categories": {"selector": "li", "all": True},
                "postal_code": {"selector": ".a", "pattern": r"(\d{5})"},
            },
        }
    )
    card = LexborHTMLParser("""<div class="r"><h3> Nordlicht  Solar </h3><a class="w" href="/go/nordlicht">w</a>
      <span class="t">040 30708090</span><span class="t">+49 40 30708099</span>
      <a class="m" href="mailto:Info@Nordlicht.test?subject=x">mail</a><li>Solar</li><li>PV</li>
      <p class="a">Große Elbstraße 145, 22767 Hamburg</p></div>""").css_first(".r")
    data: dict[str, object] = {}
    evidence: dict[str, str] = {}
    read_fields(card, recipe.fields, "https://d.test/results?page=2", "DE", data, evidence)
    assert data == {
        "company_name": "Nordlicht Solar",
        "website": "https://d.test/go/nordlicht",
        "phones": ["+494030708090", "+494030708099"],
        "emails": ["info@nordlicht.test"],
        "categories": ["Solar", "PV"],
        "postal_code": "22767",
    }
    assert evidence["info@nordlicht.test"] == evidence["+494030708090"] == "https://d.test/results?page=2"


def _hostile_cards(count: int, text: str) -> list[object]:
    html = "".join(f'<div class="r"><h3>Firm {i}</h3><p class="a">{text}</p></div>' for i in range(count))
    return list(LexborHTMLParser(html).css(".r"))


def test_a_backtracking_pattern_on_hostile_text_is_cut_short() -> None:
    """``(a|aa)+c`` on 34 a's takes seconds with ``re``; a recipe pattern gets 50 ms, then matches nothing."""
    recipe = Recipe.model_validate(
        {
            "name": "t",
            "search_url": "https://d.test/",
            "results": ".r",
            "fields": {"company_name": "h3", "postal_code": {"selector": ".a", "pattern": r"(a|aa)+c"}},
        }
    )
    (card,) = _hostile_cards(1, "a" * 34)
    data: dict[str, object] = {}
    started = time.perf_counter()
    read_fields(card, recipe.fields, "https://d.test/", "DE", data, {})
    assert time.perf_counter() - started < 0.5
    assert data == {"company_name": "Firm 0"}


def test_patterns_of_one_run_share_a_time_budget() -> None:
    from leadworker.scrape.patterns import RUN_SECONDS, PatternClock

    recipe = Recipe.model_validate(
        {
            "name": "t",
            "search_url": "https://d.test/",
            "results": ".r",
            "fields": {
                "company_name": {"selector": "h3", "pattern": r"Firm (\d+)"},
                "postal_code": {"selector": ".a", "pattern": r"(a|aa)+c"},
            },
        }
    )
    clock = PatternClock(recipe="t")
    started = time.perf_counter()
    names = []
    for card in _hostile_cards(60, "a" * 40):
        data: dict[str, object] = {}
        read_fields(card, recipe.fields, "https://d.test/", "DE", data, {}, clock)
        names.append(data.get("company_name"))
    assert time.perf_counter() - started < RUN_SECONDS + 0.5
    assert clock.exhausted and clock.timeouts >= 1 and clock.skipped > 0
    assert names[0] == "0" and names[-1] is None  # good patterns worked until the time was spent


def test_the_readme_recipe_reference_is_a_valid_recipe_with_every_key() -> None:
    """The README's "every key" example loads, and names every key a recipe has."""
    import re
    from pathlib import Path

    import yaml

    from leadworker.scrape.directory import Recipe

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"Every key, with an example:\n\n```yaml\n(.*?)```", readme, re.DOTALL)
    assert block is not None
    data = yaml.safe_load(block.group(1))
    recipe = Recipe.model_validate(data)
    assert set(data) == set(Recipe.model_fields)
    assert recipe.render == "auto" and recipe.results_json is not None and len(recipe.actions) == 4
    assert recipe.actions[3].each and recipe.actions[3].max == 50


def test_actions_are_one_step_each_and_need_the_browser() -> None:
    import uuid

    import pytest
    from pydantic import ValidationError

    from leadworker.config import Settings
    from leadworker.contracts import ScrapeJob
    from leadworker.errors import PermanentError
    from leadworker.scrape.directory import DirectoryRun, Recipe
    from leadworker.scrape.fetch import StaticFetcher
    from leadworker.scrape.guard import NetworkGuard

    base = {"search_url": "https://x.example/s?q={query}", "results": ".r", "fields": {"company_name": "h2"}}
    with pytest.raises(ValidationError, match="exactly one of scroll, click or wait_for"):
        Recipe.model_validate({**base, "actions": [{"scroll": ".pane", "click": ".more"}]})
    with pytest.raises(ValidationError, match="not a CSS selector"):
        Recipe.model_validate({**base, "actions": [{"click": "[[["}]})
    recipe = Recipe.model_validate({**base, "name": "r", "actions": [{"click": ".more"}]})
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    fetcher = StaticFetcher(settings, NetworkGuard(allow_private=False))
    job = ScrapeJob(job_id=uuid.uuid4(), source_types=["directory:r"], search_query="q", render="static")

    async def nothing() -> None:
        return None

    with pytest.raises(PermanentError, match="has actions, which need the browser") as refused:
        DirectoryRun(recipe, job, fetcher, settings, nothing)
    assert refused.value.kind == "invalid_recipe"
