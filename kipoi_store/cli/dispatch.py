"""The git-style front command: `kipoi a b c ARGS` runs the longest existing `kipoi-a-b-c`.

Matching is pure (`command_words`, `candidates`); finding touches only stat (`search_dirs`,
`find_program`, `list_commands`); printing and exec live in `main`. A first word that is none of
ours goes to kipoi's own command line when the kipoi package is installed (kipoi_bridge.py).
The listing, summaries and suggestions (listing.py) are needed only when no program matched, and
imported then.
Only modules the interpreter has loaded anyway are imported at module level (the rest lazily):
every warm command pays for this start-up.

A command word is one or more hyphen-joined parts of `[a-z0-9][a-z0-9_]*`, so `kipoi source set-url`
and `kipoi source set url` both reach `kipoi-source-set-url`. Anything else (`..`, `a/b`, an option,
an empty word, a capital letter) ends matching: no argument a user or a script passes can make a
program name that reaches outside the search directories.
"""

import errno
import os
import stat
import sys

from kipoi_store import __version__

PREFIX = "kipoi-"
ENV_EXEC_PATH = "KIPOI_EXEC_PATH"
# More words than any command has; bounds the stat calls for long argument lists of plain words.
MAX_WORDS = 8
# NAME_MAX on every filesystem we care about: a longer candidate cannot exist.
MAX_NAME_BYTES = 255
HELP_FLAGS = ("-h", "--help")

_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_REST = _FIRST | {"_"}

# Said by the listing and by the unknown-command message: where a word that is not ours goes.
OTHER_WORDS = ("A first word that none of our commands answers goes to kipoi's own command line\n"
               "(kipoi predict, kipoi test, ...) when the kipoi package is installed")

USAGE = """\
usage: kipoi [--version] [--exec-path[=DIR]] [--help] COMMAND [ARGS...]
       kipoi help COMMAND
"""


# -- matching (pure) --------------------------------------------------------------------------

def _is_part(part):
    return bool(part) and part[0] in _FIRST and all(c in _REST for c in part)


def is_command_word(word):
    """True when `word` may become part of a program name: `[a-z0-9][a-z0-9_]*`, hyphen-joined."""
    return isinstance(word, str) and all(_is_part(p) for p in word.split("-"))


def command_words(args):
    """The leading arguments that are command words; the first one that is not ends the list."""
    words = []
    for arg in args:
        if len(words) == MAX_WORDS or not is_command_word(arg):
            break
        words.append(arg)
    return words


def program_name(words):
    return PREFIX + "-".join(words)


def candidates(args):
    """Program names to try for `args`, longest first: `kipoi-a-b-c`, `kipoi-a-b`, `kipoi-a`."""
    words = command_words(args)
    names = (program_name(words[:n]) for n in range(len(words), 0, -1))
    return [name for name in names if len(name.encode()) <= MAX_NAME_BYTES]


# -- finding (stat only) ----------------------------------------------------------------------

def _absolute_entries(value):
    # Empty and relative entries would search the current directory: never run programs from there.
    return [d for d in value.split(os.pathsep) if d and os.path.isabs(d)]


def builtin_dirs(argv0):
    """The directory holding the invoked `kipoi`, then the one its real path lies in."""
    here = os.path.dirname(os.path.abspath(argv0))
    return _dedup([here, os.path.dirname(os.path.realpath(argv0))])


def search_dirs(exec_paths, environ, argv0):
    """Where to look, in order: `--exec-path` (else KIPOI_EXEC_PATH), kipoi's own dir, then PATH.

    `exec_paths` are the `--exec-path` values (made absolute: the user typed them just now);
    relative entries of the environment variables are skipped.
    """
    if exec_paths:
        first = [os.path.abspath(d) for d in exec_paths if d]
    else:
        first = _absolute_entries(environ.get(ENV_EXEC_PATH, ""))
    path = _absolute_entries(environ.get("PATH", ""))
    return _dedup([os.path.normpath(d) for d in first + builtin_dirs(argv0) + path])


def _dedup(items):
    seen = set()
    return [x for x in items if not (x in seen or seen.add(x))]


