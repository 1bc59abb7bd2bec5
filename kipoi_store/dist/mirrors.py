"""Store mirrors: copies of the store's layout (dist/layout.py) asked before any origin.

    mirrors = Mirrors.from_config(config, store, offline=False, warn=warn)   # one per run
    doc = mirrors.publish_model(commit, "rbp_eclip/UPF1")   # manifest + objects, published; or None
    mirrors.fetch_object(pointer.oid, pointer.size)         # an LFS object by sha256: True if got
    mirrors.by_md5("9f1c...")                               # a remote model file's sha256, or None

Mirrors come from KIPOI_STORE_MIRRORS (space-separated; set, even empty, it replaces the config's
list) or the config's `store_mirrors:`; each is an http(s) URL, a file:// URL, a plain path or a
registry repository `oci://REGISTRY/REPOSITORY` (dist/oci/mirror.py: what `kipoi store push` wrote
there, read as this layout), asked in order. A 404 is a quiet miss. A mirror that cannot be reached, answers 5xx or stalls past the
connect or read timeout (net/limits.py: the same settings as every other transfer) is skipped
for the rest of the run, with one warning; so is one that serves bytes that do not match their
digest (they never reach the store: add_stream checks them first). Offline, only file and
plain-path mirrors are asked.
"""

import os
import threading
from urllib.parse import quote, unquote, urlsplit

from kipoi_store.errors import IntegrityError
from kipoi_store.net.http import Sessions, network_errors, why
from kipoi_store.net.urls import short_url
from kipoi_store.store.core import hashing
from kipoi_store.dist import layout as fmt

SMALL_MAX = 16 << 20
CHUNK = 1 << 20


class MirrorDown(Exception):
    """This mirror cannot answer now (unreachable, 5xx, timeout): not worth asking again."""


def configured(config, env=None):
    """The mirror list in force: KIPOI_STORE_MIRRORS when set, else the config's store_mirrors."""
    env = os.environ if env is None else env
    if "KIPOI_STORE_MIRRORS" in env:
        return env["KIPOI_STORE_MIRRORS"].split()
    return list(getattr(config, "store_mirrors", None) or ())


class Mirror:
    """One mirror: a base URL or a directory, read with plain GETs (or opens)."""

    def __init__(self, location, sessions, timeout):
        self.name = short_url(location)
        parts = urlsplit(location) if "://" in location else None
        if parts is None or parts.scheme.lower() == "file":
            path = unquote(parts.path) if parts is not None else location
            self.path, self.url = os.path.abspath(os.path.expanduser(path)), None
        elif parts.scheme.lower() in ("http", "https"):
            self.path, self.url = None, location.rstrip("/")
        else:
            from kipoi_store.errors import UsageError

            raise UsageError("store mirror %s: not an http(s), file or oci URL, nor a path" % self.name)
        self.sessions = sessions
        self.timeout = timeout

    @property
    def local(self):
        return self.path is not None

    def open(self, relpath):
        """(chunks iterator, close) for `relpath`; None when the mirror does not have it."""
        if self.local:
            try:
                f = open(os.path.join(self.path, relpath), "rb")
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as exc:
                raise MirrorDown(exc.strerror or str(exc)) from None
            return hashing.iter_file(f), f.close
        url = "%s/%s" % (self.url, quote(relpath))
        try:
            resp = self.sessions.get().get(url, stream=True, timeout=self.timeout)
        except network_errors() as exc:
            raise MirrorDown(why(exc)) from None
        if resp.status_code in (404, 410):
            resp.close()
            return None
        if resp.status_code != 200:
            resp.close()
            raise MirrorDown("answered %d" % resp.status_code)

        def chunks():
            try:
                yield from resp.iter_content(CHUNK)
            except network_errors() as exc:
                raise MirrorDown(why(exc)) from None

        return chunks(), resp.close

    def read_small(self, relpath):
        opened = self.open(relpath)
        if opened is None:
            return None
        chunks, close = opened
        try:
            data = b""
            for chunk in chunks:
                data += chunk
                if len(data) > SMALL_MAX:
                    raise IntegrityError("%s is larger than any manifest" % relpath)
            return data
        finally:
            close()


def _mirror(location, sessions, timeout, store):
    """The Mirror reading `location`: a registry (`oci://...`, dist/oci/mirror.py), else a folder
    or an HTTP(S) base URL."""
    if location[:6].lower() == "oci://":
        from kipoi_store.dist.oci.mirror import OciMirror

        return OciMirror(location, store, MirrorDown)
    return Mirror(location, sessions, timeout)


