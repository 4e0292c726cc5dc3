from leadworker.contracts import LeadRecord
from leadworker.store.fingerprint import content_hash


def test_same_identity_same_hash() -> None:
    a = LeadRecord(
        company_name="Acme  GmbH",
        website="https://www.acme.de/kontakt",
        emails=["Info@Acme.de", "b@acme.de"],
        phones=["+49 30 123456"],
        source_url="https://acme.de/",
        description="whatever",
    )
    b = LeadRecord(
        company_name="acme gmbh",
        website="http://acme.de",
        emails=["b@acme.de", "info@acme.de"],
        phones=["+49-30-123456"],
        source_url="https://other/",
        description="different text",
    )
    assert content_hash(a) == content_hash(b)
    assert len(content_hash(a)) == 32


def test_different_identity_different_hash() -> None:
    a = LeadRecord(company_name="Acme", emails=["info@acme.de"])
    assert content_hash(a) != content_hash(LeadRecord(company_name="Acme", emails=["sales@acme.de"]))
    assert content_hash(a) != content_hash(LeadRecord(company_name="Acme", emails=["info@acme.de"], city="Kiel"))
