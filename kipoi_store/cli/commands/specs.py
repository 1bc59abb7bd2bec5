"""What the spec-taking commands (resolve, pin, pull) share: their options, reading specs, and
one loop that prints good results, reports bad specs on stderr and returns the worst exit code."""

import sys

from kipoi_store.cli import boundary
from kipoi_store.cli.commands import json_line
from kipoi_store.errors import EXIT_FAILED, EXIT_OK, KipoiError


def add_spec_options(p, json=True):
    p.add_argument("specs", nargs="*", metavar="SPEC", help="model specs")
    p.add_argument("--stdin", action="store_true", help="also read specs from stdin, one per line")
    p.add_argument("-z", "--null", action="store_true",
                   help="with --stdin, specs are NUL-separated; output is NUL-separated too")
    if json:
        p.add_argument("--json", action="store_true", help="one JSON object per spec and line")
    p.add_argument("--offline", action="store_true", help="never touch the network (also KIPOI_OFFLINE=1)")
    p.add_argument("--refresh", action="store_true", help="refresh refs from the remote now")


def add_content_options(p, verb):
    """--files and --examples of the commands that carry models elsewhere (export, push)."""
    p.add_argument("--files", action="store_true",
                   help="also %s the remote files (weights) each model names, fetching them first" % verb)
    p.add_argument("--examples", action="store_true",
                   help="also %s each model's example files and test expectations, fetching them "
                        "first (implies --files)" % verb)


def read_specs(stream, nul):
    data = stream.read()
    if nul:
        return [s for s in data.split("\0") if s]
    return [s.strip() for s in data.splitlines() if s.strip()]


class Run:
    """One command invocation over many specs: a store, the config and a resolver shared by all
    (an api.Session whose warnings go to stderr)."""

    def __init__(self, args):
        from kipoi_store.api import Session

        self.args = args
        self.session = Session(offline=args.offline, refresh=args.refresh, warn=boundary.warn)
        self.offline = self.session.offline
        self.store, self.config = self.session.store, self.session.config
        self.resolver = self.session.resolver


def failure(text, exc):
    """(message naming spec `text`, exit code) for what resolving it raised."""
    if isinstance(exc, KipoiError):
        message, code = str(exc), exc.exit_code
    else:  # an OSError of this one spec: a file of its model unreadable, say
        message, code = boundary.os_error_message(exc), EXIT_FAILED
    if "'%s'" % text not in message and repr(text) not in message:
        message = "%s: %s" % (text, _without_model(text, message))
    return message, code


def _without_model(text, message):
    """`message` less its leading `model SOURCE:PATH: ` (the library's name for the model) when
    spec `text` is that model: the spec, which the line starts with, names it once."""
    from kipoi_store import spec

    try:
        parsed = spec.parse(text)
    except KipoiError:
        return message
    head = "model %s:%s: " % (parsed.source, parsed.path)
    return message[len(head):] if message.startswith(head) else message


def run_specs(parser, argv, handle):
    """Parse `argv`, then print `handle(run, spec_text)` for each spec; returns the exit code.

    A spec that fails is reported on stderr, named; with --json it also gets its line on stdout,
    `{"spec": ..., "error": ..., "exit": N}`, so there is exactly one object per spec, in order."""
    args = parser.parse_args(argv)
    specs = list(args.specs)
    if args.stdin:
        specs += read_specs(sys.stdin, args.null)
    elif not specs:
        parser.error("no spec given (name one, or use --stdin)")
    end = "\0" if args.null else "\n"
    out = sys.stdout
    as_json = getattr(args, "json", False)

    def failed(text, message, code):
        if as_json:
            json_line({"spec": text, "error": message, "exit": code}, end)
        return code

    try:
        run = Run(args)
    except KipoiError as exc:  # the config: every spec fails for the same reason, said once
        boundary.error_line(str(exc))
        for text in specs:
            failed(text, str(exc), exc.exit_code)
        return exc.exit_code
    worst = EXIT_OK
    try:
        run.resolver.expect(specs)
        for text in specs:
            try:
                line = handle(run, text)
            except (KipoiError, OSError) as exc:
                if isinstance(exc, BrokenPipeError):
                    raise
                message, code = failure(text, exc)
                boundary.error_line(message)
                worst = max(worst, failed(text, message, code))
                continue
            out.write(line + end)
    finally:
        run.resolver.close()
    return worst
