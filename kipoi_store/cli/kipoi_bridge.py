"""kipoi's own commands through our front command: `kipoi predict lab:Basset@v1 ...` runs kipoi.

dispatch.py hands over a first word that none of our programs answers. With the kipoi package
importable, the process becomes `python -m kipoi WORD ARGS...` (exec: exit code, signals, stdin and
output are kipoi's own). Where kipoi takes a model, a spec kipoi cannot read (SOURCE:PATH,
SOURCE::PATH, PATH@REF, a permalink URL, or `--source github-permalink` with a permalink path) is
resolved through the store first, with its files (for `test` also its examples and test
expectation), and handed to kipoi as a directory: `--source dir <kipoi_path>`.

kipoi installed in another environment (its own venv, a conda env) is found as its console script
later on PATH: the spec is resolved here all the same, then that program runs.
"""

import os
import sys

from kipoi_store.cli import boundary

INSTALL = "pip install kipoi==0.8.6 six"
# kipoi 0.8.6's commands (kipoi/__main__.py) and those of its plugins (kipoi_veff, kipoi_interpret):
# the words that earn the "kipoi is not installed" line instead of "not a command".
KIPOI_COMMANDS = frozenset([
    "preproc", "predict", "pull", "ls", "list_plugins", "info", "env", "test", "get-example",
    "test-source", "init", "postproc", "veff", "interpret"])

# The commands that take a model (kipoi/cli/main.py): their default --source, the options that
# take one value and those that take one or more (argparse nargs="+"), so that the model (the
# first positional argument) can be found in any argument order argparse accepts.
MODEL_COMMANDS = {
    "predict": ("kipoi", {"--source", "--dataloader", "--dataloader_source", "--batch_size", "-n",
                          "--num_workers", "-l", "--layer"}, {"--dataloader_args", "-o", "--output"}),
    "test": ("dir", {"--source", "--batch_size", "-o", "--output", "-e", "--expect"}, set()),
    "info": ("kipoi", {"--source", "--dataloader", "--dataloader_source"}, {"--dataloader_args"}),
    "get-example": ("kipoi", {"--source", "-o", "--output"}, set()),
    "pull": ("kipoi", {"--source"}, set()),
}
WITH_EXAMPLES = frozenset(["test"])  # runs predict_example and checks test.expect


def kipoi_importable():
    """Whether this interpreter can import kipoi (found, not imported: that costs ~0.4 s)."""
    import importlib.util

    try:
        return importlib.util.find_spec("kipoi") is not None
    except (ImportError, ValueError):
        return False


class ModelArg:
    """Where the model and the --source value sit in a kipoi command's arguments."""

    def __init__(self, index, source, source_index, source_inline):
        self.index = index                  # of the model argument, or None
        self.source = source                # the effective --source (the command's default if none)
        self.source_index = source_index    # of the argument holding the --source value, or None
        self.source_inline = source_inline  # True for `--source=X`


def find_model(command, args):
    """The model argument of `kipoi COMMAND ARGS...`, read as kipoi's argparse would."""
    default, single, multiple = MODEL_COMMANDS[command]
    found = ModelArg(None, default, None, False)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            if found.index is None and i + 1 < len(args):
                found.index = i + 1
            break
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            if name == "--source":
                if eq:
                    found.source, found.source_index, found.source_inline = value, i, True
                elif i + 1 < len(args):
                    found.source, found.source_index = args[i + 1], i + 1
            if not eq and name in single:
                i += 2
                continue
            i += 1
            if not eq and name in multiple:
                while i < len(args) and not args[i].startswith("-"):
                    i += 1
            continue
        if found.index is None:
            found.index = i
        i += 1
    return found


def store_spec(token, found):
    """The spec to resolve through the store for model argument `token`, or None to leave it to
    kipoi (a plain model name in a source kipoi has, or a directory that exists)."""
    if os.path.exists(token):
        return None
    if ":" in token:
        return token  # SOURCE:PATH[@REF], SOURCE::PATH, https://github.com/... : ours to read
    if "@" in token:
        return None if found.source == "dir" else "%s:%s" % (found.source, token)
    if found.source == "github-permalink" and found.source_index is not None:
        return "github-permalink:" + token
    return None


def rewrite(command, args):
    """`args` with a store spec replaced by the directory it resolves to and `--source dir`."""
    if command not in MODEL_COMMANDS:
        return list(args)
    found = find_model(command, args)
    spec = store_spec(args[found.index], found) if found.index is not None else None
    if spec is None:
        return list(args)
    from kipoi_store.api import Session

    with Session(warn=boundary.warn) as session:
        resolution, _ = session.resolve(spec, files=True, examples=command in WITH_EXAMPLES)
    out = list(args)
    out[found.index] = resolution.kipoi_path
    if found.source_index is None:
        return ["--source", "dir"] + out
    out[found.source_index] = "--source=dir" if found.source_inline else "dir"
    return out


def kipoi_on_path():
    """kipoi's own console script on PATH (`from kipoi.__main__ import main`), or None. Our front
    command names kipoi_store in its first lines: it is never taken, so nothing loops."""
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(directory or os.curdir, "kipoi")
        try:
            with open(path, "rb") as f:
                head = f.read(1024)
        except OSError:
            continue
        if (head.startswith(b"#!") and b"kipoi.__main__" in head and b"kipoi_store" not in head
                and os.access(path, os.X_OK)):
            return path
    return None


def _exec_kipoi(program, args):
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(program[0], program + list(args))


def main(args, help_mode=False):
    """Run kipoi's command `args[0]`; never returns when kipoi runs. Returns None when the word is
    not kipoi's either (the front command then says so), else an exit code."""
    word = args[0]
    if kipoi_importable():
        program = [sys.executable, "-m", "kipoi"]
    else:
        other = kipoi_on_path()
        if other is None:
            if word not in KIPOI_COMMANDS:
                return None
            boundary.error_line("'%s' is a command of the kipoi package, which %s cannot import and "
                                "no kipoi on PATH provides: install it with `%s`"
                                % (word, sys.executable, INSTALL))
            return 1
        program = [other]
    if help_mode:
        _exec_kipoi(program, [word, "--help"])
    boundary.run(lambda rest: _exec_kipoi(program, [word] + rewrite(word, rest)), args[1:])
