"""Standard streams a command can always use, and text from the system shown safely on them.

A command started with stdin, stdout or stderr closed (`kipoi source list >&-`) finds Python's
sys.std* set to None. Worse, the next file it opens takes the free descriptor, and whatever is
written to "stdout" lands in that file (git guards its descriptors the same way). `guard()` puts
/dev/null on every closed descriptor, then: reading a closed stdin or writing results to a closed
stdout fails with EBADF naming the stream (one clean error line), and a closed stderr swallows
the messages. Costs nothing when all three are open.
"""

import errno
import os
import sys


class ClosedStream:
    """Stands in for a stream that was closed when the command started."""

    def __init__(self, name):
        self.name = name

    def _closed(self, *_args, **_kwargs):
        raise OSError(errno.EBADF, "%s is closed" % self.name)

    read = readline = readlines = write = writelines = _closed

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        self._closed()

    def __iter__(self):
        self._closed()


def guard():
    """Fill closed descriptors 0-2 with /dev/null and give sys.std* stand-ins (see the module)."""
    if sys.stdin is not None and sys.stdout is not None and sys.stderr is not None:
        return
    missing = [fd for fd in (0, 1, 2) if not _is_open(fd)]
    for fd in missing:
        null = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this very one
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
    if sys.stdin is None:
        sys.stdin = ClosedStream("stdin")
    if sys.stdout is None:
        sys.stdout = ClosedStream("stdout")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 -- lives as long as the process
    sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr


def _is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def shown(text):
    """`text` as one printable line: bytes of a name that are not UTF-8 (surrogate escapes) as
    `\\xff`, control characters as `\\n`, `\\t`, `\\x1b`."""
    text = str(text)
    if text.isprintable():
        return text
    if not text.isascii():
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that is no escaped byte (from JSON, say)
            raw = text.encode("utf-8", "backslashreplace")
        text = raw.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
