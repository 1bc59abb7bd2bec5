"""Git LFS pointer files: what stands in a git tree for an object kept elsewhere.

Pointers are recognised by content, exactly as the spec says (docs/spec.md of git-lfs); no git-lfs
binary is needed.
"""

import re
from dataclasses import dataclass
from typing import Optional

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
