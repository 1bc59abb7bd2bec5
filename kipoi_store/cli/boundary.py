"""The one exception boundary every command shares, and an argparse that speaks our error format."""

import argparse
import os
import sys

from kipoi_store import __version__
from kipoi_store.cli import streams
from kipoi_store.errors import EXIT_FAILED, EXIT_USAGE, KipoiError


def terminal_width():
    """What shutil.get_terminal_size() says (COLUMNS, else the terminal, else 80), without
    importing shutil (~3 ms with the compression modules it loads) into every command."""
    try:
        columns = int(os.environ.get("COLUMNS", 0))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help layout; only the width is measured here (argparse would import shutil
    for it, and builds a formatter for every add_argument)."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            width = terminal_width() - 2  # argparse's own margin
        super().__init__(prog, indent_increment, max_help_position, width)


def _shown(message):
    """`message` as a line may show it: never a password or token from a URL in it (`***`)."""
    from kipoi_store.git.cli import scrub

    return streams.shown(scrub(str(message)))


def warn(message):
    """A diagnostic line on stderr (stdout carries results only)."""
    sys.stderr.write("kipoi: warning: %s\n" % _shown(message))


def note(message):
    sys.stderr.write("kipoi: %s\n" % _shown(message))


def error_line(message):
    sys.stderr.write("kipoi: error: %s\n" % _shown(message))


# errno names of failures to write: the path then says where there is no room or no permission.
_WRITING = ("ENOSPC", "EDQUOT", "EROFS", "EFBIG")


def os_error_message(exc):
    """One line for an OSError: what failed and the path(s) it concerns."""
    import errno  # only on this failure path

    reason = exc.strerror or str(exc)
    name = errno.errorcode.get(exc.errno, "")
    if exc.errno and exc.strerror and os.strerror(exc.errno) not in exc.strerror:
        reason += ": " + os.strerror(exc.errno)  # diskcache replaces it with its own words
    if exc.filename is None:
        return reason
    where = "'%s'" % streams.shown(os.fsdecode(exc.filename) if isinstance(exc.filename, bytes)
                                   else exc.filename)
    if getattr(exc, "filename2", None) is not None:
        where += " -> '%s'" % streams.shown(exc.filename2)
    if name in _WRITING:
        return "cannot write %s: %s" % (where, reason)
    return "%s: %s" % (where, reason)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with `kipoi: error:` messages and exit code 2."""

    def __init__(self, *args, summary=None, **kwargs):
        kwargs.setdefault("description", summary)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.summary = summary
        self.add_argument("--version", action="version", version="kipoi_store " + __version__,
                          help=argparse.SUPPRESS)

    def error(self, message):
        # One line, as every other error: the usage is a --help away, and the line says so.
        error_line("%s (see '%s --help')" % (message, self.prog))
        sys.exit(EXIT_USAGE)


def print_traceback():
    import traceback  # only when KIPOI_DEBUG asks for it

    traceback.print_exc()


def debug():
    return os.environ.get("KIPOI_DEBUG", "") not in ("", "0")


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C does (every `finally` removes its tmp/ files),
    then exit 128 + the signal's number. A BaseException, so `except Exception` never swallows it."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):
    import _signal  # built in and already loaded: `signal` would cost ~0.5 ms of every start

    # Once: a second signal must not interrupt the clean-up the first one started.
    for sig in (_signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(sig, _signal.SIG_IGN)
    raise Terminated(signum)


def catch_termination():
    """What schedulers send (SIGTERM; SIGHUP when a session ends) cleans up as SIGINT does."""
    import _signal

    for sig in (_signal.SIGTERM, _signal.SIGHUP):
        try:
            if _signal.getsignal(sig) == _signal.SIG_DFL:  # an ignored signal (nohup) stays ignored
                _signal.signal(sig, _terminate)
        except ValueError:  # not the main thread (a caller's own thread): its signals are its own
            return


def run(main, argv=None):
    """Run `main(argv)` and turn whatever it raises into a message and an exit code."""
    argv = sys.argv[1:] if argv is None else argv
    streams.guard()
    if hasattr(sys.stdout, "reconfigure"):
        # Paths are bytes to the system: print a name that is not UTF-8 as the bytes it is.
        sys.stdout.reconfigure(errors="surrogateescape")
    try:
        catch_termination()
        code = main(argv)
        sys.stdout.flush()
    except Terminated as exc:
        code = 128 + exc.signum
    except KipoiError as exc:
        if debug():
            print_traceback()
        error_line(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        import signal  # here only: the module costs ~0.5 ms of every command's start

        code = 128 + signal.SIGINT
    except BrokenPipeError:
        # The reader of a pipeline went away (`| head`): not our failure, and nothing more to say.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        import signal

        code = 128 + signal.SIGPIPE  # what a shell reports for `cat | head`: 141
    except OSError as exc:
        if debug():
            print_traceback()
        error_line(os_error_message(exc))
        code = EXIT_FAILED
    except Exception as exc:  # the last line of defence: never a bare traceback
        if debug():
            print_traceback()
        error_line("internal error: %s: %s (run with KIPOI_DEBUG=1 for details)"
                   % (type(exc).__name__, exc))
        code = EXIT_FAILED
    sys.exit(code or 0)
