"""kipoi store export: write what models need as a tar bundle or into a mirror directory."""

import os
import sys

from kipoi_store.cli import boundary
from kipoi_store.cli.commands.specs import Run, add_content_options, add_spec_options, read_specs
from kipoi_store.errors import EXIT_OK, KipoiError, UsageError

SUMMARY = "Export models from the store as a tar bundle or into a mirror directory"


def parser():
    p = boundary.ArgumentParser(prog="kipoi store export", summary=SUMMARY, epilog=(
        "Each spec is resolved (from the store when it is there), then its files, and with "
        "--files the remote files its model.yaml names, are written in the mirror layout "
        "(see the README): with -o as one tar (-o - streams it to stdout), with --mirror added to "
        "a directory any web server can serve, objects first and manifests last, only what it "
        "lacks. stdout lists each exported model's pinned spec (except with -o -). If any spec "
        "fails, nothing is written. Exit status: 0 done, 1 a spec failed or the store is "
        "damaged, 2 bad input."))
    add_spec_options(p, json=False)
    add_content_options(p, "export")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--output", metavar="FILE", help="write one tar bundle ('-': stdout)")
    where.add_argument("--mirror", metavar="DIR", help="add to the mirror directory DIR")
    return p


def main(argv):
    from kipoi_store.dist.export import Export

    p = parser()
    args = p.parse_args(argv)
    specs = list(args.specs) + (read_specs(sys.stdin, args.null) if args.stdin else [])
    if not specs:
        p.error("no spec given (name one, or use --stdin)")
    _check_destination(args)  # before any download: a typo in -o is not found at the end
    run = Run(args)
    export = Export(run.store)
    pinned, worst = [], EXIT_OK
    try:
        for text in specs:
            try:
                pinned.append(_add(run, export, text, args))
            except KipoiError as exc:
                boundary.error_line(str(exc))
                worst = max(worst, exc.exit_code)
    finally:
        run.resolver.close()
    if worst != EXIT_OK:
        boundary.note("nothing exported: %d spec(s) failed" % (len(specs) - len(pinned)))
        return worst
    if args.mirror:
        done = export.write_mirror(args.mirror)
        where = os.path.abspath(os.path.expanduser(args.mirror))
    elif args.output == "-":
        if sys.stdout.isatty():
            raise UsageError("refusing to write a tar bundle to a terminal (redirect -o - or name a file)")
        sys.stdout.flush()
        done = export.write_tar(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        where = "stdout"
    else:
        done, where = _write_tar_file(run.store, export, args.output)
    if args.output != "-":
        for line in pinned:
            sys.stdout.write(line + "\n")
    boundary.note("exported %d model(s), %d manifest(s): %d object(s) written (%d bytes), %d already "
                  "there, to %s" % (len(pinned), done.models, done.objects, done.bytes, done.skipped, where))
    return EXIT_OK


def _add(run, export, text, args):
    from kipoi_store.models.files import EXAMPLES_SUFFIX, FILES_SUFFIX

    files = args.files or args.examples
    resolution, _ = run.session.resolve(text, files=files, examples=args.examples)
    key, model = resolution.key, resolution.model
    holder = run.store.use(key, model) or run.store
    directory = os.path.relpath(resolution.location, str(holder.snapshot_root(key)))
    export.add_model(key, model, directory=directory, group=resolution.group)
    for suffix, wanted in ((FILES_SUFFIX, files), (EXAMPLES_SUFFIX, args.examples)):
        if wanted:
            export.add_model(key, model + suffix, index_md5=True)
    return resolution.pinned or text


def _check_destination(args):
    if args.mirror:
        if os.path.exists(args.mirror) and not os.path.isdir(args.mirror):
            raise UsageError("--mirror %s: is a file, not a directory" % args.mirror)
        return
    if args.output == "-":
        return
    target = os.path.abspath(os.path.expanduser(args.output))
    if os.path.isdir(target):
        raise UsageError("-o %s: is a directory (use --mirror DIR to write a mirror)" % args.output)
    if not os.path.isdir(os.path.dirname(target)):
        raise UsageError("-o %s: no such directory %s" % (args.output, os.path.dirname(target)))


def _write_tar_file(store, export, output):
    """The bundle is written beside its final name and renamed: never a half bundle under it."""
    from kipoi_store.store.core.staging import write_atomic

    target = os.path.abspath(os.path.expanduser(output))
    done = []
    write_atomic(target, lambda f: done.append(export.write_tar(f)))
    return done[0], target
