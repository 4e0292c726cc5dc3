"""Normalization of one raw lead: pure functions, no network (phonenumbers' and tldextract's bundled data only).

- Phones to E.164 with type, region, time zones, and from phonenumbers' offline data the carrier of a mobile
  and the place a geographic number belongs to. A national number is read with a region hint: the record's
  own country (or the country at the end of its address), then the site's country TLD, then the job's
  geography; the first region under which the number is valid wins. A number with its own ``+CC`` needs no
  hint. Numbers valid under no hint are rejected and counted (the reason tells a possible number, right in
  length, from an impossible one), never part of the canonical record.
- E-mails lower-cased and syntax-checked with email-validator (no DNS), flagged as role (info@, sales@...) and
  free-mail (gmail.com, web.de...).
- Website reduced to its site and the site's identity (:mod:`leadworker.common.domains`, the bundled public suffix
  list): a registrable domain, or on a shared platform the host and path that name the business.
- Company names cleaned (whitespace, shouting or lower-case names re-cased, legal forms such as Pty Ltd, GmbH
  or Inc. recognised and written one way), addresses tidied, the country inferred.
- Control characters (terminal escape sequences, C0/C1 controls, bidirectional overrides) stripped from every
  text of the record first (:mod:`leadworker.common.controls`): a site's text must not drive the terminal that shows it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import carrier as phone_carriers
from phonenumbers import geocoder as phone_places
from phonenumbers import timezone as phone_timezones
from phonenumbers.phonenumberutil import is_number_type_geographical

from leadworker.common.controls import strip_controls
from leadworker.common.domains import country_tld, registrable_domain, site_of
from leadworker.common.regions import region_from_geography, region_from_name, region_from_tld
from leadworker.contracts import LeadFields, LeadRecord

# --- phones ------------------------------------------------------------------------------------------------

_PHONE_TYPES = {
    phonenumbers.PhoneNumberType.FIXED_LINE: "fixed_line",
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    phonenumbers.PhoneNumberType.TOLL_FREE: "toll_free",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "premium_rate",
    phonenumbers.PhoneNumberType.SHARED_COST: "shared_cost",
    phonenumbers.PhoneNumberType.VOIP: "voip",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    phonenumbers.PhoneNumberType.PAGER: "pager",
    phonenumbers.PhoneNumberType.UAN: "uan",
    phonenumbers.PhoneNumberType.VOICEMAIL: "voicemail",
}


@dataclass(frozen=True)
class Phone:
    e164: str
    type: str
    """mobile, fixed_line, fixed_line_or_mobile, toll_free, premium_rate, shared_cost, voip, ... or unknown."""
    region: str | None
    time_zones: tuple[str, ...]
    raw: str
    hint: str
    """What decided the reading: ``+cc`` (the number's own country code) or the hint that made it valid."""
    carrier: str | None = None
    """The mobile network a mobile number was issued by (numbers may have been ported since)."""
    place: str | None = None
    """Where a geographic number belongs (``Berlin``, ``Portland, OR``), or its country."""

    def detail(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "region": self.region,
            "time_zones": list(self.time_zones),
            "hint": self.hint,
            "valid": True,
            "carrier": self.carrier,
            "place": self.place,
        }


@dataclass(frozen=True)
class Rejected:
    field: str
    value: str
    reason: str


def normalize_phone(raw: str, hints: list[tuple[str, str]]) -> Phone | Rejected:
    """Read ``raw`` as a phone number. ``hints`` are ``(source, region)`` pairs tried in order."""
    text = raw.strip()
    if text.lower().startswith("tel:"):
        text = text[4:].strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not re.search(r"\d", text):
        return Rejected("phone", raw, "no digits")
    attempts: list[tuple[str, str | None]] = [("+cc", None)] if text.startswith("+") else list(hints)
    if not attempts:
        return Rejected("phone", raw, "a national number and no region to read it with (no country, TLD or geography)")
    for source, region in attempts:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        # is_valid_number(n) is "n's type for region_code_for_number(n) is known", and number_type(n) works
        # out that same type: one type check (the costliest part of phonenumbers) serves both.
        number_region = phonenumbers.region_code_for_number(number)
        if number_region is None:
            continue
        kind = phonenumbers.number_type(number)
        if kind == phonenumbers.PhoneNumberType.UNKNOWN:
            continue
        # time_zones_for_number(n) would work the type out again; with it known, the geographical lookup
        # is what it does for most numbers.
        geographical = number.country_code is not None and is_number_type_geographical(kind, number.country_code)
        lookup = (
            phone_timezones.time_zones_for_geographical_number
            if geographical
            else phone_timezones.time_zones_for_number
        )
        zones = tuple(z for z in lookup(number) if z != "Etc/Unknown")
        mobile = kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
        return Phone(
            e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
            type=_PHONE_TYPES.get(kind, "unknown"),
            region=number_region,
            time_zones=zones,
            raw=raw,
            hint=source,
            carrier=(phone_carriers.name_for_valid_number(number, "en") or None) if mobile else None,
            place=phone_places.description_for_valid_number(number, "en") or None,
        )
    tried = ", ".join(region for _, region in attempts if region) or "its country code"
    return Rejected("phone", raw, f"not a valid number for {tried} ({_possibility(text, attempts)})")


def _possibility(text: str, attempts: list[tuple[str, str | None]]) -> str:
    """Whether the digits at least have a length some reading's numbering plan allows (``possible``: a number
    that may be mistyped or unassigned) or not (``not possible``: not a phone number of that plan at all)."""
    for _, region in attempts:
        try:
            if phonenumbers.is_possible_number(phonenumbers.parse(text, region)):
                return "possible: its length fits"
        except phonenumbers.NumberParseException:
            continue
    return "not possible: wrong length"


# --- e-mails -----------------------------------------------------------------------------------------------

ROLE_LOCAL_PARTS = frozenset(
    (
        "info",
        "information",
        "contact",
        "contacts",
        "contactus",
        "hello",
        "hi",
        "hey",
        "office",
        "mail",
        "email",
        "post",
        "enquiries",
        "enquiry",
        "inquiries",
        "inquiry",
        "sales",
        "sale",
        "vertrieb",
        "verkauf",
        "kontakt",
        "anfrage",
        "anfragen",
        "buero",
        "bureau",
        "support",
        "help",
        "helpdesk",
        "service",
        "services",
        "customerservice",
        "customercare",
        "care",
        "kundenservice",
        "billing",
        "accounts",
        "accounting",
        "invoices",
        "invoice",
        "rechnung",
        "finance",
        "admin",
        "administrator",
        "webmaster",
        "postmaster",
        "hostmaster",
        "abuse",
        "noreply",
        "donotreply",
        "marketing",
        "press",
        "media",
        "pr",
        "news",
        "newsletter",
        "jobs",
        "job",
        "careers",
        "career",
        "karriere",
        "hr",
        "recruiting",
        "bewerbung",
        "team",
        "orders",
        "order",
        "bookings",
        "booking",
        "reservations",
        "reservation",
        "reception",
        "frontdesk",
        "shop",
        "store",
        "general",
        "privacy",
        "legal",
        "datenschutz",
        "compliance",
        "security",
        "it",
        "tech",
        "ops",
        "operations",
        "partners",
        "partner",
    )
)
"""Local parts that name a function, not a person (compared without dots, dashes and underscores)."""

FREE_MAIL_DOMAINS = frozenset(
    (
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.fr",
        "yahoo.de",
        "yahoo.es",
        "yahoo.it",
        "yahoo.ca",
        "yahoo.com.au",
        "yahoo.co.in",
        "yahoo.co.jp",
        "ymail.com",
        "rocketmail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "hotmail.fr",
        "hotmail.de",
        "hotmail.it",
        "hotmail.es",
        "outlook.com",
        "outlook.de",
        "outlook.fr",
        "live.com",
        "live.co.uk",
        "live.de",
        "live.fr",
        "msn.com",
        "aol.com",
        "aol.de",
        "icloud.com",
        "me.com",
        "mac.com",
        "gmx.de",
        "gmx.net",
        "gmx.at",
        "gmx.ch",
        "gmx.com",
        "web.de",
        "t-online.de",
        "freenet.de",
        "arcor.de",
        "posteo.de",
        "mailbox.org",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "tutanota.com",
        "tuta.io",
        "zoho.com",
        "yandex.ru",
        "yandex.com",
        "mail.ru",
        "bk.ru",
        "inbox.ru",
        "list.ru",
        "rambler.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "naver.com",
        "daum.net",
        "hanmail.net",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "laposte.net",
        "sfr.fr",
        "libero.it",
        "virgilio.it",
        "tin.it",
        "alice.it",
        "btinternet.com",
        "sky.com",
        "virginmedia.com",
        "talktalk.net",
        "bigpond.com",
        "bigpond.net.au",
        "optusnet.com.au",
        "xtra.co.nz",
        "shaw.ca",
        "rogers.com",
        "sympatico.ca",
        "comcast.net",
        "verizon.net",
        "att.net",
        "sbcglobal.net",
        "bellsouth.net",
        "cox.net",
        "charter.net",
        "earthlink.net",
        "juno.com",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "onet.pl",
        "bluewin.ch",
        "hispeed.ch",
        "telenet.be",
        "skynet.be",
        "ziggo.nl",
        "kpnmail.nl",
        "xs4all.nl",
        "home.nl",
        "planet.nl",
        "hetnet.nl",
        "telia.com",
        "fastmail.com",
        "hushmail.com",
        "mail.com",
        "email.com",
        "usa.com",
        "rediffmail.com",
        "uol.com.br",
        "bol.com.br",
        "terra.com.br",
    )
)


@dataclass(frozen=True)
class Email:
    address: str
    role: bool
    free: bool
    domain: str
    raw: str

    def detail(self) -> dict[str, Any]:
        return {"role": self.role, "free": self.free, "domain": self.domain}


def is_role_address(local_part: str) -> bool:
    base = local_part.split("+", 1)[0]
    return re.sub(r"[._-]", "", base) in ROLE_LOCAL_PARTS


def is_free_mail(domain: str) -> bool:
    return domain in FREE_MAIL_DOMAINS or (registrable_domain(domain) or domain) in FREE_MAIL_DOMAINS


def normalize_email(raw: str) -> Email | Rejected:
    """Lower-case and syntax-check ``raw`` (no DNS: ``check_deliverability=False``)."""
    text = raw.strip()
    if text.lower().startswith("mailto:"):
        text = text[7:].split("?", 1)[0]
    text = text.strip().strip("<>").lower()
    try:
        # test_environment admits the reserved .test names, as leadworker.common.domains does for fixture worlds.
        result = validate_email(text, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        return Rejected("email", raw, str(exc))
    address = result.normalized.lower()
    local, _, domain = address.rpartition("@")
    return Email(address=address, role=is_role_address(local), free=is_free_mail(domain), domain=domain, raw=raw)


# --- names and addresses -----------------------------------------------------------------------------------

LEGAL_FORMS: tuple[tuple[str, str], ...] = (
    # (how it is written when recognised, the tokens it is recognised by)
    ("GmbH & Co. KG", "gmbh & co kg"),
    ("GmbH & Co. KG", "gmbh und co kg"),
    ("AG & Co. KG", "ag & co kg"),
    ("UG (haftungsbeschränkt)", "ug haftungsbeschränkt"),
    ("UG (haftungsbeschränkt)", "ug haftungsbeschraenkt"),
    ("gGmbH", "ggmbh"),
    ("GmbH", "gmbh"),
    ("GmbH", "gesellschaft mit beschränkter haftung"),
    ("UG", "ug"),
    ("AG", "ag"),
    ("KG", "kg"),
    ("OHG", "ohg"),
    ("e.K.", "e k"),
    ("e.V.", "e v"),
    ("KGaA", "kgaa"),
    ("Pty Ltd", "pty ltd"),
    ("Pty Ltd", "pty limited"),
    ("Pty Ltd", "proprietary limited"),
    ("Pty", "pty"),
    ("Pte Ltd", "pte ltd"),
    ("Pvt Ltd", "pvt ltd"),
    ("Pvt Ltd", "private limited"),
    ("Sdn Bhd", "sdn bhd"),
    ("Co., Ltd.", "co ltd"),
    ("Ltd", "ltd"),
    ("Ltd", "limited"),
    ("PLC", "plc"),
    ("LLP", "llp"),
    ("LLC", "llc"),
    ("LLC", "l l c"),
    ("LP", "lp"),
    ("Inc.", "inc"),
    ("Inc.", "incorporated"),
    ("Corp.", "corp"),
    ("Corp.", "corporation"),
    ("Co.", "co"),
    ("PC", "pc"),
    ("PLLC", "pllc"),
    ("S.A.", "s a"),
    ("S.A.", "sa"),
    ("SAS", "sas"),
    ("SARL", "sarl"),
    ("S.à r.l.", "s à r l"),
    ("SNC", "snc"),
    ("S.r.l.", "s r l"),
    ("S.r.l.", "srl"),
    ("S.p.A.", "s p a"),
    ("S.p.A.", "spa"),
    ("S.L.", "s l"),
    ("S.L.", "sl"),
    ("Lda", "lda"),
    ("Ltda", "ltda"),
    ("S.A. de C.V.", "s a de c v"),
    ("B.V.", "b v"),
    ("B.V.", "bv"),
    ("N.V.", "n v"),
    ("N.V.", "nv"),
    ("BVBA", "bvba"),
    ("AB", "ab"),
    ("A/S", "a s"),
    ("AS", "as"),
    ("ASA", "asa"),
    ("ApS", "aps"),
    ("Oy", "oy"),
    ("Oyj", "oyj"),
    ("OÜ", "oü"),
    ("sp. z o.o.", "sp z o o"),
    ("s.r.o.", "s r o"),
    ("Kft.", "kft"),
    ("K.K.", "k k"),
)

_FORM_TOKENS: list[tuple[tuple[str, ...], str]] = sorted(
    ((tuple(tokens.split()), written) for written, tokens in LEGAL_FORMS),
    key=lambda item: -len(item[0]),
)
_FORMS_BY_LENGTH: dict[int, dict[tuple[str, ...], str]] = {}
for _tokens, _written in _FORM_TOKENS:
    _FORMS_BY_LENGTH.setdefault(len(_tokens), {}).setdefault(_tokens, _written)
_TOKEN = re.compile(r"[^\W_]+|&", re.UNICODE)
_SMALL_WORDS = frozenset(
    (
        "and",
        "of",
        "the",
        "for",
        "de",
        "la",
        "le",
        "du",
        "des",
        "von",
        "und",
        "van",
        "der",
        "den",
        "di",
        "da",
        "del",
        "y",
        "e",
        "et",
    )
)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class CompanyName:
    name: str
    """Cleaned name as displayed, legal form included and written one way: ``Acme Plumbing LLC``."""
    base: str
    """Without the legal form: ``Acme Plumbing``."""
    legal_form: str | None
    match_key: str
    """Case-, accent- and punctuation-free base, for comparing names."""

    def detail(self) -> dict[str, Any]:
        return {"base": self.base, "legal_form": self.legal_form, "match_key": self.match_key}


def fold(text: str) -> str:
    """Case- and accent-free text (``Büro`` → ``buro``) for comparisons."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _recase(text: str) -> str:
    """Title-case a name written in capitals or in lower case; leave mixed case alone (``McDonald``, ``iRobot``)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters or not (all(ch.isupper() for ch in letters) or all(ch.islower() for ch in letters)):
        return text
    if len(letters) <= 3 and all(ch.isupper() for ch in letters):
        return text  # IBM, 3M: an acronym, not shouting
    words = text.split(" ")
    out = []
    for index, word in enumerate(words):
        lower = word.lower()
        if index > 0 and lower in _SMALL_WORDS:
            out.append(lower)
        else:
            out.append(lower[:1].upper() + lower[1:])
    return " ".join(out)


def clean_company_name(raw: str) -> CompanyName | None:
    text = _SPACES.sub(" ", raw).strip().strip("\"'“”„«»").strip()
    text = text.strip(" ,;:|-–—·")
    if not text:
        return None
    tokens = [(m.group(0).casefold(), m.start()) for m in _TOKEN.finditer(text)]
    legal_form = None
    base = text
    for n, forms in _FORMS_BY_LENGTH.items():  # longest form first
        if n >= len(tokens):  # a name must remain before the legal form
            continue
        tail = tuple(t for t, _ in tokens[-n:])
        written = forms.get(tail)
        if written is not None and not (tail[0] == "co" and tokens[-n - 1][0] in ("&", "and", "und")):
            legal_form = written
            base = text[: tokens[-n][1]].rstrip(" ,-–(")
            break
    base = _recase(base).strip()
    if not base:
        base, legal_form = _recase(text), None
    name = f"{base} {legal_form}" if legal_form else base
    match_key = " ".join(t for t in (_TOKEN.findall(fold(base))) if t != "&")
    return CompanyName(name=name, base=base, legal_form=legal_form, match_key=match_key)


def tidy_text(raw: str | None, limit: int = 1000) -> str | None:
    if raw is None:
        return None
    text = _SPACES.sub(" ", raw).strip()
    return text[:limit] or None


def tidy_address(raw: str | None) -> str | None:
    """One line, single spaces, one comma between parts, no stray punctuation at the ends."""
    if raw is None:
        return None
    text = re.sub(r"[\r\n]+", ", ", raw)
    text = _SPACES.sub(" ", text)
    text = re.sub(r"\s*,\s*", ", ", text)
    text = re.sub(r"(, ){2,}", ", ", text)
    text = text.strip(" ,;")
    return text[:1000] or None


def tidy_postal_code(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = _SPACES.sub(" ", raw).strip().upper()
    return text or None


def tidy_place(raw: str | None) -> str | None:
    text = tidy_text(raw, 200)
    return _recase(text) if text else None


# --- websites ----------------------------------------------------------------------------------------------


def normalize_website(raw: str | None) -> tuple[str | None, str | None]:
    """``(website, site identity)`` (see :func:`leadworker.common.domains.site_of`): ``https://www.Acme.co.uk/about``
    → ``https://www.acme.co.uk/``, ``acme.co.uk``; ``https://m.facebook.com/BondiBlooms/?ref=x`` →
    ``https://m.facebook.com/BondiBlooms``, ``facebook.com/bondiblooms``. A host without a public suffix (an IP
    address, ``localhost``) keeps its website but has no identity; a platform's page that names no business
    (``https://www.facebook.com/``) is no website."""
    if not raw:
        return None, None
    site = site_of(raw)
    if site is None:
        return None, None
    return site.url, site.identity


# --- the whole record --------------------------------------------------------------------------------------


@dataclass
class NormalizedLead:
    """A raw lead after normalization: what merging and the canonical record use."""

    company: CompanyName | None = None
    website: str | None = None
    domain: str | None = None
    """The website's site identity: its registrable domain, or ``facebook.com/bondiblooms`` on a platform."""
    emails: list[Email] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)
    address: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    country_source: str | None = None
    contact_name: str | None = None
    description: str | None = None
    categories: list[str] = field(default_factory=list)
    socials: dict[str, str] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)

    def keys(self) -> list[tuple[str, str]]:
        """Match keys in priority order: the site identity (kind ``domain``), then e-mails, then E.164 phones."""
        keys: list[tuple[str, str]] = []
        if self.domain:
            keys.append(("domain", self.domain))
        keys.extend(("email", e.address) for e in self.emails)
        keys.extend(("phone", p.e164) for p in self.phones)
        return keys

    @property
    def unusable_reason(self) -> str | None:
        """Why this record cannot become a lead (nothing to name or reach it by), or None."""
        if self.company or self.domain or self.emails or self.phones:
            return None
        reasons = "; ".join(f"{r.field} {r.value!r}: {r.reason}" for r in self.rejected[:3])
        return "no company name, valid website, e-mail or phone" + (f" ({reasons})" if reasons else "")

    def invalid_count(self, field_name: str) -> int:
        return sum(1 for r in self.rejected if r.field == field_name)

    def summary(self) -> dict[str, Any]:
        """What is stored in ``raw_leads.normalization``."""
        return {
            "domain": self.domain,
            "country": self.country,
            "country_source": self.country_source,
            "emails": len(self.emails),
            "phones": len(self.phones),
            "invalid_emails": self.invalid_count("email"),
            "invalid_phones": self.invalid_count("phone"),
            "rejected": [{"field": r.field, "value": r.value, "reason": r.reason} for r in self.rejected],
            "unusable": self.unusable_reason,
        }


def _host_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url if "://" in url else "http://" + url).hostname
    except ValueError:
        return None


