"""URLs as messages may show them, and origins as credentials are confined to them.

A message never shows a password (`redact`) nor a query (`short_url`: signed URLs carry secrets
there); headers and credentials go only to the origin (`origin_of`) they were meant for.
"""

from urllib.parse import urlsplit


def redact(url):
    """`url` without a password, fit for messages."""
    parts = urlsplit(url) if "://" in url else None
    if parts is None or parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return url.replace(parts.netloc, "%s:***@%s" % (parts.username or "", netloc), 1)


def short_url(url):
    """A URL for messages: no password, no query (signed URLs carry secrets there)."""
    return redact(url).split("?", 1)[0]


def origin_of(url):
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a malformed port: requests refuses such a URL anyway
        port = None
    port = port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port)
