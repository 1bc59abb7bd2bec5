"""kipoi store push: publish models to an OCI registry, one artifact per model."""

import os
import sys

from kipoi_store.cli import boundary
from kipoi_store.cli.commands.specs import Run, add_content_options, add_spec_options, failure, read_specs
from kipoi_store.errors import EXIT_OK, KipoiError, UsageError

SUMMARY = "Push models to an OCI registry (oci://REGISTRY/REPOSITORY)"


def parser():
    p = boundary.ArgumentParser(prog="kipoi store push", summary=SUMMARY, epilog=(
        "SPEC... oci://REGISTRY/REPOSITORY: the last argument is the repository. Each spec is "
        "resolved (from the store when it is there) and pushed as one OCI artifact (CNCF ModelPack "
        "media types): one raw layer per file, its digest the store object's sha256; the remote "
        "files that 'resolve --files/--examples' put in the store come along, each also tagged "
        "md5-<hex>. The snapshot's index is tagged with its key (the commit); a branch or tag "
        "spec also moves the tag of that name, a spec without a ref moves 'latest'. Blobs the "
        "registry has are not sent again. stdout: one line per model, the spec that resolves "
        "exactly it again (oci://REGISTRY/REPOSITORY@sha256:<manifest>/PATH). If any spec fails, "
        "nothing is pushed. Exit status: 0 done, 1 a spec or the push failed, 2 bad input."))
    add_spec_options(p, json=False)
    add_content_options(p, "push")
    p.add_argument("-j", "--jobs", type=int, default=4, metavar="N",
                   help="blobs sent at the same time (default 4)")
    return p


def main(argv):
    from kipoi_store.dist.oci import reference

    p = parser()
    args = p.parse_args(argv)
    specs = list(args.specs)
    if not specs or not reference.is_reference(specs[-1]):
        p.error("the last argument must be the registry repository, oci://REGISTRY/REPOSITORY")
    target = reference.parse(specs.pop())
    if target.tag or target.digest:
        raise UsageError("push to %s: name a repository without a tag or digest (tags are the "
                         "snapshot keys and refs pushed)" % reference.format(target))
    specs += read_specs(sys.stdin, args.null) if args.stdin else []
    if not specs:
        p.error("no spec given (name one, or use --stdin)")
    if args.jobs < 1:
        raise UsageError("--jobs %d: must be at least 1" % args.jobs)
    run = Run(args)
    try:
        push, worst, count = _prepare(run, target, specs, args)
    finally:
        run.resolver.close()
    if worst != EXIT_OK:
        boundary.note("nothing pushed: %d spec(s) failed" % (len(specs) - count))
        return worst
    pushed = push.run(progress=_tty())
    base = reference.format(target)
    for p_ in pushed:
        sys.stdout.write("%s@sha256:%s/%s\n" % (base, p_.digest, p_.name))
    c = push.counts
    boundary.note("pushed %d model(s) to %s: %d blob(s) uploaded (%d bytes), %d already there, "
                  "%d mounted" % (len(pushed), base, c.uploaded, c.bytes, c.exists, c.mounted))
    return EXIT_OK


def _tty():
    from kipoi_store.net.progress import stderr_is_tty

    return stderr_is_tty()


def _prepare(run, target, specs, args):
    from kipoi_store.dist.oci.client import Repository
    from kipoi_store.dist.oci.push import Push

    push = Push(run.store, Repository(target, push=True), workers=args.jobs)
    worst, count = EXIT_OK, 0
    for text in specs:
        try:
            _add(run, push, text, args)
            count += 1
        except KipoiError as exc:
            message, code = failure(text, exc)
            boundary.error_line(message)
            worst = max(worst, code)
    return push, worst, count


def _add(run, push, text, args):
    """Resolve `text` (with its files when asked) and add its model, and whatever of its remote
    files the store holds, to `push`."""
    from kipoi_store.models.files import EXAMPLES_SUFFIX, FILES_SUFFIX

    files = args.files or args.examples
    resolution, _ = run.session.resolve(text, files=files, examples=args.examples)
    key, model = resolution.key, resolution.model
    holder = run.store.use(key, model) or run.store
    root = str(holder.snapshot_root(key))
    directory = os.path.relpath(resolution.location, root)
    remote = {}
    for suffix in (FILES_SUFFIX, EXAMPLES_SUFFIX):
        if run.store.use(key, model + suffix) is not None:
            remote.update(_remote_files(root, resolution, text))
    source_url = None
    if resolution.source in run.config.sources:
        source_url = run.config.sources[resolution.source].remote_url
    push.add_model(key, model, directory=directory, group=resolution.group, commit=resolution.commit,
                   source=resolution.source, source_url=source_url, ref=_moving_ref(resolution),
                   remote=remote)


def _moving_ref(resolution):
    """The branch or tag a push moves: the ref asked for unless it is a commit; `latest` for none."""
    import re

    ref = resolution.ref
    if ref is None:
        return "latest"
    if resolution.commit and re.fullmatch(r"[0-9a-f]{4,64}", ref) and resolution.commit.startswith(ref):
        return None
    return ref


def _remote_files(root, resolution, text):
    """{path in the snapshot: (url, md5)} of the remote files model.yaml names."""
    from kipoi_store.models.layout import wanted_examples, wanted_files

    out = {}
    for finder in (wanted_files, wanted_examples):
        try:
            wanted = finder(root, resolution.model, resolution.group, text)
        except KipoiError:
            continue
        for w in wanted:
            out.setdefault(w.path, (w.url, w.md5))
    return out
