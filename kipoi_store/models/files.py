"""Fetching a model's files: each remote file layout.py finds is brought into the store, verified,
and published at kipoi's path in the model's snapshot.

    paths = fetch_model_files(resolution, store, config)   # after Resolver(...).resolve(spec)

A file is fetched at most once per store: an md5 -> sha256 index (the user's cache dir, rebuildable:
every hit is checked against the objects) finds it again from any model of any commit. Downloads
try each URL from `url_rewrites` (mirrors) before the original, run in a few threads, and go
through download.download_url (resume with Range, retry with backoff, md5 and sha256 hashed while
streaming); bytes whose md5 is wrong never reach the store. The files are then published as model
`<name>#files` of the same snapshot, so `kipoi store verify` checks them and gc keeps them.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from kipoi_store.errors import IntegrityError, NetworkError, NotFoundError, OfflineError
from kipoi_store.models.layout import Wanted, wanted_examples, wanted_files
from kipoi_store.net import download
from kipoi_store.net.http import Options, Sessions
from kipoi_store.net.progress import Progress
from kipoi_store.net.urls import short_url
from kipoi_store.net.rewrites import candidate_urls
from kipoi_store.store.core.entries import FileEntry
from kipoi_store.store.user.md5index import Md5Index

FILES_SUFFIX = "#files"  # manifest name of a model's downloaded files: `<model>#files`
EXAMPLES_SUFFIX = "#examples"  # ... and of its example files and test expectations
WORKERS = 4


# -- downloading ----------------------------------------------------------------------------------

def progress_meter(total_files, enabled, stream=None):
    """The stderr line of a pull: `model files: 1/3, 2.9 KiB, 1.2 MiB/s` (model.yaml states no
    sizes, so no total)."""
    return Progress(None, total_files, enabled, stream, label="model files", unit="")


class Fetcher:
    """Gets files into the store: from the store itself when their md5 (or sha256) is known, else
    from the first candidate URL that serves the right bytes."""

    def __init__(self, store, rewrites=(), offline=False, meter=None, mirrors=None, **options):
        self.store = store
        self.mirrors = mirrors
        self.rewrites = list(rewrites)
        self.offline = offline
        self.opts = Options(**options)
        self.index = Md5Index(store)
        self.meter = meter or progress_meter(0, enabled=False)
        # Set when the run is interrupted (Ctrl-C, SIGTERM): running downloads stop at their next
        # chunk and remove their tmp files, instead of finishing first.
        self.cancelled = threading.Event()
        # The md5 in model.yaml is of the bytes as served: never let a server compress them.
        self.sessions = Sessions({"User-Agent": "kipoi-store",
                                  "Accept-Encoding": "identity"})

    def close(self):
        self.index.close()

    def known(self, w: Wanted, what) -> Optional[str]:
        """The sha256 of an object already holding `w`'s bytes, or None."""
        if w.md5:
            sha256 = self.index.get(w.md5)
            if sha256 is not None:
                if w.sha256 and sha256 != w.sha256:
                    raise IntegrityError("%s: arg %s: md5 %s and sha256 %s disagree (the store holds "
                                         "that md5 as sha256 %s)" % (what, w.arg, w.md5, w.sha256, sha256))
                return sha256
        if w.sha256 and self.store.has_object(w.sha256):
            if w.md5:
                from kipoi_store.store.core import hashing

                actual = hashing.md5_file(self.store.object_path(w.sha256))
                if actual != w.md5:
                    raise IntegrityError("%s: arg %s: md5 %s and sha256 %s disagree (its md5 is %s)"
                                         % (what, w.arg, w.md5, w.sha256, actual))
                self.index.put(w.md5, w.sha256)
            return w.sha256
        return None

    def fetch(self, w: Wanted, what) -> str:
        """The sha256 of `w`'s bytes, now in the store."""
        sha256 = self.known(w, what)
        if sha256 is not None:
            self.meter.file_done()
            return sha256
        sha256 = self._mirrored(w, what)
        if sha256 is not None:
            self.meter.file_done()
            return sha256
        if self.offline:
            raise OfflineError("%s: arg %s: not in the store (offline): %s" % (what, w.arg, w.url))
        locks = getattr(self.store, "locks", None)
        if locks is None:
            return self._fetch(w, what)
        # Another process fetching the same bytes: wait for it, then take them from the store.
        with locks.wait(w.sha256 or w.md5, "%s arg %s (%s)" % (what, w.arg, short_url(w.url))):
            sha256 = self.known(w, what)
            if sha256 is not None:
                self.meter.file_done()
                return sha256
            return self._fetch(w, what)

    def _fetch(self, w, what):
        wrong, failed, missing = [], [], 0
        for url in candidate_urls(w.url, self.rewrites):
            try:
                sha256 = self._download(url, w)
            except IntegrityError as exc:
                wrong.append("%s (%s)" % (short_url(url), exc))
                continue
            except NotFoundError:
                missing += 1
                failed.append("%s (not found)" % short_url(url))
                continue
            except NetworkError as exc:
                failed.append("%s (%s)" % (short_url(url), exc))
                continue
            if w.md5:
                self.index.put(w.md5, sha256)
            self.meter.file_done()
            return sha256
        if wrong:
            raise IntegrityError("%s: arg %s: wrong content from %s" % (what, w.arg, "; ".join(wrong)))
        error = NotFoundError if missing == len(failed) else NetworkError
        raise error("%s: arg %s: cannot download %s: tried %s" % (what, w.arg, w.url, "; ".join(failed)))

    def _mirrored(self, w, what) -> Optional[str]:
        """The sha256 of `w`'s bytes brought from a store mirror (by md5, else sha256), or None."""
        if not self.mirrors:
            return None
        label = "%s: arg %s" % (what, w.arg)
        sha256 = self.mirrors.by_md5(w.md5, label) if w.md5 else None
        if sha256 is None and w.sha256 and self.mirrors.fetch_object(w.sha256, what=label):
            return self.known(w, what)  # checks its md5 against model.yaml's
        if sha256 is not None and w.sha256 and sha256 != w.sha256:
            return None
        if sha256 is not None:
            self.index.put(w.md5, sha256)
        return sha256

    def _download(self, url, w):
        """Download `url`, hashing md5 and sha256 as it streams; only right bytes reach the store."""
        with download.download_url(url, self.store, algorithms=("md5",), opts=self.opts,
                                   meter=self.meter, session=self.sessions.get(),
                                   cancelled=self.cancelled) as got:
            if w.md5 and got.digests["md5"] != w.md5:
                raise IntegrityError("md5 %s, expected %s" % (got.digests["md5"], w.md5))
            if w.sha256 and got.sha256 != w.sha256:
                raise IntegrityError("sha256 %s, expected %s" % (got.sha256, w.sha256))
            # Hashed while streaming: no second pass over the file.
            return self.store.commit_verified(got.path, got.sha256)


