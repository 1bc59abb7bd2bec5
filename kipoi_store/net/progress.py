"""The progress line a download draws on stderr (only when stderr is a terminal, by default)."""

import sys
import threading
import time


def stderr_is_tty():
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Files, bytes and rate on one stderr line, redrawn at most ten times a second:
    `<label>: 1/2 <unit>, 1.0 MiB / 2.0 MiB, 3.1 MiB/s` (`total_bytes` None: size unknown, shown
    without `/ total`; `unit` "" leaves the word out)."""

    def __init__(self, total_bytes, total_files, enabled, stream=None, label="LFS", unit="files"):
        self.total_bytes, self.total_files = total_bytes, total_files
        self.label, self.unit = label, unit
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.bytes = self.files = 0
        self.start = time.monotonic()
        self.last = 0.0
        self.drawn = False
        self.lock = threading.Lock()

    def add(self, n):
        with self.lock:
            self.bytes += n
            self._draw()

    def file_done(self):
        with self.lock:
            self.files += 1
            self._draw(force=True)

    def _draw(self, force=False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        rate = self.bytes / max(now - self.start, 1e-6)
        count = "%d/%d %s" % (self.files, self.total_files, self.unit) if self.unit else \
            "%d/%d" % (self.files, self.total_files)
        size = _human(self.bytes)
        if self.total_bytes is not None:
            size += " / " + _human(self.total_bytes)
        self.stream.write("\r%s: %s, %s, %s/s   " % (self.label, count, size, _human(rate)))
        self.stream.flush()
        self.drawn = True

    def close(self):
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (n, unit)
        n /= 1024.0
