import json
import time
import uuid

import pytest

from leadworker.contracts import LeadRecord, ScrapeJob, decode_scrape_job, job_id_hint
from leadworker.errors import InvalidMessage, PermanentError

LIMIT = 1024 * 1024
MAX_GLOBS, MAX_GLOB_LENGTH, MAX_GLOB_WILDCARDS = 50, 200, 20


def body(**fields: object) -> bytes:
    return json.dumps({"job_id": str(uuid.uuid4()), "targets": ["https://acme.com/"], **fields}).encode()


def test_valid_job_round_trips() -> None:
    job = decode_scrape_job(body(keywords=["plumbing"], render="static"), LIMIT)
    assert job.version == 1 and job.source_types == ["website"] and job.max_pages == 20
    assert ScrapeJob.model_validate_json(job.model_dump_json()) == job


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{oops", "not JSON"),
        (b"[1, 2]", "JSON list, expected an object"),
        (b"x" * (LIMIT + 1), "over the limit"),
        (b"[" * 100_000, "nested deeper than 32 levels"),
        (b'{"a": ' * 5_000 + b"1" + b"}" * 5_000, "nested deeper than 32 levels"),
        (body(pad=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]), "nested deeper than"),
        (b'{"max_pages": ' + b"9" * 5_000 + b"}", "integer string conversion"),
        (b'{"max_pages": NaN}', "NaN is not a JSON number"),
        (b'{"max_pages": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"max_pages": 1e999}', "1e999 is out of range"),
        (body(user_id="a\x00b"), "user_id: text contains a NUL character"),
        (body(user_id="\ud800"), "user_id: text contains a lone surrogate"),
        (
            body(source_types=["inline"], leads=[{"company_name": "A", "crm": {"note": "\udfff"}}]),
            "leads.0.crm.note: text contains a lone surrogate",
        ),
        (
            body(source_types=["inline"], leads=[{"company_name": "A", "crm": 0}]).replace(b": 0}", b": 1e999}"),
            "1e999 is out of range",
        ),
    ],
)
def test_undecodable_bodies_are_invalid(raw: bytes, expected: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        decode_scrape_job(raw, LIMIT)
    assert expected in str(caught.value)


def test_paired_surrogates_and_escaped_backslashes_are_fine() -> None:
    job = decode_scrape_job(body(user_id="smile \U0001f600", industry="C:\\u0000 is a path"), LIMIT)
    assert job.user_id == "smile \U0001f600" and job.industry == "C:\\u0000 is a path"


def test_imported_attributes_must_be_storable() -> None:
    with pytest.raises(ValueError, match="NUL"):
        LeadRecord.model_validate({"company_name": "A", "crm": ["ok", "a\x00"]})
    deep: object = 1
    for _ in range(40):
        deep = {"a": deep}
    with pytest.raises(ValueError, match="nested deeper"):
        LeadRecord.model_validate({"company_name": "A", "attributes": {"k": deep}})
    assert LeadRecord.model_validate({"company_name": "A", "crm": {"id": 5, "tags": ["x"]}}).attributes


def test_field_errors_name_the_field() -> None:
    with pytest.raises(InvalidMessage) as caught:
        decode_scrape_job(body(job_id="nope", max_pages=-1, colour="blue"), LIMIT)
    text = str(caught.value)
    assert "job_id:" in text and "max_pages:" in text and "colour: Extra inputs are not permitted" in text


def test_unknown_source_is_its_own_kind() -> None:
    with pytest.raises(PermanentError) as caught:
        decode_scrape_job(body(source_types=["website", "fax"]), LIMIT)
    assert caught.value.kind == "unknown_source" and "'fax'" in str(caught.value)


def test_sources_need_their_input() -> None:
    with pytest.raises(InvalidMessage, match="needs at least one target"):
        decode_scrape_job(body(targets=[]), LIMIT)
    with pytest.raises(InvalidMessage, match="inline source needs"):
        decode_scrape_job(body(source_types=["inline"]), LIMIT)
    with pytest.raises(InvalidMessage, match="search_query"):
        decode_scrape_job(body(source_types=["directory:maps"]), LIMIT)


def test_lead_record_keeps_unknown_columns_as_attributes() -> None:
    lead = LeadRecord.model_validate({"company_name": "A", "emails": "a@a.de; b@a.de", "crm_id": 5})
    assert lead.emails == ["a@a.de", "b@a.de"] and lead.attributes == {"crm_id": 5}
    with pytest.raises(ValueError, match="at least one of"):
        LeadRecord.model_validate({"city": "Berlin"})


def test_job_id_hint() -> None:
    ident = uuid.uuid4()
    assert job_id_hint(json.dumps({"job_id": str(ident)}).encode(), None, LIMIT) == ident
    assert job_id_hint(b"garbage", str(ident), LIMIT) == ident
    assert job_id_hint(b"garbage", "not-a-uuid", LIMIT) is None
    big = json.dumps({"job_id": str(ident), "pad": "x" * 100}).encode()
    assert job_id_hint(big, None, 50) is None
    assert job_id_hint(b"[" * 100_000, str(ident), LIMIT) == ident
    assert job_id_hint(b'{"job_id": ' + b"9" * 5_000 + b"}", None, LIMIT) is None


def test_normalize_batch_reads_the_single_job_shape() -> None:
    from leadworker.contracts import NormalizeBatch

    ident = uuid.uuid4()
    old = NormalizeBatch.model_validate_json(json.dumps({"version": 1, "job_id": str(ident), "raw_lead_ids": [3]}))
    assert old == NormalizeBatch.of(ident, [3])
    with pytest.raises(ValueError, match="raw_lead_ids"):
        NormalizeBatch.model_validate({"job_id": str(ident)})


@pytest.mark.parametrize(
    ("globs", "expected"),
    [
        ({"include_paths": ["*" * 5_000] * 100}, "include_paths: List should have at most"),
        (
            {"include_paths": ["*" * 5_000]},
            f"include_paths.0: a path glob is 5000 characters, over the limit of {MAX_GLOB_LENGTH}",
        ),
        (
            {"exclude_paths": ["/ok/*", "/*a" * 30]},
            "exclude_paths.1: a path glob has 30 wildcards (* ? [), over the limit",
        ),
        ({"exclude_paths": [" "]}, "exclude_paths.0: a path glob cannot be empty"),
    ],
)
def test_path_globs_are_bounded(globs: dict[str, list[str]], expected: str) -> None:
    started = time.process_time()  # CPU time: a busy machine must not fail it, a costly glob must
    with pytest.raises(InvalidMessage) as caught:
        decode_scrape_job(body(**globs), LIMIT)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
    assert time.process_time() - started < 0.5


def test_the_costliest_globs_a_job_may_give_are_cheap() -> None:
    """Within the limits, compiling and matching every glob a job may give holds the loop for milliseconds."""
    from leadworker.scrape.crawl import path_allowed

    salt = uuid.uuid4().hex[:8]  # patterns fnmatch has not compiled (and cached) before
    glob = ("/*a" * MAX_GLOB_WILDCARDS)[: MAX_GLOB_LENGTH - 12]
    include = [f"{glob}{salt}{i:04d}" for i in range(MAX_GLOBS)]
    exclude = [f"{glob}{i:04d}{salt}" for i in range(MAX_GLOBS)]
    legit = ["/de/*", "/kontakt*", "/team/[a-z]*/", "*/about?us*"]
    job = decode_scrape_job(body(include_paths=include[:-4] + legit, exclude_paths=exclude), LIMIT)
    started = time.process_time()  # CPU time, as above
    allowed = [
        path_allowed(path, job.include_paths, job.exclude_paths)
        for path in ["/kontakt", "/de/impressum", "/team/anna/", "/x/about-us/", "/blog/1", "/a" * 1000]
    ]
    assert time.process_time() - started < 0.25
    assert allowed == [True, True, True, True, False, False]