class Mirrors:
    def __init__(self, locations, store, offline=False, warn=None, timeout=None):
        """`timeout`: (connect, read) seconds, as requests takes them; default net/limits.py's."""
        from kipoi_store.net import limits

        self.store = store
        self.warn = warn or (lambda message: None)
        sessions = Sessions({"User-Agent": "kipoi-store", "Accept-Encoding": "identity"})
        timeout = timeout or limits.timeouts()
        self.all = [_mirror(loc, sessions, timeout, store) for loc in locations]
        self.mirrors = [m for m in self.all if m.local or not offline]
        self.dropped = set()
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config, store, offline=False, warn=None):
        return cls(configured(config), store, offline=offline, warn=warn)

    def __bool__(self):
        return bool(self.mirrors)

    def live(self):
        with self._lock:
            return [m for m in self.mirrors if m.name not in self.dropped]

    def drop(self, mirror, why):
        with self._lock:
            if mirror.name in self.dropped:
                return
            self.dropped.add(mirror.name)
        self.warn("store mirror %s: %s; not asked again in this run" % (mirror.name, why))

    # -- objects ------------------------------------------------------------------------------

    def _object_from(self, mirror, digest, size, what):
        """True once `digest` is in the store from `mirror`; False if the mirror lacks it.
        Raises MirrorDown or IntegrityError for the caller to drop the mirror."""
        if self.store.has_object(digest):
            return True
        opened = mirror.open(fmt.object_path(digest))
        if opened is None:
            return False
        chunks, close = opened
        try:
            self.store.add_stream(chunks, expected_sha256=digest, expected_size=size,
                                  what="%s from store mirror %s" % (what or digest, mirror.name))
        finally:
            close()
        return True

    def _asked(self, ask):
        """(mirror, ask(mirror)) for each live mirror in turn, lazily; a mirror that is down or
        serves wrong bytes (ask raised MirrorDown or IntegrityError) is dropped and skipped."""
        for mirror in self.live():
            try:
                answer = ask(mirror)
            except MirrorDown as exc:
                self.drop(mirror, str(exc))
                continue
            except IntegrityError as exc:
                self.drop(mirror, "served wrong bytes (%s)" % exc)
                continue
            yield mirror, answer

    def fetch_object(self, digest, size=None, what=None):
        """Bring object `digest` into the store from the first mirror that serves it right."""
        if not hashing.is_sha256(digest):
            return False
        return any(found for _, found in self._asked(lambda m: self._object_from(m, digest, size, what)))

    def by_md5(self, md5, what=None):
        """The sha256 of a remote model file known by `md5`, its bytes now in the store; or None."""
        if not fmt.is_md5(md5):
            return None

        def ask(mirror):
            data = mirror.read_small(fmt.md5_path(md5))
            if data is None:
                return None
            sha256 = data.decode("latin-1").strip()
            if not hashing.is_sha256(sha256):
                raise IntegrityError("its md5 index entry %s is not a sha256" % md5)
            return sha256 if self._object_from(mirror, sha256, None, what) else None

        for mirror, sha256 in self._asked(ask):
            if sha256 is None:
                continue
            if hashing.md5_file(self.store.object_path(sha256)) != md5:
                # Right bytes for their sha256, but not the file the md5 names: the index lies.
                self.drop(mirror, "its md5 index maps %s to a file with another md5" % md5)
                continue
            return sha256
        return None

    # -- models -------------------------------------------------------------------------------

    def publish_model(self, key, name):
        """Publish model `name` of snapshot `key` from the first mirror holding its manifest and
        every object it names; returns the manifest (a layout.ModelDoc) or None."""
        relpath = fmt.manifest_path(key, name)

        def ask(mirror):
            data = mirror.read_small(relpath)
            if data is None:
                return None
            doc = fmt.ModelDoc(data, "store mirror %s: %s" % (mirror.name, relpath), key=key, name=name)
            return doc, [d for d in doc.digests()
                         if not self._object_from(mirror, d, doc.sizes[d], "%s of %s" % (d, name))]

        for mirror, answer in self._asked(ask):
            if answer is None:
                continue
            doc, lacking = answer
            if lacking:
                self.warn("store mirror %s: the manifest of %s at %s names object %s, which the "
                          "mirror lacks; trying the next source" % (mirror.name, name, key, lacking[0]))
                continue
            self.store.publish(key, name, doc.entries,
                               info=doc.record if doc.directory is not None else None)
            return doc
        return None
