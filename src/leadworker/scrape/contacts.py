"""E-mail addresses and phone numbers in text: finding them, and telling them from decoys.

E-mails: plain addresses, and the obfuscations people write to fool harvesters: ``info [at] acme [dot] com``,
``info(at)acme(dot)com``, ``info{at}acme{dot}com``, ``info at acme dot com``, ``info @ acme . com``, in a
few languages (``[ät]``, ``[punkt]``, ``[point]``...). ``info at acme.com`` (real dots, a bare " at ") is
ambiguous in prose ("find us at acme.com"), so it counts only for the site's own domain and a local part that
is not an English word. Rejected: asset names (``logo@2x.png``), placeholders (``name@example.com``,
``you@yourcompany.com``), tracking ids, hosts without a public suffix.

Phones: phonenumbers' matcher, run only around digit runs (fast on long pages), with a region hint for
national formats (``020 7946 0958``), ``+CC`` and ``00CC`` prefixes, ``(0)`` trunk notation and extensions
(``ext. 12``, ``x12``, ``#12``, ``Durchwahl 12``, ``poste 12``). Decoys are masked before matching (IBANs,
glued VAT ids, dates, year ranges, times, versions, prices, coordinates) or rejected by the words just
before the number (order, invoice, VAT, registration, customer number...). A number must be valid for its
region, not just possible, and have at least seven digits.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from urllib.parse import unquote

import phonenumbers

from leadworker.common.domains import has_public_suffix, registrable_domain, split_host

# --- e-mails ---------------------------------------------------------------------------------------------

_LOCAL = r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"(?<![\w.%+-])({_LOCAL}@{_LABEL}(?:\.{_LABEL})+)")
_EMAIL_WITH_APOSTROPHE = re.compile(
    rf"(?<![\w.%+-])([A-Za-z0-9](?:[A-Za-z0-9._%+-]|'(?=[A-Za-z0-9])){{0,63}}@{_LABEL}(?:\.{_LABEL})+)"
)
""":data:`_EMAIL` with an apostrophe inside a name (``sean.o'brien@``), tried only where one stands before an
``@``: cut at the apostrophe, the address would be another (``brien@``)."""
_ATEXT_LOCAL = re.compile(r"[a-z0-9](?:[a-z0-9!#%&'+=^_~.-]*[a-z0-9])?")
"""A local part as a ``mailto:`` link or a JSON-LD ``email`` may hold it whole: the characters RFC 5322 allows
unquoted (``o'brien``, ``a=b``), less those that mark a template's placeholder rather than a mailbox
(``{{user}}``, ``${email}``, ``*``, ``?``, ``/``, ``|``, `````), starting and ending with a letter or digit.
Text is searched with the narrower :data:`_EMAIL`."""
_LOCAL_OR_DOT = frozenset(".%+-")  # with the word characters: what the lookbehind of _EMAIL rejects

_AT_WORDS = r"(?:at|ät|@|arobase|at-sign|at sign|klammeraffe|apenstaartje|chiocciola|arroba)"
_DOT_WORDS = r"(?:dot|punkt|point|punto|punt|ponto|period|\.)"
_OPEN, _CLOSE = r"[\[\(\{<«]", r"[\]\)\}>»]"
# The bracketed forms start at the bracket, not at the whitespace before it: a pattern that starts with
# ``\s*`` is tried at every position of the text (slow on big pages, quadratic on long runs of spaces).
# The whitespace around a match goes with it: see _replace_stripped.
_BRACKETED_AT = re.compile(rf"{_OPEN}\s*{_AT_WORDS}\s*{_CLOSE}", re.IGNORECASE)
_BRACKETED_DOT = re.compile(rf"{_OPEN}\s*{_DOT_WORDS}\s*{_CLOSE}", re.IGNORECASE)
_SPACED_DOT = re.compile(r"(?<=\w) \. (?=\w)")
# "info at acme dot co dot uk", "info @ acme dot com": a spelled-out dot makes it unambiguous; with real
# dots only ("info at acme.com") it may be prose, see find_emails.
# A plain dot joins labels when it has no space after it ("acme.com", "acme .com") or spaces on both sides
# ("acme . com"); a dot, then a space or a line break, ends a sentence ("… DOT com. Phone: …"). A spelled-out
# " at " stays on its line.
_WORDY = re.compile(
    rf"(?<![\w.+-])({_LOCAL})([^\S\n]+(?:at|AT|At)[^\S\n]+|\s*@\s*)"
    rf"({_LABEL}(?:(?:\s+(?:dot|DOT|Dot)\s+|[^\S\n]*\.(?!\s)|[^\S\n]+\.[^\S\n]+){_LABEL})+)(?![\w@-])"
)
_WORDY_DOT = re.compile(r"\s+(?:dot|DOT|Dot)\s+|\s*\.\s*")
_MAILBOX_WORDS = frozenset(
    {
        "info",
        "contact",
        "hello",
        "hi",
        "sales",
        "office",
        "support",
        "admin",
        "mail",
        "email",
        "kontakt",
        "enquiries",
        "enquiry",
        "inquiries",
        "team",
        "service",
        "services",
        "bookings",
        "booking",
        "reception",
        "orders",
        "post",
        "help",
        "billing",
        "accounts",
        "careers",
        "jobs",
        "press",
        "marketing",
        "bonjour",
        "contacto",
        "info.de",
        "welcome",
        "studio",
        "hallo",
        "verkauf",
        "vertrieb",
        "buero",
        "praxis",
    }
)
_LOOSE_STOPWORDS = frozenset(
    {
        "us",
        "me",
        "we",
        "you",
        "him",
        "her",
        "them",
        "it",
        "is",
        "are",
        "was",
        "be",
        "here",
        "there",
        "home",
        "work",
        "online",
        "available",
        "located",
        "based",
        "find",
        "found",
        "visit",
        "open",
        "sale",
        "look",
        "arrive",
        "stay",
        "meet",
        "see",
        "book",
        "now",
        "today",
        "only",
        "also",
        "and",
        "or",
        "the",
        "a",
        "an",
        "everything",
        "anything",
        "best",
        "fun",
        "shop",
        "buy",
        "order",
        "live",
        "join",
        "follow",
        "read",
        "more",
        "info?",
        "hosted",
        "published",
        "listed",
        "sold",
        "made",
        "built",
        "designed",
    }
)

_ASSET_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".svg",
    ".webp",
    ".avif",
    ".ico",
    ".bmp",
    ".tif",
    ".tiff",
    ".heic",
    ".css",
    ".js",
    ".mjs",
    ".map",
    ".json",
    ".xml",
    ".woff",
    ".woff2",
    ".ttf",
    ".eot",
    ".otf",
    ".mp4",
    ".webm",
    ".mp3",
    ".wav",
    ".ogg",
    ".mov",
    ".pdf",
    ".zip",
    ".gz",
    ".php",
    ".html",
    ".htm",
)
_PLACEHOLDER_LOCAL = frozenset(
    {
        "name",
        "yourname",
        "your.name",
        "your_name",
        "your-name",
        "you",
        "your",
        "youremail",
        "your.email",
        "your-email",
        "your_email",
        "yourmail",
        "youremailaddress",
        "emailaddress",
        "email.address",
        "user",
        "username",
        "user.name",
        "someone",
        "somebody",
        "john.doe",
        "jane.doe",
        "johndoe",
        "janedoe",
        "j.doe",
        "jdoe",
        "firstname",
        "first.last",
        "firstname.lastname",
        "first_last",
        "firstname_lastname",
        "name.surname",
        "firstname.surname",
        "vorname.nachname",
        "vorname",
        "nachname",
        "max.mustermann",
        "mustermann",
        "maxmustermann",
        "erika.mustermann",
        "prenom.nom",
        "prénom.nom",
        "voornaam.achternaam",
        "nome.cognome",
        "nombre.apellido",
        "test",
        "testing",
        "example",
        "sample",
        "foo",
        "bar",
        "foobar",
        "xxx",
        "xyz",
        "abc",
        "abc123",
        "dummy",
        "placeholder",
        "changeme",
    }
)
_PLACEHOLDER_DOMAINS = frozenset(
    {
        "domain.com",
        "email.com",
        "mail.com",
        "company.com",
        "website.com",
        "site.com",
        "sentry.io",
        "sentry-next.wixpress.com",
        "sentry.wixpress.com",
        "wixpress.com",
        "test.com",
        "sample.com",
        "mustermann.de",
        "muster.de",
        "musterfirma.de",
        "domain.tld",
        "email.tld",
        "company.tld",
    }
)
_PLACEHOLDER_NAMES = frozenset(
    {
        "example",
        "exemple",
        "beispiel",
        "voorbeeld",
        "esempio",
        "ejemplo",
        "yourdomain",
        "your-domain",
        "yoursite",
        "your-site",
        "yourwebsite",
        "your-website",
        "yourcompany",
        "your-company",
        "yourbusiness",
        "mydomain",
        "my-domain",
        "mysite",
        "mycompany",
        "placeholder",
        "domain",
        "email-address",
        "musterfirma",
        "firma-beispiel",
        "address",
        "emailaddress",
        "mailaddress",
        "somewhere",
        "someplace",
        "company",
        "website",
        "site",
        "email",
        "mail",
        "yourmail",
        "youremail",
        "xxx",
        "xyz",
    }
)
_PLACEHOLDER_SUFFIXES = ("example", "invalid", "localhost", "local", "tld")


def clean_email(candidate: str, site_domain: str | None = None) -> str | None:
    """Lower-case ``candidate`` and return it if it is a plausible real address, else ``None``.

    An address on the page's own registrable domain (``site_domain``) is never a placeholder for its domain,
    even under a reserved name (a staging site on ``acme.example``)."""
    email = unquote(candidate).strip().strip(".,;:!?'\"()<>[]{}").lower()
    if email.startswith("mailto:"):
        email = email[7:]
    if email.count("@") != 1 or len(email) > 254:
        return None
    local, domain = email.split("@")
    if not local or not domain or ".." in email or local.startswith(".") or local.endswith("."):
        return None
    if not _ATEXT_LOCAL.fullmatch(local) or not re.fullmatch(r"[a-z0-9.-]+", domain):
        return None
    if email.endswith(_ASSET_SUFFIXES) or re.search(r"@\d+(?:\.\d+)?x\b", email):
        return None
    if re.fullmatch(r"[0-9a-f]{20,}", local) or re.fullmatch(r"\d+", local):  # tracking ids, not mailboxes
        return None
    if local in _PLACEHOLDER_LOCAL:
        return None
    _, name, suffix = split_host(domain)
    if not name or not suffix:
        return None
    own = site_domain is not None and f"{name}.{suffix}" == site_domain
    if not own and (
        domain in _PLACEHOLDER_DOMAINS
        or name in _PLACEHOLDER_NAMES
        or suffix.rsplit(".", 1)[-1] in _PLACEHOLDER_SUFFIXES
    ):
        return None
    if any(label.startswith("-") or label.endswith("-") for label in domain.split(".")):
        return None
    if re.fullmatch(r"[\d.]+", domain) or not has_public_suffix(domain):
        return None
    return email


def deobfuscate(text: str) -> str:
    """``info [at] acme [dot] com`` → ``info@acme.com`` (bracketed and spaced-sign forms only)."""
    if "@" not in text and not any(c in text for c in "[({<«"):
        return text
    text = _replace_stripped(_BRACKETED_AT, "@", text)
    text = _replace_stripped(_BRACKETED_DOT, ".", text)
    if "@" not in text:
        return text
    text = _close_spaced_at_signs(text)
    return _SPACED_DOT.sub(".", text) if " . " in text else text


def _replace_stripped(pattern: re.Pattern[str], replacement: str, text: str) -> str:
    """``pattern``'s matches replaced, and the whitespace on either side of each match removed."""
    pieces = pattern.split(text)
    if len(pieces) == 1:
        return text
    last = len(pieces) - 1
    return replacement.join(
        piece.rstrip() if i == 0 else piece.lstrip() if i == last else piece.strip() for i, piece in enumerate(pieces)
    )


def _close_spaced_at_signs(text: str) -> str:
    """``info @ acme.com``, ``info@ acme.com``, ``info @acme.com`` → ``info@acme.com``: whitespace next to an
    ``@`` that stands between two word characters is removed."""
    pieces = text.split("@")
    for i in range(len(pieces) - 1):
        left, right = pieces[i].rstrip(), pieces[i + 1].lstrip()
        if (
            (len(left) != len(pieces[i]) or len(right) != len(pieces[i + 1]))
            and left
            and right
            and _is_word_char(left[-1])
            and _is_word_char(right[0])
        ):
            pieces[i], pieces[i + 1] = left, right
    return "@".join(pieces)


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"  # what ``\w`` matches


def _plain_emails(text: str) -> Iterator[str]:
    """``_EMAIL.finditer(text)``, tried only where an address can start: at the beginning of the run of
    address characters before each ``@`` (the lookbehind allows no other start). Scanning the whole text
    with the pattern costs a step per character, which shows on big pages with a single address."""
    end = 0
    at = text.find("@")
    while at != -1:
        start, pattern = at, _EMAIL
        while start > end:
            before = text[start - 1]
            if before == "'" and start - 1 > end and text[start - 2].isalnum() and text[start].isalnum():
                pattern = _EMAIL_WITH_APOSTROPHE
            elif before not in _LOCAL_OR_DOT and not _is_word_char(before):
                break
            start -= 1
        if start >= end:
            match = pattern.match(text, start)
            if match is not None:
                yield match.group(1)
                end = match.end()
        at = text.find("@", max(at + 1, end))


def find_emails(text: str, site_domain: str | None = None) -> Iterator[str]:
    """Plain and obfuscated addresses in ``text`` (not yet cleaned: pass them through :func:`clean_email`).

    ``site_domain`` (the registrable domain of the page) admits the ambiguous ``info at acme.com`` form for
    that domain only.
    """
    if "＠" in text or "﹫" in text:  # full-width and small at signs
        text = text.replace("＠", "@").replace("﹫", "@")
    yield from _plain_emails(deobfuscate(text))
    lowered = text.lower()
    if " at " not in lowered and " dot " not in lowered and "[" not in text and "(" not in text and "{" not in text:
        return
    wordy = _replace_stripped(_BRACKETED_AT, " at ", _replace_stripped(_BRACKETED_DOT, " dot ", text))
    for match in _WORDY.finditer(wordy):
        local, at, domain = match.group(1), match.group(2), match.group(3)
        labels = [label for label in _WORDY_DOT.split(domain) if label]
        email = f"{local}@{'.'.join(labels)}"
        if " dot " in domain.lower():
            yield email  # a spelled-out dot: nobody writes prose like that
        elif at.strip() != "@" and _loose_ok(local, ".".join(labels), site_domain):
            yield email


def _loose_ok(local: str, domain: str, site_domain: str | None) -> bool:
    """``local at domain.tld``: an address, or prose ("find us at acme.com", "tickets at booking.com")?"""
    lowered = local.lower()
    if lowered in _LOOSE_STOPWORDS:
        return False
    if site_domain and registrable_domain(domain.lower()) == site_domain:
        return True
    return lowered in _MAILBOX_WORDS or any(ch in lowered for ch in "._") or any(ch.isdigit() for ch in lowered)


def decode_cfemail(encoded: str) -> str | None:
    """Decode Cloudflare's e-mail protection (``data-cfemail`` / ``/cdn-cgi/l/email-protection#...``)."""
    try:
        data = bytes.fromhex(encoded.strip())
    except ValueError:
        return None
    if len(data) < 4:
        return None
    key = data[0]
    try:
        return bytes(b ^ key for b in data[1:]).decode("utf-8")
    except UnicodeDecodeError:
        return None


# --- phones ----------------------------------------------------------------------------------------------

_MIN_DIGITS = 7
_MAX_PHONE_TEXT = 400_000
_MASK_CHAR = "|"

# Decoy patterns grouped under a shorter pattern that every match of theirs contains: most snippets lack the
# short one, and a pattern that starts with a character class is searched for much faster than one that
# starts with \b or a lookbehind (tried at every position). A group without a hint always runs.
_DECOY_PATTERNS = [
    (
        re.compile(hint, re.IGNORECASE) if hint else None,
        tuple(re.compile(pattern, re.IGNORECASE) for pattern in patterns),
    )
    for hint, patterns in (
        (
            r"[A-Z]{2}\d{2}",
            (
                r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b",  # IBAN
            ),
        ),
        (
            r"\d{8}",
            (
                r"\b(?:ATU|CHE|[A-Z]{2})-?\d{8,12}(?:[A-Z]\d{1,3})?\b",  # glued VAT ids
                r"(?<![\d+])(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)",  # 20240115
            ),
        ),
        (
            r"\d{4}[-/.]\d",
            (
                r"(?<![\d.])(?:1[89]|20)\d{2}[-/.]\d{1,2}[-/.]\d{1,2}(?![\d])",  # 2023-10-05
            ),
        ),
        (
            r"[-/.]\d{4}",
            (
                r"(?<![\d.])\d{1,2}[-/.]\d{1,2}[-/.](?:1[89]|20)\d{2}(?![\d.])",  # 05.10.2023, 10/05/2023
            ),
        ),
        (
            r"\d{4}\s*[-–—/]",
            (
                r"(?<!\d)(?:1[89]|20)\d{2}\s*[-–—/]\s*(?:1[89]|20)?\d{2}(?!\d)",  # 1998-2024, 2023/24
            ),
        ),
        (
            r"\d[:h]\d\d",
            (
                r"(?<![\d:])\d{1,2}[:h]\d{2}(?:[:]\d{2})?(?:\s*(?:am|pm|uhr|h)\b)?"  # 08:00, 9h30
                r"(?:\s*(?:[-–—]|to|bis|à)\s*\d{1,2}[:h]\d{2}(?:\s*(?:am|pm|uhr|h)\b)?)?",
            ),
        ),
        (
            r"\d\.\d",
            (
                r"\bv(?:er(?:sion)?)?\.?\s?\d+(?:\.\d+)+[a-z0-9-]*",  # v2.4.1, version 1.2
                r"(?<![\w.+])\d{1,3}(?:\.\d{1,3}){2,3}(?![\w.])",  # 2.4.1, 10.0.0.1
            ),
        ),
        (
            None,
            (  # no hint cheaper than the pattern itself
                r"(?:[$€£¥₹]|\b(?:EUR|USD|GBP|CHF|AUD|CAD|NZD|SEK|NOK|DKK)\b)\s?"
                r"\d{1,3}(?:[.,' ]\d{3})*(?:[.,]\d{1,2})?(?!\d)",  # €1,995.00
            ),
        ),
        (
            r"\d\s?(?:[$€£¥₹]|EUR|USD|GBP|CHF|AUD|CAD|NZD|SEK|NOK|DKK)",
            (
                r"(?<![\d.,])\d{1,3}(?:[.,' ]\d{3})*(?:[.,]\d{1,2})?\s?"
                r"(?:[$€£¥₹]|EUR|USD|GBP|CHF|AUD|CAD|NZD|SEK|NOK|DKK)(?!\w)",  # 1.234,56 €
            ),
        ),
        (
            r"\.\d{4}",
            (
                r"(?<![\d.,+])-?\d{1,3}\.\d{4,}\s*[,;/ ]\s*-?\d{1,3}\.\d{4,}(?![\d.])",  # 53.55108, 9.99370
            ),
        ),
        (
            r"ISBN",
            (
                r"\bISBN(?:-1[03])?:?\s*[\d-]{10,17}",  # ISBN
            ),
        ),
    )
]

_CANDIDATE = re.compile(r"(?<![\w+])(?:\+\s?|\(\+?)?\(?\d[\d \u00a0\u202f\t().\/\-–‐]{4,}\d")
# "0049 30 ..." is "+49 30 ...", but "00" inside a number ("01 23 45 00 15") is not a prefix.
_IDD_00 = re.compile(r"(?<![\w+\d])(?<!\d )(?<!\d-)(?<!\d\.)(?<!\d/)00(?=\s?[1-9]\d)")
_EXTRA_EXTENSION = re.compile(
    r"^\s*[,;/]?\s*(?:durchwahl|dw\.?|nebenstelle|apparat|app\.|poste|toestel|tst\.?|interno|int\.|"
    r"extension|ext\.?|ext|x)\s*[:.]?\s*(\d{1,6})\b",
    re.IGNORECASE,
)

_GOOD_WORDS = re.compile(
    r"^(?:tel|tél|tele|telephone|téléphone|telefon|telefoon|teléfono|telefono|telf|phone|phones|ph|fon|"
    r"fone|call|calls|dial|ring|fax|telefax|mobile|mobil|mob|cell|cellphone|handy|gsm|whatsapp|hotline|"
    r"freephone|freecall|tollfree|toll-free|helpline|switchboard|zentrale|durchwahl|direct|direkt|"
    r"contact|kontakt|reach|enquiries|inquiries|reservations|bookings|emergency|emergencies|office|"
    r"landline|bookings|t|p|m|f|☎|📞|📱|☏|✆)$",
    re.IGNORECASE,
)
_BAD_WORDS = re.compile(
    r"^(?:order|orders|bestellung|bestellnummer|bestell-nr|bestellnr|auftrag|auftragsnummer|auftragsnr|"
    r"commande|bestelling|pedido|ordine|invoice|invoices|rechnung|rechnungsnummer|rechnungs-nr|rechnungsnr|"
    r"facture|factuur|fattura|factura|receipt|quittung|beleg|ref|réf|reference|referenz|referentie|ticket|"
    r"case|sku|art|art-nr|artnr|artikel|artikelnummer|item|product|produkt|isbn|ean|gtin|upc|iban|bic|"
    r"swift|blz|sort|routing|account|acct|konto|kontonummer|kto|vat|ust|ust-id|ust-idnr|ustid|ust-idnr|"
    r"umsatzsteuer|umsatzsteuer-id|tva|btw|btw-nummer|mwst|moms|iva|nif|cif|tax|taxid|steuer|steuernummer|"
    r"steuer-nr|st-nr|stnr|siret|siren|rcs|naf|ape|kvk|kvk-nummer|handelsregister|abn|acn|ein|ssn|duns|"
    r"hrb|hra|registergericht|amtsgericht|registernummer|registry|reg|registration|crn|license|licence|lic|"
    r"permit|policy|serial|model|part|version|ver|build|release|tracking|shipment|parcel|sendung|"
    r"sendungsnummer|zip|postcode|plz|postfach|kundennummer|kunden-nr|kundennr|mitgliedsnummer|patent|fig|"
    r"page|seite|isin|wkn|lot|batch|ident|identifier|code|pin|password|coordinates|gps|founded|established|"
    r"since|seit|depuis|copyright|©|price|preis|prix|qty|quantity|employees|imei|vin|flight|voucher|"
    r"coupon|gutschein|barcode|matricule|tin|utr|nino|versicherungsnummer|chamber|commerce|bankleitzahl)$",
    re.IGNORECASE,
)
_NUMBER_WORDS = re.compile(r"^(?:no|nr|nº|n°|num|number|numbers|nummer|numéro|numero|núm|#|id)$", re.IGNORECASE)
# Where the words before a number stop belonging to it: a separator, or the end of a sentence (not of an
# abbreviation such as "Tel. No.").
_TAIL_CUT = re.compile(r"[·•|;\n\r\t]|\s{2,}|(?<=[a-zäöüß]{4})[.!?]\s+(?=[A-ZÄÖÜ\d(+]|$)")


def format_phone(number: phonenumbers.PhoneNumber) -> str:
    """E.164, with an extension as ``;ext=NNN`` (RFC 3966) when the number has one."""
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


def parse_phone_value(raw: str, region: str | None) -> str | None:
    """A phone from a ``tel:`` link or structured data (possible for its region), else ``None``."""
    text = unquote(raw).strip()
    if text.lower().startswith(("tel:", "callto:", "phone:")):
        text = text.split(":", 1)[1]
    text = text.split("?")[0].strip()
    if not text or sum(ch.isdigit() for ch in text) < _MIN_DIGITS:
        return None
    text = _IDD_00.sub("+", text.lstrip(), count=1) if text.lstrip().startswith("00") else text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return format_phone(number)


def mask_decoys(text: str) -> str:
    """``text`` with decoy numbers (IBANs, dates, versions, prices...) blanked out, same length."""
    if not any(ch.isdigit() for ch in text):
        return text
    chars: list[str] | None = None
    for hint, patterns in _DECOY_PATTERNS:
        if hint is not None and hint.search(text) is None:
            continue
        for pattern in patterns:
            for match in pattern.finditer(text):
                if chars is None:
                    chars = list(text)
                chars[match.start() : match.end()] = _MASK_CHAR * (match.end() - match.start())
    return "".join(chars) if chars is not None else text


@functools.lru_cache(maxsize=8192)
def _mask_snippet(snippet: str) -> str:
    return mask_decoys(snippet)


def _label_verdict(before: str) -> bool | None:
    """What the words just before a number say: ``True`` a phone, ``False`` a decoy, ``None`` nothing.

    The nearest words decide: "Phone number:" is a phone, "Customer number:" or "No." is not, "Order #" is
    not; a label further back than another value ("Emergency: 911 Customer number: ...") is not this
    number's label.
    """
    cuts = list(_TAIL_CUT.finditer(before))
    tail = before[cuts[-1].end() :] if cuts else before
    words = [w.strip(":#.()-[]*\"'") for w in re.split(r"[\s/]+", tail) if w.strip(":#.()-[]*\"'")]
    words = words[-4:]
    if not words:
        return True if before.rstrip().endswith(("☎", "📞")) else None
    if _NUMBER_WORDS.match(words[-1]):
        # "<label> number:": a phone if the label says so, anything else is an id
        return len(words) >= 2 and bool(_GOOD_WORDS.match(words[-2]))
    if before.rstrip().endswith("#"):
        return bool(_GOOD_WORDS.match(words[-1]))
    for word in reversed(words):
        if any(ch.isdigit() for ch in word):
            return None  # another value stands between: whatever precedes it labels that one
        if _GOOD_WORDS.match(word):
            return True
        if _BAD_WORDS.match(word):
            return False
    return None


def _with_idd_as_plus(text: str) -> str:
    return _IDD_00.sub(" +", text) if "00" in text else text


_MARGIN = 60
"""Text around a digit run that decides about it: its label, its extension, a decoy it is part of."""


@functools.lru_cache(maxsize=8192)
def _phones_in_snippet(snippet: str, core_start: int, core_end: int, region: str | None) -> tuple[str, ...]:
    """The phones of the digit runs that start in ``snippet[core_start:core_end]``.

    Pages of a site repeat their header and footer, so the same snippets come back page after page: cached.
    The masking is cached apart, as it does not depend on the region: a site whose region is inferred
    after its pages were read has its snippets read again with that region.
    """
    masked = _mask_snippet(snippet)
    found: list[str] = []
    for candidate in _CANDIDATE.finditer(masked, core_start):
        if candidate.start() >= core_end:
            break
        if sum(ch.isdigit() for ch in candidate.group(0)) < _MIN_DIGITS:
            continue
        start = max(0, candidate.start() - 2)
        window = _with_idd_as_plus(masked[start : candidate.end() + 24])  # room for "ext. 1234"
        run_end = candidate.end() - start  # matches must start in this run; later ones get their own turn
        if region is None and "+" not in window[:run_end]:
            continue  # without a region only "+CC" numbers parse, and a run has a "+" only at its start
        for match in _run_matches(masked, candidate, window, run_end, region):
            formatted = _phone_of_match(masked, match, start, candidate.end())
            if formatted is not None and formatted not in found:
                found.append(formatted)
    return tuple(found)


def _run_matches(
    masked: str, candidate: re.Match[str], window: str, run_end: int, region: str | None
) -> list[phonenumbers.PhoneNumberMatch]:
    """phonenumbers' matches that start in the digit run ``candidate`` (``window`` is the text around it,
    starting ``run_end`` characters before the run ends)."""
    try:
        matches = [
            m
            for m in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID)
            if m.start < run_end
        ]
        if not matches and _possible_is_enough(
            candidate.group(0), masked[max(0, candidate.start() - 48) : candidate.start()]
        ):
            # Labelled as a phone ("Tel:", "Mobile:") or written with +CC, but outside the ranges
            # phonenumbers knows as allocated (fictional ones such as 07700 900xxx): possible is enough.
            matches = [
                m
                for m in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.POSSIBLE)
                if m.start < run_end and not _dummy(m.number)
            ]
    except Exception:  # phonenumbers' matcher on odd input: skip this candidate, never the page
        return []
    return matches


def _phone_of_match(masked: str, match: phonenumbers.PhoneNumberMatch, start: int, run_end: int) -> str | None:
    """The formatted phone of a match in the window at ``start`` of ``masked``, with an extension written
    after it; ``None`` if it is not this run's or its label says it is not a phone."""
    raw = match.raw_string
    absolute = start + match.start
    if absolute >= run_end or sum(ch.isdigit() for ch in raw) < _MIN_DIGITS:
        return None  # a number of the text after this run gets its own turn
    if _label_verdict(masked[max(0, absolute - 48) : absolute]) is False:
        return None
    number = match.number
    end = start + match.end
    if not number.extension:
        extra = _EXTRA_EXTENSION.match(masked[end : end + 24])
        if extra and not masked[end : end + 3].lstrip().startswith("("):
            number.extension = extra.group(1)
    return format_phone(number)


def _possible_is_enough(run: str, before: str) -> bool:
    verdict = _label_verdict(before)
    return verdict is True or (verdict is None and run.lstrip("(").startswith("+"))


def _dummy(number: phonenumbers.PhoneNumber) -> bool:
    """``123-456-7890``, ``555-5555``, ``000 000 0000``: filler, not a number."""
    digits = str(number.national_number)
    return len(set(digits)) <= 2 or digits in "01234567890123456789" or digits in "9876543210987654321"


def _phone_text(text: str) -> str:
    """The part of a page's text phones are read from: all of it, or the head and tail of a huge page
    (contacts sit in headers and footers; the middle of a huge page is content)."""
    if len(text) <= _MAX_PHONE_TEXT:
        return text
    half = _MAX_PHONE_TEXT // 2
    return text[:half] + "\n" + text[-half:]


def digit_runs(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of the runs of digits and separators in ``text`` long enough to be a phone number
    (whether one is, a region decides: see :func:`find_phones`)."""
    for candidate in _CANDIDATE.finditer(text):
        if sum(ch.isdigit() for ch in candidate.group(0)) >= _MIN_DIGITS:
            yield candidate.start(), candidate.end()


def find_phones(text: str, region: str | None) -> Iterator[str]:
    """Phone numbers in ``text``, valid for ``region`` (national formats) or by their own ``+CC``.

    Only the text around digit runs is looked at (masked for decoys, matched, labelled), which keeps long
    pages cheap.
    """
    text = _phone_text(text)
    seen: set[str] = set()
    for candidate in _CANDIDATE.finditer(text):
        if sum(ch.isdigit() for ch in candidate.group(0)) < _MIN_DIGITS:
            continue
        low = max(0, candidate.start() - _MARGIN)
        snippet = text[low : candidate.end() + _MARGIN]
        core = candidate.start() - low
        for phone in _phones_in_snippet(snippet, core, core + 1, region):
            if phone not in seen:
                seen.add(phone)
                yield phone


# --- regions ---------------------------------------------------------------------------------------------

_NATIONAL_CANDIDATE = re.compile(r"(?<![\w+\d])\(?0?\d[\d \u00a0().\/\-–]{5,18}\d(?![\d])")
COMMON_REGIONS = (
    "US",
    "GB",
    "DE",
    "FR",
    "NL",
    "AU",
    "CA",
    "IT",
    "ES",
    "CH",
    "AT",
    "BE",
    "IE",
    "NZ",
    "SE",
    "DK",
    "NO",
    "PL",
    "IN",
    "ZA",
)


def national_candidates(text: str, limit: int = 60) -> list[str]:
    """Digit runs written without a ``+CC``: the strings whose country a region hint decides (read from the
    same text as :func:`find_phones`)."""
    text = _phone_text(text)
    found: list[str] = []
    for match in _NATIONAL_CANDIDATE.finditer(text):
        raw = match.group(0)
        digits = sum(ch.isdigit() for ch in raw)
        if not _MIN_DIGITS <= digits <= 13 or raw.lstrip("(").startswith("00"):
            continue
        low = max(0, match.start() - _MARGIN)
        masked = _mask_snippet(text[low : match.end() + 20])
        if masked[match.start() - low : match.end() - low] != raw:
            continue  # part of a decoy (a date, an IBAN...)
        found.append(raw)
        if len(found) >= limit:
            break
    return found


def score_regions(candidates: Iterable[str], regions: Iterable[str]) -> Counter[str]:
    """How well each region explains ``candidates``: a point for a valid number, two when the region's own
    national format groups a possible number's digits the way the page wrote them (``(02) 9876 5432`` is
    Australian, ``030 9876543`` German, though both are valid in both)."""
    scores: Counter[str] = Counter()
    unique = list(dict.fromkeys(candidates))
    for region in regions:
        for raw in unique:
            try:
                number = phonenumbers.parse(raw, region)
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_possible_number(number):
                continue
            if phonenumbers.is_valid_number(number):
                scores[region] += 1
            national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
            if re.findall(r"\d+", national) == re.findall(r"\d+", raw):
                scores[region] += 2
    return scores


def region_of_phone(phone: str) -> str | None:
    """The region of an E.164 number (``+44...`` → ``GB``), if it has one."""
    try:
        number = phonenumbers.parse(phone.split(";", 1)[0], None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.region_code_for_number(number)
