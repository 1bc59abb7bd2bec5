"""Importing requests (~150 ms) while git waits on the network: LFS will need it.

The import is done by the main thread itself, in procs.run's wait on the next transfer
(procs.meanwhile), not in a second thread: two threads importing overlapping modules (requests and
the resolve path share email, socket, tempfile, ...) may hand one a half-made module, which CI saw
as `NameError: name 'sys' is not defined`.
"""


def _import_requests():
    try:
        import requests  # noqa: F401
    except Exception:  # noqa: BLE001 -- whoever needs it imports it again and sees the error
        pass


def import_requests():
    """Have requests imported during the next network wait, unless it is imported already."""
    import sys

    from kipoi_store import procs

    if "requests" not in sys.modules:
        procs.meanwhile(_import_requests)


def finish():
    """Nothing is waiting for the import any more: drop it if no wait came to do it."""
    from kipoi_store import procs

    procs.forget(_import_requests)
