"""Importing requests (~150 ms) in a thread while git waits on the network: LFS will need it.

`finish()` must follow before the call that started it returns: two threads importing the same
modules may hand one a half-initialised module (the import lock breaks the deadlock that way), and
an import still running at exit fails in a half torn-down interpreter: so no work outlives a resolve.
"""

_thread = None


def import_requests():
    """Start importing requests, unless it is imported or being imported."""
    import sys
    import threading

    global _thread
    if "requests" not in sys.modules and _thread is None:
        _thread = threading.Thread(target=_quiet_import, args=("requests",), name="import requests")
        _thread.start()


def _quiet_import(name):
    try:
        __import__(name)
    except BaseException:  # noqa: BLE001 -- whoever needs it imports it again and sees the error
        pass


def join():
    """Wait for an import under way, if any (it stays marked as started until finish())."""
    if _thread is not None:
        _thread.join()


def finish():
    """Wait for the import started above, and forget it."""
    global _thread
    thread, _thread = _thread, None
    if thread is not None:
        thread.join()
