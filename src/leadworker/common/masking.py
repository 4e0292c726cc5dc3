"""Secrets out of text that is logged or printed: credentials in URLs, and secret-named values at any depth.

In a URL, what is masked:

- the userinfo's password (``amqp://user:***@host``). The userinfo ends at the *last* ``@`` before the host, so a
  password that contains ``@`` is masked whole rather than cut at its first ``@`` and half printed;
- a userinfo without a password (``https://***@host``): that is how tokens ride in URLs (``https://<token>@...``);
- the value of every query or fragment parameter whose name says it is a credential (``?token=``, ``?key=``,
  ``?sig=``, ``access_token``, ``api_key``, ``X-Amz-Signature``, ``password``, ``session``...).

A secret carried in a URL's path (some chat services put it there) cannot be told from a path and is not masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^\s/?#]*)@")
_CREDENTIAL_PARAM = re.compile(
    r"(?P<name>[?&;#][^=&;#\s]*?(?:token|key|sig|secret|pass|pwd|auth|credential|session)[^=&;#\s]*=)"
    r"(?P<value>[^&;#\s]+)",
    re.IGNORECASE,
)
_SECRET_KEYS = ("password", "passwd", "secret", "token", "authorization", "api_key", "apikey", "credential", "cookie")
_MAX_DEPTH = 16


def _mask_userinfo(match: re.Match[str]) -> str:
    user, colon, _password = match.group("userinfo").partition(":")
    return f"{match.group('scheme')}{user + ':' if colon else ''}{MASK}@"


def mask_text(text: str) -> str:
    """``text`` with the credentials of every URL in it masked (see the module's docstring)."""
    if "@" in text:
        text = _USERINFO.sub(_mask_userinfo, text)
    if "=" in text:
        text = _CREDENTIAL_PARAM.sub(rf"\g<name>{MASK}", text)
    return text


def mask_url(url: str) -> str:
    """``url`` safe to log or print: password, userinfo token and credential parameters masked."""
    return mask_text(url)


def is_secret_key(key: object) -> bool:
    """Whether a value stored under ``key`` (a log field, a JSON member) is a secret by its name."""
    name = str(key).lower()
    return any(s in name for s in _SECRET_KEYS)


def mask_value(value: Any, _depth: int = 0) -> Any:
    """``value`` with every string masked and every secret-named member hidden, however deeply nested in
    mappings, lists, tuples and sets. Containers are copied, never changed in place: a logged value may be
    a live object of the caller's."""
    if isinstance(value, str):
        return mask_text(value)
    if not isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return value
    if _depth >= _MAX_DEPTH:
        return "<nested too deep to log>"
    if isinstance(value, Mapping):
        return {k: MASK if is_secret_key(k) and v is not None else mask_value(v, _depth + 1) for k, v in value.items()}
    items = [mask_value(v, _depth + 1) for v in value]
    return items if isinstance(value, list) else tuple(items)
