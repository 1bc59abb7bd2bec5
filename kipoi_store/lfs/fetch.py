"""Bringing a repository's Git LFS objects into the store: from the endpoint's batch API
(lfs/batch.py) or, for a local remote, straight from its `lfs/objects/`. Every object is verified
(sha256 and size) before it enters the store.
"""

import functools
from typing import Dict, Iterable, Optional

from kipoi_store.errors import KipoiError, NotFoundError
from kipoi_store.lfs.endpoint import Endpoint
from kipoi_store.lfs.pointer import Pointer


def fetch_objects(endpoint: Endpoint, pointers: Iterable[Pointer], store,
                  what: Optional[Dict[str, str]] = None, progress: Optional[bool] = None,
                  workers: int = 4, **options) -> None:
    """Bring every object of `pointers` into `store`; afterwards `store.has_object(p.oid)` holds.

    `what` maps an oid to a name for messages (e.g. "source:path/in/repo"). `progress`: None shows
    progress on stderr when it is a terminal. `options` tune the transfer (see lfs/batch.py's fetch:
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
    locks = getattr(store, "locks", None)
    if locks is None:
        _fetch(endpoint, list(wanted.values()), store, what, progress, workers, options)
        return
    # Objects another process is fetching are waited for after ours, then taken from the store.
    held, busy = locks.try_many(sorted(wanted))
    try:
        mine = [p for oid, p in wanted.items() if oid not in busy and not store.has_object(oid)]
        _fetch(endpoint, mine, store, what, progress, workers, options)
    finally:
        locks.release(held)
    for oid in busy:
        with locks.wait(oid, what.get(oid, oid)):
            if not store.has_object(oid):
                _fetch(endpoint, [wanted[oid]], store, what, progress, workers, options)


def _fetch(endpoint, pointers, store, what, progress, workers, options):
    if not pointers:
        return
    if endpoint.kind == "local":
        _copy_local(endpoint, pointers, store, what)
        return
    from kipoi_store.lfs import batch

    batch.fetch(endpoint, pointers, store, what, progress=progress, workers=workers, **options)


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
