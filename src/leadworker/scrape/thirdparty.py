"""Whose contact is it: the stretches of a page that show someone else's e-mails and phones.

A company's pages also show other people's contacts, and a lead that carries them sends sales to the wrong
door. Three kinds are told apart from the page's structure and wording, not from a list of known names:

- **Credits and relations.** A line that credits someone else — a web agency's footer ("Designed by Northgate
  Digital · studio@northgate.design · +44 20 7946 0321", "Webdesign: …", "Site réalisé par …", "Erstellt von
  …", "Website door …"), the hosting company a legal notice must name ("Hébergeur : …", "Hosting: …"), a
  partner or supplier ("our supplier Oakwood Timber, sales@oakwood.co.uk"), or a heading that announces them
  ("Our partners") — and names that party: a capitalised name after the cue rather than "our team" or the
  company's own name, or a link to another registrable domain. The contacts *after* the cue belong to the
  credited party: on the line (up to a © or a legal link), on the lines of the same block (``<br>``), on the
  following lines that hold nothing but contacts, and under a heading up to the next one; a line with an
  address on the site's own domain ends that reach. Contacts before the cue stay the company's ("Acme Ltd ·
  info@acme.co.uk · Website by …"). The cue counts in the footer, on one of the last lines, on a short line,
  or with a link to the other party (verbs that also credit a cake, "made by", not on a short line alone); in
  running text only in its own sentence.
- **The other party's domain.** An address on the domain of a site that a credit links to, or that a link on
  or near the address's line points to, is that site's, wherever the page shows it.
- **Examples and mentions in prose.** In running text (a sentence in a paragraph, not a contact line), an
  address or number that the sentence talks *about* — "never write from someone@hotmail.com", "enter it as
  jane@yourdomain.com", "we switched from info@oldsupplier.com", "scammers called from …" — is not offered;
  nor is another organisation's address (not free mail) that nothing offers, or the contacts in parentheses
  after "from <Company> (". An address right after "us"/"me" or an imperative ("email us at …", "write to …",
  "schreiben Sie uns unter …") is offered, and so is one in a ``mailto:`` or ``tel:`` link.

An address on the site's own registrable domain is always the company's. What is judged here is one page;
a value the site offers as its own on any page stays its own (see :func:`leadworker.scrape.crawl.fold_site`).
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from leadworker.common.domains import registrable_domain
from leadworker.scrape.contacts import clean_email, digit_runs, find_emails
from leadworker.scrape.layout import Layout, Line

CREDIT, HOSTING, PARTNER, EXAMPLE = "credit", "hosting", "partner", "example"
"""Why a contact is someone else's: a web agency's (or photographer's...) credit, the hosting company, a
partner or supplier, an example or mention in running text. (``shared``, the same contact on several
unrelated sites, is decided across sites: see :mod:`leadworker.scrape.shared`.)"""

# --- cue words -------------------------------------------------------------------------------------------
# English, German, French and Dutch: the languages of the regions leadworker reads (US, GB, DE, FR, NL, AU,
# CA, IE). A cue is a way of crediting someone, never a name.

_BY = r"(?:by|von|durch|par|door)"
# Verbs that credit the making of a website wherever they stand ("designed by", "site réalisé par")...
_WEB_MADE = (
    r"designed|powered|hosted|coded|programmed|web-?designed|"
    r"gestaltet|programmiert|gehostet|realisiert|designt|"
    r"r[ée]alis[ée]e?s?|h[ée]berg[ée]e?s?|propuls[ée]e?s?|motoris[ée]e?|"
    r"ontworpen|gerealiseerd|gehost"
)
# ...and verbs that also say who made a cake or a kitchen ("made by Anna"): credits only in the footer, on the
# last lines of the page, or with a link to the other party's site.
_MADE = (
    r"built|build|developed|created|made|crafted|handcrafted|produced|managed|maintained|optimi[sz]ed|"
    r"photographed|"
    r"erstellt|entwickelt|umgesetzt|betreut|konzipiert|gemacht|produziert|optimiert|"
    r"con[çc]ue?s?|cr[ée][ée]e?s?|d[ée]velopp[ée]e?s?|faite?s?|"
    r"gemaakt|ontwikkeld|gebouwd|vormgegeven|geproduceerd|verzorgd"
)
_WORK = (
    r"web\s?design|website|web\s?site|site(?:\s+(?:web|internet))?|design|web\s?development|"
    r"hosting|seo|photography|photos?|branding|"
    r"webseite|homepage|internetseite|internetauftritt|gestaltung|umsetzung|realisierung|programmierung|"
    r"r[ée]alisation|conception|cr[ée]ation|d[ée]veloppement|h[ée]bergement|"
    r"ontwerp|webontwerp|realisatie|ontwikkeling|vormgeving|fotografie"
)
_WITH = r"(?:\s+(?:with|mit|avec|met)\s+\S{1,12})?"  # "made with ♥ by"
_AGENT = rf"\b(?:(?:{_WEB_MADE}){_WITH}|{_WORK})\s+{_BY}\b"
_GENERIC = rf"\b(?:{_MADE}){_WITH}\s+{_BY}\b"
_LABEL_WORD = (
    r"web\s?design|web\s?development|website\s+design|site\s+design|design|credits?|cr[ée]dits?|"
    r"r[ée]alisation|conception|cr[ée]ation|d[ée]veloppement|"
    r"gestaltung|umsetzung|realisierung|programmierung|konzept(?:ion)?|technische\s+umsetzung|webentwicklung|"
    r"ontwerp|webontwerp|realisatie|vormgeving|ontwikkeling|fotografie|photography|photos?|fotos|bildnachweis|"
    r"bildquellen?|seo"
)
_HOST_WORD = (
    r"hosting|hoster|webhosting|web\s+host|hosted\s+at|host|h[ée]bergeur|h[ée]bergement|hostingpartner|"
    r"hostingprovider|provider"
)
_OF_THE_SITE = (
    r"(?:\s+(?:du\s+site(?:\s+(?:web|internet))?|de\s+ce\s+site|of\s+(?:the|this)\s+(?:web)?site|"
    r"der\s+(?:web)?seite|des\s+webauftritts|der\s+homepage|van\s+de(?:ze)?\s+website))?"
)
# "Webdesign:", "Konzept, Design und Umsetzung:", "Conception et réalisation du site :", "Hébergeur :", at the
# start of a line or after a separator.
_LABEL = (
    rf"(?:^\s*|[·•|]\s*)(?:(?:{_LABEL_WORD}|{_HOST_WORD})\s*(?:,|&|\+|/|and|und|et|en)\s*){{0,3}}"
    rf"(?:{_LABEL_WORD}|(?P<host>{_HOST_WORD})){_OF_THE_SITE}\s*(?::|：|–|—|-\s)"
)
_PARTY = (
    r"sister\s+compan(?:y|ies)|schwester(?:firma|unternehmen)|soci[ée]t[ée]\s+s[œo]e?ur|zusterbedrijf|partners?|suppliers?|vendors?|providers?|hosting\s+provider|hosts?|agency|web\s+agency|manufacturers?|"
    r"distributors?|wholesalers?|"
    r"lieferant(?:en)?|partner(?:in|n)?|agentur|webagentur|dienstleister|hoster|hersteller|gro[ßs]h[äa]ndler|"
    r"fournisseurs?|partenaires?|prestataires?|agence(?:\s+web)?|h[ée]bergeur|fabricants?|distributeurs?|"
    r"grossistes?|leveranciers?|bureau|webbureau|fabrikant|groothandel|hostingpartner"
)
_RELATION = (
    rf"\b(?:our|unser(?:e|er|en|em)?|notre|nos|onze|ons)\s+(?:\w+\s+)?(?:{_PARTY})\b|"
    r"\b(?:in\s+(?:partnership|cooperation|collaboration)\s+with|in\s+zusammenarbeit\s+mit|"
    r"en\s+(?:partenariat|collaboration)\s+avec|in\s+samenwerking\s+met|"
    r"(?:sponsored|supplied|provided|delivered|distributed)\s+by|(?:gesponsert|geliefert|bereitgestellt)\s+von|"
    r"(?:sponsoris[ée]e?|fourni|fournie|livr[ée]e?|distribu[ée]e?)\s+par|(?:gesponsord|geleverd)\s+door)\b|"
    rf"(?:^\s*|[·•|]\s*)(?:{_PARTY}|sponsors?)\s*:"
)
# The same labels inside a line ("© 2024 Acme Design: Northgate"): a credit only in the footer or with a link.
_INLINE_LABEL = (
    rf"(?<=\s)(?:(?:{_LABEL_WORD}|{_HOST_WORD})\s*(?:,|&|\+|/|and|und|et|en)\s*){{0,3}}"
    rf"(?:{_LABEL_WORD}|(?P<inline_host>{_HOST_WORD})){_OF_THE_SITE}\s*(?::|：)"
)
_CUE_PATTERN = (
    rf"(?P<agent>{_AGENT})|(?P<generic>{_GENERIC})|(?P<label>{_LABEL})|(?P<relation>{_RELATION})|"
    rf"(?P<inline>{_INLINE_LABEL})"
)
_CUE = re.compile(_CUE_PATTERN, re.IGNORECASE | re.MULTILINE)
_CUE_LOWER = re.compile(_CUE_PATTERN, re.MULTILINE)
"""The same, for lower-cased text: four times faster than matching without regard to case."""
# Where the footer's next item starts, after a credit on the same line.
_SCOPE_STOP = re.compile(
    r"©|\b(?:impressum|imprint|privacy|datenschutz|mentions\s+l[ée]gales|cookies?|sitemap|agb|"
    r"terms|disclaimer|all\s+rights|alle\s+rechte|tous\s+droits)\b",
    re.IGNORECASE,
)
# A heading that announces other parties: "Our partners", "Unsere Lieferanten", "Crédits", "Hosting".
_PARTY_TITLE = re.compile(
    rf"^\s*(?:(?:our|unsere?|nos|notre|onze|ons)\s+)?(?:{_PARTY}|{_HOST_WORD}|credits?|cr[ée]dits?|sponsors?|"
    r"bildnachweis|colofon|impressum\s+webdesign)\s*:?\s*$",
    re.IGNORECASE,
)

# After a cue, "our team", "us", "the owner"... credit the company itself.
_SELF = re.compile(
    r"^(?:us|me|myself|ourselves|we|our|my|the\s+(?:owner|team|family)|hand|love|in-house|in\s+house|"
    r"uns|mir|mich|wir|unser\w*|mein\w*|selbst|hand|dem\s+inhaber|"
    r"nous|moi|notre|nos|mon|ma|mes|nous-m[êe]mes|l[’']?[ée]quipe|"
    r"ons|onze|mij|mijzelf|onszelf|wij|zelf|de\s+eigenaar)\b",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"\b(?:us|our|uns|unser\w*|nous|notre|nos|ons|onze)\b", re.IGNORECASE)
_COPYRIGHT = re.compile(
    r"©|\(c\)\s*\d{4}|\bcopyright\b|all rights reserved|alle rechte|tous droits|"
    r"alle rechten",
    re.IGNORECASE,
)

# An address offered right here: "email us at", "call me on", "schreiben Sie uns unter", "contactez-nous au",
# "mail ons op", "Questions? Email …".
_OFFER_BEFORE = re.compile(
    r"(?:\b(?:us|me|uns|mich|mir|nous|moi|ons|mij)\b|-nous|-moi)\s*"
    r"(?:(?:at|on|via|to|by|under|unter|über|per|an|bei|au|à|a|par|sur|op|naar|via|:)\s*)?[:\-–]?\s*$|"
    r"\b(?:our|my|unser\w*|mein\w*|notre|mon|ma|nos|onze|ons|mijn)\s+[\w\s-]{0,25}"
    r"(?:is|lautet|est|is|:)\s*[:\-–]?\s*$|"
    r"\b(?:e-?mail|mail|write(?:\s+to)?|contact|reach|call|ring|phone|text|message|drop\s+(?:a\s+)?(?:line|note)"
    r"(?:\s+to)?|send\s+(?:\w+\s+){0,2}to|schreiben\s+sie(?:\s+an)?|rufen\s+sie|mailen\s+sie(?:\s+an)?|"
    r"[ée]crivez(?:\s+[àa])?|appelez(?:\s+le)?|contactez|joignez|mail|bel|schrijf(?:\s+naar)?|stuur\s+een\s+"
    r"(?:e-?mail|bericht)\s+naar)\s*(?:at|on|to|via|unter|an|au|à|op|naar)?\s*:?\s*$",
    re.IGNORECASE,
)
# "from Harrison Timber Ltd (", "mit Holzhandel Berger (", "chez Matériaux Roux (": a named other party whose
# contacts follow in parentheses.
_SOURCE_PAREN = re.compile(
    r"\b(?:from|with|by|at|via|von|mit|bei|durch|chez|avec|par|aupr[èe]s\s+de|van|met|bij|door)\s+"
    r"[A-ZÄÖÜÉÈ][\w&'’.-]*(?:\s+[\w&'’.-]+){0,6}?\s*\([^()]*$"
)
SOURCE_LOOKBACK = 300
"""Characters before a value in which "from <Company> (" is looked for."""
_LIST_JOIN = re.compile(r"[\s,;/]*(?:or|and|oder|und|ou|et|of|en|&)?[\s,;/]*", re.IGNORECASE)
"""What stands between two items of one list ("X or Y", "X, Y")."""
_NEGATION = re.compile(
    r"\b(?:never|not|don['’]?t|nie|niemals|nicht|kein\w*|jamais|pas|ne|nooit|niet|geen)\b", re.IGNORECASE
)
# Right before the address, a word that makes it an instance of something ("such as x@", "e.g. x@",
# "switched from x@"), not an offer.
_EXAMPLE_BEFORE = re.compile(
    r"(?:\b(?:e\.\s?g\.|eg|i\.\s?e\.|like|as|such\s+as|from|instead\s+of|than|"
    r"z\.\s?b\.|zb|etwa|wie|als|statt|anstatt|anstelle\s+von|von|"
    r"p\.\s?ex\.|comme|tel(?:le)?s?\s+que|au\s+lieu\s+de|plut[ôo]t\s+que|de|depuis|"
    r"bijv\.|bv\.|b\.v\.|zoals|als|vanaf|van|in\s+plaats\s+van|dan)\s*[:\-–]?\s*[\"'„“«(]?\s*)$",
    re.IGNORECASE,
)
# Anywhere in the sentence: it talks about addresses rather than offering one.
_EXAMPLE_SENTENCE = re.compile(
    r"\b(?:for\s+(?:example|instance)|example|examples|sample|placeholder|looks?\s+like|something\s+like|"
    r"instead|switched|migrated|used\s+to|formerly|former|previous|previously|no\s+longer|beware|scam\w*|"
    r"phishing|fraud\w*|fake|spoof\w*|pretend\w*|impersonat\w*|suspicious|spam\w*|typo|mistyped?|"
    r"zum\s+beispiel|beispiel\w*|muster\w*|fr[üu]her\w*|ehemal\w*|nicht\s+mehr|vorsicht|betr[üu]g\w*|"
    r"gef[äa]lscht\w*|f[äa]lschung\w*|vorget[äa]uscht|gewechselt|umgestellt|"
    r"par\s+exemple|exemple\w*|ancien\w*|autrefois|pr[ée]c[ée]dent\w*|ne\s+\w+\s+plus|arnaque\w*|"
    r"escro\w*|hame[çc]onnage|frauduleu\w*|usurp\w*|"
    r"bijvoorbeeld|voorbeeld\w*|vroeger|voorheen|vorige|niet\s+meer|pas\s+op|oplicht\w*|overgestapt|"
    r"gewisseld)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[^\s.]{3}[.!?])\s+(?=[A-ZÄÖÜÉÈÀÇ0-9\"'„“«(¿¡])|(?<=[!?])\s+")
_CONTACT_LABELS = re.compile(
    r"\b(?:e-?mail|mail|courriel|tel|tél|tele|telephone|téléphone|telefon|telefoon|phone|fon|fax|mobile?|"
    r"mob|cell|portable|mobiel|gsm|hotline|ph|t|e|m|f|p|w|call|ring|bel|appelez|contact|kontakt)\b",
    re.IGNORECASE,
)
_SOCIAL = (
    "facebook.",
    "instagram.",
    "linkedin.",
    "twitter.",
    "x.com",
    "youtube.",
    "tiktok.",
    "pinterest.",
    "xing.",
    "wa.me",
    "whatsapp.",
)
# Every cue holds one of these (lower-cased): lines without any are not read for cues at all, which keeps
# big pages cheap (the cue expression is slow to try at every position of a long text).
_CUE_STEMS = (
    "design",
    "develop",
    "développ",
    "credit",
    "crédit",
    "réalis",
    "realis",
    "concept",
    "konzept",
    "création",
    "creation",
    "gestaltung",
    "umsetzung",
    "programm",
    "entwicklung",
    "ontwerp",
    "vormgeving",
    "ontwikkel",
    "foto",
    "photo",
    "bildnachweis",
    "bildquelle",
    "seo",
    "host",
    "héberg",
    "heberg",
    "provider",
    "partner",
    "partenaire",
    "supplier",
    "vendor",
    "agency",
    "agence",
    "agentur",
    "manufactur",
    "distribut",
    "wholesal",
    "lieferant",
    "dienstleister",
    "hersteller",
    "händler",
    "handler",
    "fournisseur",
    "prestataire",
    "fabri",
    "grossist",
    "leverancier",
    "bureau",
    "groothandel",
    "zusammenarbeit",
    "partenariat",
    "collaboration",
    "cooperation",
    "samenwerking",
    "sponsor",
    "sister",
    "schwester",
    "sœur",
    "soeur",
    "zuster",
)
_BY_WORDS = ("by", "von", "durch", "par", "door")
_REACH = 200_000
"""Characters at the head and at the tail of a huge page that are read for other parties."""
_DIGITS = re.compile(r"\d[\d \u00a0().\-/]{5,}\d")
_PROSE_WORDS = 12
_PROSE_CHARS = 90
_SHORT_LINE = 160
_FOLLOWING_LINES = 6
_SECTION_LINES = 12
_NEAR_LINES = 2
"""Lines either side of a link to another site within which an address on that site is that site's."""


@dataclass(frozen=True)
class _Cue:
    start: int
    end: int
    kind: str
    """``agent``, ``generic``, ``label``, ``relation`` or ``inline`` (the groups of the cue expression)."""
    reason: str


@functools.lru_cache(maxsize=8192)
def _cues(text: str) -> tuple[_Cue, ...]:
    """The cues of a line. Cached: the pages of a site repeat their header and footer lines."""
    lowered = text.lower()
    matches = _CUE_LOWER.finditer(lowered) if len(lowered) == len(text) else _CUE.finditer(text)
    return tuple(_Cue(m.start(), m.end(), m.lastgroup or "", _reason(m)) for m in matches)


@dataclass(frozen=True)
class Stretch:
    """``text[start:end]`` of a page's layout shows someone else's contacts."""

    start: int
    end: int
    reason: str
    context: str
    """The words that decided, for whoever reads the lead later (at most 160 characters)."""


@dataclass
class Attribution:
    """What a page shows for someone else."""

    stretches: list[Stretch] = field(default_factory=list)
    hrefs: dict[str, Stretch] = field(default_factory=dict)
    """``mailto:`` and ``tel:`` links inside the stretches (and nowhere else on the page), by href."""
    domains: dict[str, Stretch] = field(default_factory=dict)
    """Other registrable domains a credit links to: addresses on them are that party's."""


def attribute(layout: Layout, site_domain: str | None, own_names: str = "") -> Attribution:
    """The stretches of ``layout`` that show someone else's contacts, and why. ``own_names``: what the page
    calls the company (its title, its site name...), so that a credit to itself ("Website by Northgate
    Digital" on Northgate Digital's own site) is not taken for someone else's."""
    found = Attribution()
    lines = layout.lines
    if not lines:
        return found
    covered: set[int] = set()
    for index in _cue_lines(layout):
        if index not in covered:
            covered |= _credit(layout, index, site_domain, found, own_names.lower())
    for index, line in enumerate(lines):
        if (
            index not in covered
            and not line.footer
            and line.end - line.start >= _PROSE_CHARS
            and _in_reach(layout, line)
        ):
            text = layout.line_text(line)
            if ("@" in text or _DIGITS.search(text) or " at " in text.lower()) and _is_prose(text):
                _examples(layout, line, site_domain, found)
    _linked_sites(layout, site_domain, found)
    inside = {
        a.href
        for s in found.stretches
        for line in lines
        for a in line.anchors
        if s.start <= a.offset < s.end and a.href.lower().startswith(("mailto:", "tel:", "callto:"))
    }
    if inside:
        outside = {
            a.href
            for line in lines
            for a in line.anchors
            if a.href in inside and not any(s.start <= a.offset < s.end for s in found.stretches)
        }
        for href in inside - outside:
            offset = next(a.offset for line in lines for a in line.anchors if a.href == href)
            found.hrefs[href] = next(s for s in found.stretches if s.start <= offset < s.end)
    return found


def _in_reach(layout: Layout, line: Line) -> bool:
    """Whether a line is in the part of a page read for other parties: all of it, or the head and tail of a
    huge page (where its header and footer are; the middle of a huge page is a catalogue or an archive)."""
    return len(layout.text) <= 2 * _REACH or line.start < _REACH or line.end > len(layout.text) - _REACH


def _cue_lines(layout: Layout) -> list[int]:
    """Indices of the lines that may hold a credit: those with a cue word, and headings."""
    text = layout.text
    spans = [(0, len(text))] if len(text) <= 2 * _REACH else [(0, _REACH), (len(text) - _REACH, len(text))]
    hits: list[int] = []
    for low, high in spans:
        lowered = text[low:high].lower()
        for stem in _CUE_STEMS:
            at = lowered.find(stem)
            while at != -1:
                hits.append(low + at)
                at = lowered.find(stem, at + len(stem))
        for word in _BY_WORDS:
            at = lowered.find(word)
            while at != -1:
                end = at + len(word)
                if (at == 0 or not lowered[at - 1].isalnum()) and (end == len(lowered) or not lowered[end].isalnum()):
                    hits.append(low + at)
                at = lowered.find(word, end)
    starts = [line.start for line in layout.lines]
    found = {bisect.bisect_right(starts, at) - 1 for at in hits}
    titles = {
        index
        for index, line in enumerate(layout.lines)
        if line.heading and _in_reach(layout, line) and _PARTY_TITLE.match(layout.line_text(line))
    }
    return sorted(
        titles | {index for index in found - titles if index >= 0 and _cues(layout.line_text(layout.lines[index]))}
    )


def blank(text: str, stretches: list[Stretch]) -> str:
    """``text`` with the stretches replaced by spaces (line breaks kept): what the company itself offers."""
    if not stretches:
        return text
    chars = list(text)
    for stretch in stretches:
        for i in range(stretch.start, stretch.end):
            if chars[i] != "\n":
                chars[i] = " "
    return "".join(chars)


# --- credits ---------------------------------------------------------------------------------------------


def _credit(layout: Layout, index: int, site_domain: str | None, found: Attribution, own_names: str) -> set[int]:
    """Record the stretch a credit on line ``index`` covers, if the line holds one; the lines it covers."""
    line = layout.lines[index]
    text = layout.line_text(line)
    if line.heading and _PARTY_TITLE.match(text):
        return _section(layout, index, site_domain, found)
    for cue in _cues(text):
        after = text[cue.end :]
        prose = not line.footer and _is_prose(text)
        stop = _SCOPE_STOP.search(after)
        if stop:
            after = after[: stop.start()]
        end = line.start + cue.end + len(after)
        if prose:
            cut = _SENTENCE_END.search(after)
            end = line.start + cue.end + (cut.start() if cut else len(after))
        elif stop:
            pass  # the line goes on with the footer's next item: the credit ends here
        start = line.start + cue.end
        covered = {index}
        if not prose and not stop:
            end, covered = _following(layout, index, end, site_domain, _has_contacts(after, site_domain))
        links = _other_domains(layout, max(line.start, start - 40), end, site_domain)
        named = (bool(links) or _names_someone(layout.text[start:end])) and not _names_itself(
            layout.text[start:end], own_names
        )
        strict = cue.kind in ("generic", "inline")
        placed = line.footer or _last_lines(layout, index) or bool(links) or (not strict and len(text) <= _SHORT_LINE)
        if not (named and placed) or (prose and cue.kind == "generic" and not links):
            continue
        _record(found, Stretch(start, end, cue.reason, _context(text, cue.start, cue.end)), links)
        return covered
    return set()


def _last_lines(layout: Layout, index: int) -> bool:
    """One of the last lines of a page that has no footer element (where its footer is)."""
    lines = layout.lines
    return len(lines) >= 8 and index >= len(lines) - 2 and not any(line.footer for line in lines)


def _section(layout: Layout, index: int, site_domain: str | None, found: Attribution) -> set[int]:
    """A heading that announces other parties ("Our partners", "Hosting"): the lines under it, up to the next
    heading, are theirs."""
    lines = layout.lines
    covered = {index}
    heading = lines[index]
    text = layout.line_text(heading)
    end = heading.end
    for j in range(index + 1, min(len(lines), index + 1 + _SECTION_LINES)):
        line = lines[j]
        body = layout.line_text(line)
        if (
            line.heading
            or _COPYRIGHT.search(body)
            or _FIRST_PERSON.search(body)
            or line.footer != heading.footer
            or _shows_own_address(body, site_domain)
        ):
            break
        covered.add(j)
        end = line.end
    if len(covered) == 1 or not _names_someone(layout.text[heading.end : end]):
        return set()
    links = _other_domains(layout, heading.end, end, site_domain)
    reason = (
        HOSTING
        if re.search(_HOST_WORD, text, re.IGNORECASE)
        else CREDIT
        if re.search(r"cr[ée]dit|bildnachweis|colofon|webdesign", text, re.IGNORECASE)
        else PARTNER
    )
    _record(found, Stretch(heading.end, end, reason, " ".join(text.split())[:160]), links)
    return covered


def _record(found: Attribution, stretch: Stretch, links: set[str]) -> None:
    found.stretches.append(stretch)
    for domain in links:
        found.domains.setdefault(domain, stretch)


def _context(text: str, start: int, end: int) -> str:
    return " ".join(text[max(0, start - 20) : end + 100].split())[:160]


def _reason(cue: re.Match[str]) -> str:
    words = cue.group(0).lower()
    if cue.group("host") or cue.group("inline_host") or re.search(r"host|h[ée]berg|gehost", words):
        return HOSTING
    if cue.group("relation"):
        return PARTNER
    return CREDIT


def _names_itself(after: str, own_names: str) -> bool:
    """Does the name after a cue belong to the company itself (found in its title or site name)?"""
    words = re.findall(r"[^\W\d_]{2,}", after)[:2]
    return bool(words) and bool(own_names) and " ".join(words).lower() in own_names


def _names_someone(after: str) -> bool:
    """Does the text after a cue name a party other than the company: a name ("Northgate Digital", "OVH"),
    not "our team" or "hand"?"""
    rest = after.lstrip(" \t\n:：–—-·|•\"'“„«(")
    if not rest or not (rest[0].isupper() or rest[0].isdigit()):
        return False
    return _SELF.match(rest) is None


def _following(
    layout: Layout, index: int, end: int, site_domain: str | None, has_contacts: bool
) -> tuple[int, set[int]]:
    """How far a credit on line ``index`` reaches: the lines of its own block (``<br>``), then, if the credit
    line itself shows no contact, lines of sibling or inner blocks that hold nothing but contacts."""
    lines = layout.lines
    line = lines[index]
    covered = {index}
    for j in range(index + 1, min(len(lines), index + 1 + _FOLLOWING_LINES)):
        nxt = lines[j]
        text = layout.line_text(nxt)
        if (
            _cues(text)
            or _COPYRIGHT.search(text)
            or _FIRST_PERSON.search(text)
            or nxt.heading
            or (not _same_block(nxt, line) and _shows_own_address(text, site_domain))
        ):
            break
        same_block = nxt.blocks == line.blocks
        related = nxt.blocks[: len(line.blocks)] == line.blocks or nxt.blocks[:-1] == line.blocks[:-1]
        if not (same_block and len(text) <= _SHORT_LINE) and not (
            related and not has_contacts and _only_contacts(text, site_domain)
        ):
            break
        covered.add(j)
        end = nxt.end
    return end, covered


def _same_block(one: Line, other: Line) -> bool:
    return one.blocks == other.blocks


def _shows_own_address(text: str, site_domain: str | None) -> bool:
    """A line with an address on the site's own domain is the company's line, not a credit's."""
    return (
        "@" in text
        and site_domain is not None
        and any(
            e.endswith("@" + site_domain) or e.endswith("." + site_domain)
            for e in (clean_email(c, site_domain) for c in find_emails(text, site_domain))
            if e
        )
    )


def _has_contacts(text: str, site_domain: str | None) -> bool:
    return (
        any(clean_email(e, site_domain) for e in find_emails(text, site_domain))
        or next(digit_runs(text), None) is not None
    )


def _only_contacts(text: str, site_domain: str | None) -> bool:
    """A line of contacts and their labels only ("studio@northgate.design | T +44 20 7946 0321")."""
    rest = text
    emails = [e for e in find_emails(text, site_domain) if clean_email(e, site_domain)]
    for email in emails:
        rest = re.sub(re.escape(email), " ", rest, flags=re.IGNORECASE)
    runs = list(digit_runs(rest))
    if not emails and not runs:
        return False
    for start, stop in reversed(runs):
        rest = rest[:start] + " " + rest[stop:]
    rest = _CONTACT_LABELS.sub(" ", rest)
    words = re.findall(r"[^\W\d_]{2,}", rest)
    return len(words) <= 1


def _web_links(line: Line, site_domain: str | None) -> list[tuple[int, str]]:
    """``(offset, registrable domain)`` of the line's links to other sites (social profiles left out)."""
    links: list[tuple[int, str]] = []
    for anchor in line.anchors:
        href = anchor.href.lower()
        if not href.startswith(("http://", "https://", "//")) or any(social in href for social in _SOCIAL):
            continue
        domain = registrable_domain(anchor.href if not href.startswith("//") else "http:" + anchor.href)
        if domain and domain != site_domain:
            links.append((anchor.offset, domain))
    return links


def _other_domains(layout: Layout, start: int, end: int, site_domain: str | None) -> set[str]:
    """Registrable domains other than the site's that web links between ``start`` and ``end`` point to."""
    return {
        domain
        for line in layout.lines
        if line.end >= start and line.start <= end
        for offset, domain in _web_links(line, site_domain)
        if start <= offset < end
    }


def _linked_sites(layout: Layout, site_domain: str | None, found: Attribution) -> None:
    """An address on the domain of another site the page links to, on the address's line or a line near it,
    is that site's ("<a href=https://oakwood.co.uk>Oakwood</a>, sales@oakwood.co.uk"), credited or not."""
    lines = layout.lines
    for index, line in enumerate(lines):
        text = layout.line_text(line)
        if "@" not in text:
            continue
        low, high = max(0, index - _NEAR_LINES), min(len(lines) - 1, index + _NEAR_LINES)
        linked = {
            domain: near
            for near in lines[low : high + 1]
            for _, domain in _web_links(near, site_domain)
            if domain not in found.domains
        }
        if not linked:
            continue
        for candidate in find_emails(text, site_domain):
            email = clean_email(candidate, site_domain)
            domain = registrable_domain(email.split("@")[-1]) if email else None
            if domain in linked:
                near = linked[domain]
                found.domains[domain] = Stretch(
                    near.start, near.end, PARTNER, " ".join(layout.line_text(near).split())[:160]
                )


# --- examples in prose -----------------------------------------------------------------------------------


def _is_prose(text: str) -> bool:
    """Running text: a long line of many words with sentence punctuation, not a line of labels and values."""
    if len(text) < _PROSE_CHARS:
        return False
    words = text.split()
    return len(words) >= _PROSE_WORDS and any(ch in text for ch in ".!?,;")


def _examples(layout: Layout, line: Line, site_domain: str | None, found: Attribution) -> None:
    """Record the addresses and numbers that the sentences of a prose line talk about rather than offer."""
    text = layout.line_text(line)
    if (
        "@" not in text
        and " at " not in text.lower()
        and "[" not in text
        and "(" not in text
        and not any(ch.isdigit() for ch in text)
    ):
        return
    linked = _linked_values(line)
    start = 0
    for cut in [*_SENTENCE_END.finditer(text), None]:
        stop = cut.start() if cut else len(text)
        sentence = text[start:stop]
        tokens = sorted(_tokens(sentence, site_domain, linked))
        previous: tuple[int, str | None] | None = None
        for i, (begin, finish, email) in enumerate(tokens):
            # A sentence's words speak of the address or number they stand by: the part of the sentence from
            # the previous one to the next one ("our number used to be X; it is now Y": only X is old), and a
            # list ("such as X or Y") shares the first one's reading.
            low = tokens[i - 1][1] if i else 0
            high = tokens[i + 1][0] if i + 1 < len(tokens) else len(sentence)
            listed = previous is not None and _LIST_JOIN.fullmatch(sentence[previous[0] : begin]) is not None
            reason = _mention(sentence, begin, email, sentence[low:high])
            if (
                listed
                and previous is not None
                and previous[1] is not None
                and reason is None
                and not _OFFER_BEFORE.search(sentence[max(0, begin - 60) : begin])
            ):
                reason = previous[1]
            previous = (finish, reason)
            if reason is not None:
                found.stretches.append(
                    Stretch(
                        line.start + start + begin,
                        line.start + start + finish,
                        EXAMPLE,
                        " ".join(sentence.split())[:160],
                    )
                )
        start = cut.end() if cut else len(text)


def _mention(sentence: str, begin: int, email: str | None, part: str) -> str | None:
    """Why the address or number at ``begin`` is talked about rather than offered, or ``None`` (offered).
    ``part``: the stretch of the sentence that speaks of it."""
    before = sentence[max(0, begin - 60) : begin]
    if _OFFER_BEFORE.search(before) and not _NEGATION.search(before[-40:]):
        return None
    if _EXAMPLE_BEFORE.search(before) or _EXAMPLE_SENTENCE.search(part):
        return "example"
    # A bounded look back: the named party and its open parenthesis stand just before the contacts, and a search
    # from the start of the sentence for every value made reading a long page quadratic (seconds per page).
    if _SOURCE_PAREN.search(sentence[max(0, begin - SOURCE_LOOKBACK) : begin]):
        return "mentioned"  # "comes from Harrison Timber Ltd (orders@…, 0114 …)": that company's
    if email is not None and not _free_mail(email) and not _FIRST_PERSON.search(before):
        return "mentioned"  # another organisation's address, in a sentence that does not offer it
    return None


def _free_mail(email: str) -> bool:
    # (Imported here: the free-mail list lives with normalization, which scrape-only workers rarely need.)
    from leadworker.enrich.normalization import is_free_mail

    return is_free_mail(email.rsplit("@", 1)[-1])


def _linked_values(line: Line) -> set[str]:
    """E-mails and phone digits the line offers as ``mailto:`` and ``tel:`` links."""
    values: set[str] = set()
    for anchor in line.anchors:
        href = unquote(anchor.href).lower()
        if href.startswith("mailto:"):
            values.add(href[7:].split("?")[0].strip())
        elif href.startswith(("tel:", "callto:")):
            values.add("".join(ch for ch in href if ch.isdigit())[-8:])
    return values


def _tokens(sentence: str, site_domain: str | None, linked: set[str]) -> list[tuple[int, int, str | None]]:
    """Where a sentence shows an address (with it) or a digit run that may be a phone (``None``), except the
    site's own addresses and values the line also offers as a link."""
    tokens: list[tuple[int, int, str | None]] = []
    lowered = sentence.lower()
    for candidate in find_emails(sentence, site_domain):
        email = clean_email(candidate, site_domain)
        if email is None or email in linked or registrable_domain(email.split("@")[1]) == site_domain:
            continue
        at = lowered.find(email)
        tokens.append((at, at + len(email), email) if at >= 0 else (0, len(sentence), email))
    for begin, finish in digit_runs(sentence):
        digits = "".join(ch for ch in sentence[begin:finish] if ch.isdigit())
        if digits[-8:] not in linked:
            tokens.append((begin, finish, None))
    return tokens