def _address_country(address: str | None) -> str | None:
    if not address:
        return None
    last = address.rsplit(",", 1)[-1].strip()
    return region_from_name(last) if last else None


_TEXT_FIELDS = (*LeadFields.model_fields, "source_url")


def _stripped(value: Any) -> Any:
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, list):
        return [_stripped(v) for v in value]
    if isinstance(value, dict):
        return {_stripped(k): _stripped(v) for k, v in value.items()}
    return value


def without_controls(record: LeadRecord) -> LeadRecord:
    """``record`` with control characters stripped from every text it carries (itself if it had none)."""
    changes = {}
    for name in _TEXT_FIELDS:
        value = getattr(record, name)
        cleaned = _stripped(value)
        if cleaned != value:
            changes[name] = cleaned
    return record.model_copy(update=changes) if changes else record


def normalize_record(record: LeadRecord, *, geography: str | None = None) -> NormalizedLead:
    """Normalize one raw record. ``geography`` is the job's (a region hint for phones, a last guess for the
    country)."""
    record = without_controls(record)
    lead = NormalizedLead()
    lead.company = clean_company_name(record.company_name) if record.company_name else None
    lead.website, lead.domain = normalize_website(record.website)
    if record.website and lead.website is None:
        lead.rejected.append(
            Rejected("website", record.website, "not an http(s) address, or a platform's page that names no business")
        )

    address = tidy_address(record.address)
    record_country = region_from_name(record.country) if record.country else None
    stated_country = record_country or _address_country(address)
    site_host = _host_of(lead.website) or _host_of(record.source_url)
    tld_region = region_from_tld(country_tld(site_host)) if site_host else None
    geography_region = region_from_geography(geography)

    hints: list[tuple[str, str]] = []
    for source, region in (("country", stated_country), ("tld", tld_region), ("geography", geography_region)):
        if region and region not in {r for _, r in hints}:
            hints.append((source, region))

    _normalize_contacts(lead, record, hints)
    lead.address = address
    _tidy_texts(lead, record)
    _decide_country(lead, record, record_country, stated_country, tld_region, geography_region)
    return lead