def _regular_file(path):
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def find_program(args, dirs):
    """(path, number of words used) of the longest matching program, or (None, 0).

    For one name, the first executable regular file in `dirs` wins. A name that exists only as
    non-executable files still wins over shorter names: exec then fails with a clear message
    (exit 126, as a shell), instead of silently running some other command.
    """
    words = command_words(args)
    for name in candidates(words):
        n = _words_in(name, words)
        blocked = None
        for d in dirs:
            path = os.path.join(d, name)
            if not _regular_file(path):
                continue
            if os.access(path, os.X_OK):
                return path, n
            blocked = blocked or path
        if blocked:
            return blocked, n
    return None, 0


def _words_in(name, words):
    # How many leading words spell `name` (words may themselves contain hyphens).
    suffix = name[len(PREFIX):]
    for n in range(len(words), 0, -1):
        if "-".join(words[:n]) == suffix:
            return n
    return 0


def list_commands(dirs):
    """{suffix: path} of every executable `kipoi-<words>` in `dirs`; the first directory wins.

    `suffix` is the name without `kipoi-` (`source-add`); names that are not command words
    (backups such as `kipoi-x~`, `kipoi-x.py`) are not commands.
    """
    found = {}
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            suffix = name[len(PREFIX):]
            if not name.startswith(PREFIX) or suffix in found or not is_command_word(suffix):
                continue
            path = os.path.join(d, name)
            if _regular_file(path) and os.access(path, os.X_OK):
                found[suffix] = path
    return found


# -- output and running ----------------------------------------------------------------------

def _print_listing(commands, dirs, words=()):
    from kipoi_store.cli import listing

    suffixes = listing.under(commands, words)
    summaries = listing.read_summaries([commands[s] for s in suffixes])
    out = sys.stdout
    if words:
        out.write("usage: kipoi %s COMMAND [ARGS...]\n\n" % " ".join(words))
        out.write("'kipoi %s' commands:\n" % " ".join(words))
    else:
        out.write(USAGE + "\n")
        out.write("Runs the program kipoi-WORD-WORD... for the longest match of the words given.\n")
        out.write("Searched, in order: --exec-path or %s, kipoi's own directory, PATH.\n"
                  % ENV_EXEC_PATH)
        out.write("%s.\n\n" % OTHER_WORDS)
        out.write("Commands:\n" if suffixes else "No commands found in:\n   %s\n"
                  % "\n   ".join(dirs))
    out.write(listing.format_listing(commands, summaries, words))
    if suffixes:
        out.write("\nSee 'kipoi help %sCOMMAND' for the help of one command.\n"
                  % "".join(w + " " for w in words))
    out.flush()
    return 0


def _unknown(commands, words, k, typed):
    from kipoi_store.cli import listing

    group = " ".join(words[:k])
    see = "kipoi %s --help" % group if group else "kipoi --help"
    shown = " ".join(list(words[:k]) + [typed])
    msg = "kipoi: '%s' is not a kipoi command. See '%s'.\n" % (shown, see)
    close = listing.suggestions(commands, words[:k], typed)
    if close:
        msg += "\nThe most similar commands are\n" + "".join("\t%s\n" % c for c in close)
    if k == 0 and words:
        # Only reached when kipoi_bridge found no kipoi to hand the word to.
        from kipoi_store.cli.kipoi_bridge import INSTALL

        msg += "\n%s (it is not here: %s).\n" % (OTHER_WORDS, INSTALL)
    sys.stderr.write(msg)
    return 1


def _exec(path, args):
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(path, [path] + list(args))
    except OSError as exc:
        # As a shell: 127 when the program (or its #! interpreter) is missing, 126 otherwise.
        code = 127 if exc.errno == errno.ENOENT else 126
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT:
            reason += " (is its #! interpreter installed?)"
        elif exc.errno == errno.EACCES and not os.access(path, os.X_OK):
            reason += " (the file is not executable: chmod +x it)"
        elif exc.errno == errno.ENOEXEC:
            reason += " (a script needs a #! line)"
        sys.stderr.write("kipoi: error: cannot run '%s': %s\n" % (path, reason))
        return code


# -- our own commands, in this process ---------------------------------------------------------

LAUNCHER_BODY = ("from kipoi_store.cli.boundary import run\n"
                 "from kipoi_store.cli.commands.%s import main\n"
                 "run(main)\n")
LAUNCHER_MAX = 1024


