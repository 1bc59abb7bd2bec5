"""Where registry blobs were seen: for a registry, digest -> the repositories we pushed it to or
pulled it from, so that a push to another repository of that registry mounts the blob there
(no byte sent) instead of uploading it, as docker's per-user record of blob sources does.

    sightings = user_blob_sightings()
    sightings.add("ghcr.io", "lab/models", [hex, ...])       # after a push or pull
    sightings.where("ghcr.io", [hex, ...])                   # {hex: ["lab/models", ...]} newest first

One file per registry in a private directory of the user's cache dir (private.py: never in a store,
never one another user could write), a line `<sha256 hex> <repository>` per sighting, appended
(one write per batch: concurrent runs never interleave inside a line) and read whole. It is only a
hint: a registry that no longer holds the blob there, or will not let us read that repository,
turns the mount into an ordinary upload. Past MAX_BYTES the file is rewritten with each pair once,
the newest kept.
"""

import hashlib
import os
import re

from kipoi_store import paths
from kipoi_store.store.user.private import open_private, private_dir, write_private

MAX_BYTES = 8 << 20
MAX_PAIRS = 40000  # what a compaction keeps at most (~4 MiB): the newest blobs' sightings
KEEP = 4  # repositories remembered per blob (a mount needs only one that still has it)
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"  # the distribution spec's name grammar
_LINE = re.compile(r"^([0-9a-f]{64}) (%s(?:/%s)*)$" % (_COMPONENT, _COMPONENT))


def user_blob_sightings(env=None):
    """The sightings of the user running us (paths.user_cache)."""
    return BlobSightings(paths.user_cache(env) / "oci-blobs")


class BlobSightings:
    def __init__(self, directory):
        self.directory = os.fspath(directory)

    def _path(self, registry):
        name = hashlib.sha256(registry.lower().encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return os.path.join(self.directory, name + ".log")

    def add(self, registry, repository, digests):
        """Blobs `digests` (hex) are in `repository` of `registry`."""
        lines = "".join("%s %s\n" % (d, repository) for d in digests
                        if _LINE.match("%s %s" % (d, repository)))
        if not lines or private_dir(self.directory) is None:
            return
        path = self._path(registry)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, lines.encode())
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
        except OSError:
            return  # just not remembered: the next push uploads
        if size > MAX_BYTES:
            self._compact(path)

    def where(self, registry, digests):
        """{digest: [repository, ...] newest first} for those of `digests` seen in `registry`."""
        wanted = set(digests)
        found = {}
        for digest, repository in self._read(self._path(registry)):
            if digest in wanted:
                seen = found.setdefault(digest, [])
                if repository in seen:
                    seen.remove(repository)
                seen.insert(0, repository)
        return {d: r[:KEEP] for d, r in found.items()}

    def _read(self, path):
        f = open_private(path)
        if f is None:
            return []
        with f:
            text = f.read().decode("utf-8", "replace")
        return [m.groups() for m in map(_LINE.match, text.splitlines()) if m]

    def _compact(self, path):
        per_blob = {}  # digest -> repositories, newest first; digests newest first
        for digest, repository in reversed(self._read(path)):
            seen = per_blob.setdefault(digest, [])
            if repository not in seen and len(seen) < KEEP:
                seen.append(repository)
        pairs = [(d, r) for d, rs in per_blob.items() for r in rs][:MAX_PAIRS]
        # Written oldest first, as appends are. A sighting appended meanwhile may be lost: it is
        # only a hint (the next push uploads that blob).
        write_private(path, "".join("%s %s\n" % p for p in reversed(pairs)).encode())