# -- the whole job ----------------------------------------------------------------------------------

def fetch_model_files(resolution, store, config, offline=False, progress=False, workers=WORKERS,
                      mirrors=None, examples=False, **options):
    """Bring every remote file of a resolved model (and of its default dataloader) into the store and
    publish them at kipoi's paths in the model's snapshot; returns their absolute paths, sorted.
    `examples`: also the dataloader's example files and the model's test expectation (published
    as their own manifest, `<model>#examples`, so a later --examples adds to what --files did).

    Already published for this snapshot: returns at once. `offline`: only what the store holds,
    else OfflineError naming each missing file and its URL. Wrong bytes at every URL:
    IntegrityError naming model, arg and URL. `mirrors` (dist/mirrors.py; default: the config's) are
    asked before any URL. `options` tune transfers (net.http.Options: tries,
    backoff, max_wait, timeout, sleep)."""
    kinds = [(FILES_SUFFIX, wanted_files)] + ([(EXAMPLES_SUFFIX, wanted_examples)] if examples else [])
    found = []
    for suffix, finder in kinds:
        found += _publish_wanted(resolution, store, config, suffix, finder, offline, progress, workers,
                                 mirrors, options)
    return sorted(found)


def _publish_wanted(resolution, store, config, suffix, finder, offline, progress, workers, mirrors,
                    options):
    name = resolution.model + suffix
    root = store.snapshot_root(resolution.key)
    holder = store.use(resolution.key, name)  # here, or in a site store
    done = holder.manifest(resolution.key, name) if holder is not None else None
    if done is not None:
        return [str(holder.snapshot_root(resolution.key) / p) for p in done["files"]]
    what = "model %s:%s" % (resolution.source, resolution.model)
    wanted = finder(str(root), resolution.model, resolution.group, what)
    by_path = {}
    for w in wanted:
        if not w.md5 and not w.sha256:
            raise IntegrityError("%s: arg %s: %s has neither md5 nor sha256, so it cannot be "
                                 "verified" % (what, w.arg, w.url))
        by_path.setdefault(w.path, w)
    unique = {}
    for w in by_path.values():
        unique.setdefault(w.content, w)
    meter = progress_meter(len(unique), enabled=progress)
    if mirrors is None and config is not None:
        from kipoi_store.dist.mirrors import Mirrors

        mirrors = Mirrors.from_config(config, store, offline=offline)
    fetcher = Fetcher(store, config.url_rewrites if config is not None else (), offline=offline,
                      meter=meter, mirrors=mirrors, **options)
    try:
        digests, errors = _fetch_all(fetcher, list(unique.values()), what, workers)
    finally:
        meter.close()
        fetcher.close()
    if errors:
        offline_errors = [e for e in errors if isinstance(e, OfflineError)]
        if offline_errors and len(offline_errors) == len(errors):
            missing = ["%s %s" % (w.arg, w.url) for w in unique.values() if w.content not in digests]
            raise OfflineError("%s: %d file%s not in the store (offline): %s" % (
                what, len(missing), "" if len(missing) == 1 else "s", "; ".join(missing)))
        first = next((e for e in errors if not isinstance(e, OfflineError)), errors[0])
        if len(errors) > 1:
            first.args = ("%s (and %d more failed)" % (first, len(errors) - 1),)
        raise first
    entries = {p: FileEntry(digests[w.content]) for p, w in by_path.items()}
    store.publish(resolution.key, name, entries)
    return [str(root / p) for p in entries]


def _fetch_all(fetcher, items, what, workers):
    """{content: sha256} for every item that could be had, and the errors of the others."""
    digests, errors = {}, []
    if not items:
        return digests, errors
    with ThreadPoolExecutor(max(1, min(workers, len(items))), thread_name_prefix="files") as pool:
        futures = [(w, pool.submit(fetcher.fetch, w, what)) for w in items]
        for w, future in futures:
            try:
                digests[w.content] = future.result()
            except BaseException as exc:  # noqa: B902 - reported after the others finish
                if not isinstance(exc, Exception):
                    fetcher.cancelled.set()
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                errors.append(exc)
    return digests, errors
