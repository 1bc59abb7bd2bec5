"""The sha256 of a short text, for the names of per-user files (records, last-use directories).

The same digest hashlib gives, so every name ever written keeps its meaning; only its cost differs:
`import hashlib` loads OpenSSL (~3.5 ms here), CPython's own sha256 module ~0.5 ms, and a warm
resolve needs two such names. That module is private to CPython (`_sha256` up to 3.11, `_sha2`
since 3.12); where neither exists hashlib is used. Names only: file contents are hashed by
store/core/hashing.py.
"""

try:
    from _sha256 import sha256 as _sha256
except ImportError:
    try:
        from _sha2 import sha256 as _sha256
    except ImportError:
        from hashlib import sha256 as _sha256


def name_digest(text):
    """The sha256 hex digest of `text` (UTF-8; lone surrogates from undecodable file names kept as
    the bytes they stand for; any other lone surrogate, which no file name gives but a config's
    escaped string may, as its own three bytes)."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    return _sha256(data).hexdigest()
