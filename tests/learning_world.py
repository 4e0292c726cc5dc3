"""Companies for the learned-scoring tests, and outcomes drawn from a known rule with noise.

Each company has a country, a phone of some kind (mobile, fixed line, toll-free or none), an e-mail of some
kind (a person's on its own domain, a role address, free-mail or none), a category and sometimes a named
contact. Whether it was won is drawn from :func:`won_probability`, a rule the rule score only partly sees (it
does not know that German companies and solar installers buy, nor that free-mail is a bad sign beyond a
slightly lower contact quality), so a model that learns from outcomes can beat it.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from dataclasses import dataclass

from leadworker.contracts import LeadRecord, ScrapeJob

PHONES = {
    "DE": ("+49 151 2345{:04d}", "+49 30 2345{:04d}", "+49 800 123{:04d}"),
    "AT": ("+43 664 123{:04d}", "+43 1 234{:04d}", "+43 800 12{:04d}"),
    "FR": ("+33 6 12 34 {:04d}", "+33 1 42 34 {:04d}", "+33 800 12{:04d}"),
    "GB": ("+44 7911 12{:04d}", "+44 20 7946 {:04d}", "+44 800 12{:04d}"),
}
COUNTRIES = tuple(PHONES)
CATEGORIES = ("solar", "plumbing", "dental", "bakery", "roofing")
PHONE_KINDS = ("mobile", "fixed_line", "toll_free", "none")
EMAIL_KINDS = ("direct", "role", "free", "none")
START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Company:
    index: int
    country: str
    phone: str
    email: str
    category: str
    contact: bool

    @property
    def domain(self) -> str:
        return f"company{self.index}.test"

    def record(self) -> LeadRecord:
        phones = []
        if self.phone != "none":
            phones = [PHONES[self.country][PHONE_KINDS.index(self.phone)].format(self.index)]
        emails = {
            "direct": [f"anna.schmidt{self.index}@{self.domain}"],
            "role": [f"info@{self.domain}"],
            "free": [f"company{self.index}@gmail.com"],
            "none": [],
        }[self.email]
        return LeadRecord(
            company_name=f"Company {self.index} {self.category.title()}",
            website=self.domain,
            emails=emails,
            phones=phones,
            country=self.country,
            city="Musterstadt",
            categories=[self.category],
            contact_name="Anna Schmidt" if self.contact else None,
        )


def companies(n: int, seed: int = 17) -> list[Company]:
    rng = random.Random(seed)
    return [
        Company(
            index=i,
            country=rng.choice(COUNTRIES),
            phone=rng.choices(PHONE_KINDS, weights=(3, 3, 1, 2))[0],
            email=rng.choices(EMAIL_KINDS, weights=(3, 3, 3, 1))[0],
            category=rng.choice(CATEGORIES),
            contact=rng.random() < 0.5,
        )
        for i in range(1, n + 1)
    ]


def won_probability(c: Company) -> float:
    """The known rule: the chance that a company is won."""
    logit = -1.2
    logit += {"mobile": 1.6, "fixed_line": 0.3, "toll_free": -0.8, "none": -1.0}[c.phone]
    logit += {"direct": 1.2, "role": 0.2, "free": -1.5, "none": -0.5}[c.email]
    logit += 1.0 if c.category == "solar" else 0.0
    logit += {"DE": 1.0, "AT": 0.2, "FR": -0.3, "GB": -0.6}[c.country]
    return 1 / (1 + math.exp(-logit))


def outcomes(found: list[Company], seed: int = 5) -> list[tuple[Company, str, dt.datetime]]:
    """``(company, won|lost, at)`` for each company, drawn from :func:`won_probability`; the times are a random
    order an hour apart (which company's outcome came when is independent of what it is)."""
    rng = random.Random(seed)
    order = list(range(len(found)))
    rng.shuffle(order)
    drawn = []
    for company, slot in zip(found, order, strict=True):
        outcome = "won" if rng.random() < won_probability(company) else "lost"
        drawn.append((company, outcome, START + dt.timedelta(hours=slot)))
    return drawn


def inline_job(found: list[Company], **criteria: object) -> ScrapeJob:
    return ScrapeJob.model_validate(
        {
            "job_id": uuid.uuid4(),
            "source_types": ["inline"],
            "leads": [c.record() for c in found],
            **criteria,
        }
    )