def builtin_module(path, executable=None):
    """The command module that the program at `path` would run, when it is one of our launchers
    (bin/kipoi-<noun>-<verb>, exactly as written there) for this very interpreter: running it here
    does what exec would do, without starting a second interpreter (as git runs its builtins).
    None for anything else: a third-party command, a launcher for another Python, an edited one."""
    executable = sys.executable if executable is None else executable
    try:
        with open(path, "rb") as f:
            data = f.read(LAUNCHER_MAX + 1)
    except OSError:
        return None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    lines = text.split("\n", 2)
    if len(data) > LAUNCHER_MAX or len(lines) != 3 or not executable:
        return None
    shebang, summary, body = lines
    if shebang != "#!" + executable or not summary.startswith("# kipoi-summary:"):
        return None
    head = LAUNCHER_BODY.partition("%s")[0]
    module = body[len(head):].partition(" ")[0] if body.startswith(head) else ""
    if not module or not all(c in _REST for c in module) or body != LAUNCHER_BODY % module:
        return None
    return "kipoi_store.cli.commands." + module


def _run_builtin(module, path, args):
    """Run our command `module` here, as its launcher at `path` would run it: sys.argv as the
    launcher would see it, the one exception boundary, its exit code."""
    main = __import__(module, fromlist=["main"]).main
    from kipoi_store.cli.boundary import run

    sys.argv = [path] + list(args)
    run(main, list(args))  # exits


def _dispatch(args, dirs, help_mode):
    words = command_words(args)
    path, n = find_program(words, dirs)
    if path and (not help_mode or n == len(words) == len(args)):
        rest = ["--help"] if help_mode else args[n:]
        module = builtin_module(path) if os.access(path, os.X_OK) else None
        if module is not None:
            return _run_builtin(module, path, rest)
        return _exec(path, rest)
    commands = list_commands(dirs)
    if not args:
        return _print_listing(commands, dirs)
    if not words:
        return _unknown(commands, [], 0, args[0])
    from kipoi_store.cli import listing

    k = listing.deepest_group(commands, words)
    if k == 0:
        # None of ours: kipoi's own command (predict, test, ...) when kipoi is installed.
        from kipoi_store.cli import kipoi_bridge

        code = kipoi_bridge.main(args, help_mode)
        if code is not None:
            return code
    if k < len(words):
        return _unknown(commands, words, k, words[k])
    rest = args[len(words):]
    if not rest or (not help_mode and len(rest) == 1 and rest[0] in HELP_FLAGS):
        return _print_listing(commands, dirs, words)
    if help_mode:
        return _unknown(commands, words, k, rest[0])
    group = " ".join(words)
    sys.stderr.write("kipoi: '%s' needs a command: kipoi %s COMMAND [ARGS...]. See 'kipoi %s --help'.\n"
                     % (group, group, group))
    return 1


def main(argv=None):
    """The `kipoi` executable. Execs a program, or prints and exits."""
    from kipoi_store.cli import streams

    streams.guard()
    argv = sys.argv if argv is None else argv
    argv0, args = argv[0], list(argv[1:])
    exec_paths, show = [], None
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in HELP_FLAGS:
            show = "help"
        elif opt == "--version":
            show = show or "version"
        elif opt.startswith("--exec-path="):
            exec_paths.append(opt.partition("=")[2])
        elif opt == "--exec-path":
            if args:
                exec_paths.append(args.pop(0))
            else:
                show = show or "exec-path"
        elif opt == "--":
            break
        else:
            sys.stderr.write("kipoi: error: unknown option '%s' (see 'kipoi --help')\n" % opt)
            sys.exit(2)
    if show == "version":
        print("kipoi_store " + __version__)
        sys.exit(0)
    if show == "exec-path":
        print(builtin_dirs(argv0)[0])
        sys.exit(0)
    if exec_paths:
        # Nested `kipoi` calls from the program we run must search the same directories.
        os.environ[ENV_EXEC_PATH] = os.pathsep.join(os.path.abspath(d) for d in exec_paths if d)
    dirs = search_dirs(exec_paths, os.environ, argv0)
    help_mode = show == "help" or (args[:1] == ["help"])
    if args[:1] == ["help"]:
        args = args[1:]
    if show == "help" and not args:
        sys.exit(_print_listing(list_commands(dirs), dirs))
    try:
        sys.exit(_dispatch(args, dirs, help_mode))
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:  # the listing could not be written (stdout closed, say)
        sys.stderr.write("kipoi: error: %s\n" % (exc.strerror or exc))
        sys.exit(1)
