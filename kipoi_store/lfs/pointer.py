"""Git LFS, natively: pointer files, endpoint discovery, and fetching objects into the store.

No git-lfs binary is needed. Pointers are recognised by content (spec: docs/spec.md of git-lfs);
objects come from the endpoint's batch API (`download.py`) or, for local remotes, straight from the
remote's `lfs/objects/`. Every object is verified (sha256 and size) before it enters the store.
"""

import functools
import re
from dataclasses import dataclass
from typing import Dict, Iterable, Optional

from kipoi_store.errors import KipoiError, NotFoundError
from kipoi_store.lfs.endpoint import Endpoint, SshTarget, discover_endpoint  # noqa: F401  (re-exported)

POINTER_MAX = 1024
SPEC_V1 = "https://git-lfs.github.com/spec/v1"
# Versions git-lfs still reads as v1: the pre-release names of the project.
VERSIONS = (SPEC_V1, "https://hawser.github.com/spec/v1", "http://git-media.io/v/2")

_LINE = re.compile(rb"([a-z0-9.-]+) ([^\r\n]*)\n")
_OID = re.compile(rb"sha256:([0-9a-f]{64})")
_SIZE = re.compile(rb"(0|[1-9][0-9]{0,18})")


@dataclass(frozen=True)
class Pointer:
    oid: str  # sha256, 64 lower-case hex digits
    size: int


def parse_pointer(data: bytes) -> Optional[Pointer]:
    """The pointer `data` holds, or None when it is an ordinary file.

    Spec-exact: at most 1024 bytes of UTF-8; `key value` lines each ending in LF; `version` first
    (a known v1 URL), the other keys sorted and unique; `oid sha256:<64 hex>` and `size <int>`
    required; further keys (extensions) are allowed.
    """
    if not isinstance(data, (bytes, bytearray)) or len(data) > POINTER_MAX:
        return None
    data = bytes(data)
    if not data.startswith(b"version "):
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    pairs = []
    pos = 0
    while pos < len(data):
        m = _LINE.match(data, pos)
        if not m:
            return None
        pairs.append((m.group(1), m.group(2)))
        pos = m.end()
    if not pairs or pairs[0][0] != b"version" or pairs[0][1].decode() not in VERSIONS:
        return None
    keys = [k for k, _ in pairs[1:]]
    if keys != sorted(set(keys)) or b"version" in keys:
        return None
    values = dict(pairs[1:])
    oid = _OID.fullmatch(values.get(b"oid", b""))
    size = _SIZE.fullmatch(values.get(b"size", b""))
    if not oid or not size:
        return None
    return Pointer(oid.group(1).decode(), int(size.group(1)))


def format_pointer(pointer: Pointer) -> bytes:
    """The canonical pointer file, as `git lfs pointer` writes it."""
    return b"version %s\noid sha256:%s\nsize %d\n" % (SPEC_V1.encode(), pointer.oid.encode(),
                                                      pointer.size)


def fetch_objects(endpoint: Endpoint, pointers: Iterable[Pointer], store,
                  what: Optional[Dict[str, str]] = None, progress: Optional[bool] = None,
                  workers: int = 4, **options) -> None:
    """Bring every object of `pointers` into `store`; afterwards `store.has_object(p.oid)` holds.

    `what` maps an oid to a name for messages (e.g. "source:path/in/repo"). `progress`: None shows
    progress on stderr when it is a terminal. `options` tune the transfer (see download.fetch:
    tries, backoff, timeout, credentials).

    Raises NotFoundError (the server or remote lacks an object), IntegrityError (wrong bytes; nothing
    kept), NetworkError (gave up after retries, or refused).
    """
    what = dict(what or {})
    wanted = {}
    for p in pointers:
        if not store.has_object(p.oid):
            wanted.setdefault(p.oid, p)
    if not wanted:
        return
    if endpoint.kind == "local":
        _copy_local(endpoint, list(wanted.values()), store, what)
        return
    from kipoi_store.net import download

    download.fetch(endpoint, list(wanted.values()), store, what, progress=progress,
                   workers=workers, **options)


def _copy_local(endpoint, pointers, store, what):
    """A local remote: stream each object from its `lfs/objects/ab/cd/<oid>` through the store's
    verification (a copy, never a link: store objects are made read-only)."""
    for p in pointers:
        src = endpoint.objects_dir / p.oid[0:2] / p.oid[2:4] / p.oid
        name = what.get(p.oid, p.oid)
        try:
            f = open(src, "rb")
        except FileNotFoundError:
            raise NotFoundError("LFS object %s (%s) is not in %s"
                                % (p.oid, name, endpoint.objects_dir)) from None
        except OSError as e:
            raise KipoiError("cannot read LFS object %s (%s): %s" % (p.oid, name, e)) from None
        with f:
            store.add_stream(iter(functools.partial(f.read, 1 << 20), b""),
                             expected_sha256=p.oid, expected_size=p.size, what=name)
