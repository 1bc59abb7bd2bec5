"""Moving a tree built in tmp/ into a snapshot: what is missing arrives by one rename (complete and
already closed), existing directories are merged into, and what is there is kept only when it is
what the entries say. Store (store.py) is built on this; every rename that makes something visible
is announced to the publish's rollback.Publication first, so a publish that cannot finish can undo it.
"""

import errno
import os
import stat

from kipoi_store.errors import IntegrityError
from kipoi_store.store.core import inplace
from kipoi_store.store.core import readonly
from kipoi_store.store.core.entries import LinkEntry
from kipoi_store.store.core.objects import LINK_REFUSALS
from kipoi_store.store.core.staging import discard


class Placing:
    """Methods of Store (needs link_mode, object_str, _copy_object, manifest_files, new_tmp_path,
    _snapshots and _publication)."""

    def _build(self, staging, entries):
        """The tree of `entries` under `staging`, its directories open: entries move out of them
        while merging; each subtree is closed as it moves into the snapshot (_place). Modes come
        from the umask: group-writable in a shared store (see objects.py, readonly.py)."""
        os.mkdir(staging)
        hardlink = self.link_mode == "hardlink"
        made = {""}
        for path in sorted(entries):
            entry = entries[path]
            parent = os.path.dirname(path)
            if parent not in made:
                os.makedirs(os.path.join(staging, parent), exist_ok=True)
                made.add(parent)
            dst = os.path.join(staging, path)
            if isinstance(entry, LinkEntry):
                os.symlink(entry.target, dst)
                continue
            if hardlink and self._link(entry, dst, path):
                continue
            self._copy_object(entry.digest, dst, entry.executable)

    def _link(self, entry, dst, path):
        """Hardlink the object of `entry` at `dst`; False when this file cannot be linked here."""
        obj = self.object_str(entry.digest, entry.executable)
        for _attempt in range(3):
            try:
                os.link(obj, dst)
                return True
            except FileNotFoundError:
                # Also what link(2) says when the name it looked up was renamed over meanwhile
                # (an older writer replacing an object): only a gone object is an error.
                if not os.path.isfile(obj):
                    raise IntegrityError("object %s vanished while publishing %s (a concurrent "
                                         "gc?)" % (entry.digest, path)) from None
            except OSError as exc:
                if exc.errno not in LINK_REFUSALS:
                    raise
                return False
        return False

    def _merge(self, src, dst, key, rel, entries):
        """Move tree `src` into `dst`: whatever is missing arrives by one rename (complete), existing
        directories are merged into, existing files and links are kept when they are what
        `entries` says they are, and replaced when not (never trusted for being there)."""
        try:
            st = os.lstat(dst)
        except FileNotFoundError:
            if self._place(src, dst):
                return
            st = os.lstat(dst)  # appeared meanwhile: merge into what is there now
        mine = os.lstat(src)
        if stat.S_ISDIR(mine.st_mode) and stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(src)):
                self._merge(os.path.join(src, name), os.path.join(dst, name), key,
                            name if not rel else rel + "/" + name, entries)
            if readonly.is_open(st):
                readonly.close(dst)  # left open by a killed publisher or an older store
            return
        if not stat.S_ISDIR(st.st_mode) and not stat.S_ISDIR(mine.st_mode):
            if not inplace.matches(self, dst, st, entries.get(rel)):
                self._replace(src, dst, st)
            return
        if self._named(key, rel):
            kinds = {stat.S_IFDIR: "directory", stat.S_IFREG: "file", stat.S_IFLNK: "symlink"}
            raise IntegrityError("snapshot %s: %s is a %s in the store but a %s in what is published"
                                 % (key, rel or ".", kinds.get(stat.S_IFMT(st.st_mode), "special file"),
                                    kinds.get(stat.S_IFMT(mine.st_mode), "special file")))
        self._replace(src, dst, st)  # a stray no manifest names: ours wins

    def _named(self, key, rel):
        """Whether a manifest of `key` names `rel` or a path below it."""
        from kipoi_store.store.core.scan import read_manifest

        below = rel + "/"
        for path in self.manifest_files(key):
            files = (read_manifest(path) or {}).get("files", {})
            if rel in files or any(p.startswith(below) for p in files):
                return True
        return False

    def _place(self, src, dst):
        """Rename `src` to the free path `dst`, opening its directory for that moment; False when
        something else got there first."""
        moving_dir = stat.S_ISDIR(os.lstat(src).st_mode)
        if moving_dir:
            # Closed before it is visible, but its top: moving a directory rewrites its `..`.
            readonly.close_tree(src, include_top=False)

        publication = self._publication()

        def rename():
            publication.about_to_place(dst)
            try:
                os.rename(src, dst)
            except OSError as exc:
                publication.not_placed(dst)
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                    raise
                return False
            return True

        parent = os.path.dirname(dst)
        placed = rename() if parent == self._snapshots else readonly.change_in(parent, rename)
        if moving_dir:
            if placed:
                readonly.close(dst)
            else:
                readonly.open_tree(src)  # its entries are merged one by one instead
        return placed

    def _replace(self, src, dst, st):
        """Put `src` where `dst` (lstat `st`) is: one rename for a file or link over a file or link,
        else the old entry moves aside into tmp/ first and is deleted after."""
        parent = os.path.dirname(dst)
        if not stat.S_ISDIR(st.st_mode) and not stat.S_ISDIR(os.lstat(src).st_mode):
            publication = self._publication()
            publication.about_to_place(dst)
            try:
                readonly.change_in(parent, lambda: os.rename(src, dst))
            except OSError:
                publication.not_placed(dst)
                raise
            return
        aside = self.new_tmp_path("replaced")

        def move_aside():
            if stat.S_ISDIR(st.st_mode):
                readonly.open_dir(dst)
            os.rename(dst, aside)

        try:
            readonly.change_in(parent, move_aside)
        except FileNotFoundError:
            pass  # gone meanwhile
        try:
            if not self._place(src, dst):
                raise IntegrityError("snapshot path %s keeps changing while it is published" % dst)
        finally:
            discard(aside)
