"""Site stores' clones as git alternates: their objects are read as if they were the clone's own.

A site store (read-only, an admin's) often holds a clone of the same remote with the commits, trees
and small blobs a model needs. Listed in `<clone>/objects/info/alternates`, its object directory is
searched after the clone's own by every git command, so a model of a commit the site's clone holds
is built without a fetch.

An alternate is data only: git reads its packs and loose objects, never its config or hooks, and
its owner does not matter (safe.directory guards a repository git runs in, not one it reads objects
from). The one way git would run something in it, listing its refs during a fetch, is turned off in
cli.BASE_CONFIG (core.alternateRefsCommand).

The file is rewritten whenever the site stores change. When an alternate goes away, objects the
clone found there go with it: the `kipoi-complete/` marks (which say "every tree of this commit is
here") are dropped then, so each commit is checked again and whatever is missing is fetched.
"""

import os

ALTERNATES = os.path.join("objects", "info", "alternates")
COMPLETE = "kipoi-complete"  # <git_dir>/kipoi-complete/<commit>: every tree of it is here (remote.py)


def wanted(site_dirs):
    """The object directories of those site clones that exist, in the order sites are searched."""
    found = []
    for git_dir in site_dirs:
        objects = os.path.join(os.fspath(git_dir), "objects")
        if "\n" in objects or objects.startswith(('"', "#")):
            continue  # the file's syntax could not say it as it is: such a site is not used
        if os.path.isdir(objects) and objects not in found:
            found.append(objects)
    return found


def current(git_dir):
    try:
        with open(os.path.join(git_dir, ALTERNATES), encoding="utf-8", errors="surrogateescape") as f:
            return [line.strip() for line in f if line.strip() and not line.startswith("#")]
    except (FileNotFoundError, NotADirectoryError):
        return []


def sync(git_dir, site_dirs):
    """Make `git_dir`'s alternates the object directories of `site_dirs` (best effort: a clone we
    cannot write keeps what it has). Returns True when the file changed."""
    git_dir = os.fspath(git_dir)
    new = wanted(site_dirs)
    old = current(git_dir)
    if new == old:
        return False
    from kipoi_store.store.core.staging import write_atomic

    path = os.path.join(git_dir, ALTERNATES)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, "".join(line + "\n" for line in new).encode("utf-8", "surrogateescape"))
    except OSError:
        return False
    if set(old) - set(new):
        import shutil  # only when a site went away: keeps the warm path's imports small

        shutil.rmtree(os.path.join(git_dir, COMPLETE), ignore_errors=True)
    return True
