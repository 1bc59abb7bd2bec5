"""What the test servers share: `with Server(...) as server:` starts and stops one, and a server
run in a thread of this process (or as a child process) is started and stopped one way."""

import signal
import subprocess
import threading


class Served:
    """A context manager over the subclass's start() (which returns self) and stop()."""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def serve_in_thread(httpd):
    """Serve `httpd` on a daemon thread, polling for shutdown every 50 ms; returns the thread."""
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return thread


def shut(httpd):
    """Stop `httpd` serving and close its socket (None: nothing to stop); returns None."""
    if httpd is not None:
        httpd.shutdown()
        httpd.server_close()


def end_process(proc, sig=signal.SIGTERM):
    """Send child `proc` `sig` and reap it; SIGKILL if it has not exited 10 s later. Returns None."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