def _normalize_contacts(lead: NormalizedLead, record: LeadRecord, hints: list[tuple[str, str]]) -> None:
    """The record's e-mails and phones (``hints``: the regions to read national phone formats in), each
    once; what does not normalize among ``lead.rejected``."""
    seen_emails: set[str] = set()
    for raw in record.emails:
        email = normalize_email(raw)
        if isinstance(email, Rejected):
            lead.rejected.append(email)
        elif email.address not in seen_emails:
            seen_emails.add(email.address)
            lead.emails.append(email)

    seen_phones: set[str] = set()
    for raw in record.phones:
        phone = normalize_phone(raw, hints)
        if isinstance(phone, Rejected):
            lead.rejected.append(phone)
        elif phone.e164 not in seen_phones:
            seen_phones.add(phone.e164)
            lead.phones.append(phone)


def _tidy_texts(lead: NormalizedLead, record: LeadRecord) -> None:
    """Places, postal code, contact name, description, categories (once each) and socials, tidied."""
    lead.city = tidy_place(record.city)
    lead.region = tidy_place(record.region)
    lead.postal_code = tidy_postal_code(record.postal_code)
    lead.contact_name = tidy_place(record.contact_name)
    lead.description = tidy_text(record.description, 2000)
    categories: dict[str, str] = {}
    for category in record.categories:
        text = tidy_text(category, 200)
        if text:
            categories.setdefault(fold(text), text)
    lead.categories = list(categories.values())
    lead.socials = {
        network.strip().lower(): url.strip()
        for network, url in record.socials.items()
        if network.strip() and url.strip()
    }


def _decide_country(
    lead: NormalizedLead,
    record: LeadRecord,
    record_country: str | None,
    stated_country: str | None,
    tld_region: str | None,
    geography_region: str | None,
) -> None:
    """The lead's country from the strongest source that names one: the record, the address, the phones,
    the website's TLD, the job's geography."""
    phone_regions = Counter(p.region for p in lead.phones if p.region)
    if record_country:
        lead.country, lead.country_source = record_country, "record"
    elif stated_country:
        lead.country, lead.country_source = stated_country, "address"
    elif phone_regions:
        lead.country, lead.country_source = phone_regions.most_common(1)[0][0], "phone"
    elif tld_region:
        lead.country, lead.country_source = tld_region, "tld"
    elif geography_region:
        lead.country, lead.country_source = geography_region, "geography"
    elif record.country:
        lead.rejected.append(Rejected("country", record.country, "not a country name or ISO code"))
