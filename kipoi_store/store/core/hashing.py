"""Digests computed while bytes stream past: files are read (or copied) once, in 1 MiB chunks.

    sha256_file(path)                      -> "9f86d0..."
    h = Hasher(("sha256", "md5")); h.update(chunk); h.hexdigest("md5"); h.size
    copy_hashing(src_file, dst_file)       -> Hasher of exactly the bytes written
"""

import re

CHUNK_SIZE = 1 << 20

_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(text):
    """A sha256 digest as the store names it: 64 lowercase hex digits."""
    return isinstance(text, str) and _SHA256.fullmatch(text) is not None


def _new(algorithm):
    # hashlib loads OpenSSL (~2.5 ms): imported here, since a warm resolve hashes no file.
    import hashlib
    if algorithm == "md5":
        # md5 only checks downloads against what model.yaml declares; it never names anything.
        return hashlib.md5(usedforsecurity=False)
    return hashlib.new(algorithm)


class Hasher:
    """Several digests and the byte count of one stream, updated together."""

    def __init__(self, algorithms=("sha256",)):
        self._hashes = {a: _new(a) for a in algorithms}
        self.size = 0

    def update(self, chunk):
        for h in self._hashes.values():
            h.update(chunk)
        self.size += len(chunk)

    def hexdigest(self, algorithm="sha256"):
        return self._hashes[algorithm].hexdigest()


def iter_file(f, chunk_size=CHUNK_SIZE):
    """The chunks of an open binary file, to its end."""
    return iter(lambda: f.read(chunk_size), b"")


def hash_file(path, algorithms=("sha256",)):
    """A Hasher fed with the whole content of `path`."""
    h = Hasher(algorithms)
    with open(path, "rb") as f:
        for chunk in iter_file(f):
            h.update(chunk)
    return h


def sha256_file(path):
    return hash_file(path).hexdigest()


def md5_file(path):
    return hash_file(path, ("md5",)).hexdigest("md5")


def sha256_bytes(data):
    h = _new("sha256")
    h.update(data)
    return h.hexdigest()


def copy_hashing(src, dst, algorithms=("sha256",)):
    """Copy open binary file `src` into `dst`, hashing every chunk on the way; returns the Hasher."""
    h = Hasher(algorithms)
    for chunk in iter_file(src):
        h.update(chunk)
        dst.write(chunk)
    return h


def write_hashing(chunks, dst, algorithms=("sha256",)):
    """Write an iterable of bytes into open binary file `dst`, hashing as it goes; returns the Hasher."""
    h = Hasher(algorithms)
    for chunk in chunks:
        if chunk:
            h.update(chunk)
            dst.write(chunk)
    return h
