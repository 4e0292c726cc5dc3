"""Precision and recall of what a crawl found, against a world's ground truth."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from world.generate import SiteTruth


@dataclass
class Tally:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0


@dataclass
class Report:
    emails: Tally = field(default_factory=Tally)
    phones: Tally = field(default_factory=Tally)
    third_party: Tally = field(default_factory=Tally)
    """Someone else's contacts kept apart on the lead (``third_party``): recall is how many of them were kept
    there (not lost, not taken for the company's), precision how many of the kept ones really are someone
    else's."""
    robots_decoys_collected: list[tuple[str, str]] = field(default_factory=list)
    mistakes: list[str] = field(default_factory=list)
    """One line per wrong or missing value: host, what, value, the site's features."""

    def summary(self) -> str:
        return (
            f"emails precision {self.emails.precision:.3f} recall {self.emails.recall:.3f} "
            f"({self.emails.true_positives} found, {self.emails.false_positives} wrong, "
            f"{self.emails.false_negatives} missed); phones precision {self.phones.precision:.3f} "
            f"recall {self.phones.recall:.3f} ({self.phones.true_positives} found, "
            f"{self.phones.false_positives} wrong, {self.phones.false_negatives} missed); third parties "
            f"kept apart precision {self.third_party.precision:.3f} recall {self.third_party.recall:.3f}"
        )


def score(
    truths: Iterable[SiteTruth],
    found: Mapping[str, tuple[Iterable[str], Iterable[str]]],
    third_parties: Mapping[str, Iterable[str]] | None = None,
) -> Report:
    """``found``: host → (emails, phones) a crawl of that site found (absent: found nothing);
    ``third_parties``: host → the values it kept apart as someone else's."""
    report = Report()
    for truth in truths:
        if third_parties is not None:
            kept = set(third_parties.get(truth.host, ()))
            report.third_party.true_positives += len(kept & truth.third_party)
            report.third_party.false_positives += len(kept - truth.third_party)
            report.third_party.false_negatives += len(truth.third_party - kept)
            for value in sorted(kept - truth.third_party):
                report.mistakes.append(f"{truth.host} kept apart {value} {truth.features}")
            for value in sorted(truth.third_party - kept):
                report.mistakes.append(f"{truth.host} did not keep apart {value} {truth.features}")
        emails, phones = found.get(truth.host, ((), ()))
        for kind, tally, got, expected in (
            ("email", report.emails, set(emails), truth.emails),
            ("phone", report.phones, set(phones), truth.phones),
        ):
            tally.true_positives += len(got & expected)
            tally.false_positives += len(got - expected)
            tally.false_negatives += len(expected - got)
            for value in sorted(got - expected):
                report.mistakes.append(f"{truth.host} wrong {kind} {value} {truth.features}")
            for value in sorted(expected - got):
                report.mistakes.append(f"{truth.host} missed {kind} {value} {truth.features}")
            for value in got & truth.robots_decoys:
                report.robots_decoys_collected.append((truth.host, value))
    return report
