"""Credentials out of every URL, message and log line the store produces.

`redact_url` masks the user:password of a URL and the values of query (and fragment) parameters
whose names look like secrets (X-Amz-Signature, X-Amz-Credential, token, sig, password, secret,
api_key, ...). `redact` does the same to every URL inside a text, masks `scheme://user@` and
secret parameters left anywhere, and the values of the AWS secret variables of the environment.
`StoreError` passes its message through `redact`; every storage logger has `RedactingFilter`.
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# Environment variables whose values must never appear in a message.
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
# A parameter is secret when one word of its name (split at '-', '_', '.' and camelCase) is one
# of these, or its whole name, lower-cased and without separators, is.
_SECRET_WORDS = {
    "auth",
    "authorization",
    "credential",
    "credentials",
    "key",
    "passwd",
    "password",
    "pwd",
    "secret",
    "session",
    "sig",
    "signature",
    "token",
}
_SECRET_NAMES = {"accesskey", "apikey", "secretkey", "privatekey", "accesstoken", "sessionid"}
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]+")
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_PARAM = re.compile(r"(?P<lead>[?&;#])(?P<name>[A-Za-z0-9_.\-]+)=(?P<value>[^&;#\s'\"<>`]*)")


def is_secret_name(name: str) -> bool:
    """True when a query parameter called `name` probably carries a credential."""
    words = {w.lower() for w in _WORD.findall(name)}
    return bool(words & _SECRET_WORDS) or re.sub(r"[^a-z0-9]", "", name.lower()) in _SECRET_NAMES


def redact_url(url: str) -> str:
    """`url` with its user:password and secret-looking parameter values replaced by ***.

    redact_url("https://u:pw@h/p?X-Amz-Signature=abc&part=1") == "https://***@h/p?X-Amz-Signature=***&part=1"
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host: fall back to the text rules
        return _redact_params(_USERINFO.sub(rf"\g<scheme>{MASK}@", url))
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query, fragment = _mask_pairs(parts.query), _mask_pairs(parts.fragment)
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url  # nothing secret: keep the text exactly as it was
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def redact(text: str) -> str:
    """`text` with credentials (URLs' userinfo and secret parameters, and the values of the
    AWS secret variables in the environment) replaced by ***."""
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _redact_params(_USERINFO.sub(rf"\g<scheme>{MASK}@", text))
    for var in _SECRET_ENV:
        value = os.environ.get(var, "")
        if len(value) >= 4:  # a 1-3 character "secret" would redact ordinary words
            text = text.replace(value, MASK)
    return text


def _mask_pairs(text: str) -> str:
    """'a=1&sig=x' -> 'a=1&sig=***', keeping every other byte as it was."""
    if "=" not in text:
        return text
    pairs = []
    for pair in re.split(r"([&;])", text):
        name, eq, value = pair.partition("=")
        pairs.append(f"{name}={MASK}" if eq and value and is_secret_name(name) else pair)
    return "".join(pairs)


def _redact_params(text: str) -> str:
    def mask(match: re.Match[str]) -> str:
        if not is_secret_name(match.group("name")) or not match.group("value"):
            return match.group(0)
        return f"{match.group('lead')}{match.group('name')}={MASK}"

    return _PARAM.sub(mask, text)


class RedactingFilter(logging.Filter):
    """Formats each record once and redacts the result, so no argument leaks a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


def get_logger(name: str) -> logging.Logger:
    """The logger `name`, with `RedactingFilter` attached (once): use it in every storage module."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
