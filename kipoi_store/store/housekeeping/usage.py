"""Which models and snapshots take the space, and when each was last used (`kipoi store ls`).

A model's size is the bytes of the distinct inodes its files occupy (a hardlinked snapshot file and
its object are one inode; in copy mode both count); the bytes only it holds are those of inodes no
other model uses: what removing it alone would free. Likewise for snapshots, against the other
snapshots. A model's downloaded files (its `<model>#files` manifest) count as part of it.
"""

import os
from dataclasses import dataclass
from typing import Optional, Tuple

from kipoi_store.store.core.scan import file_inodes
from kipoi_store.store.core.store import Store
from kipoi_store.store.housekeeping.pending import read_doc

# models/files.py publishes a model's remote files under this manifest name suffix.
FILES_SUFFIX = "#files"


def model_of(manifest_name):
    """The model a manifest belongs to: `m#files` (its downloaded files) belongs to `m`."""
    return manifest_name[:-len(FILES_SUFFIX)] if manifest_name.endswith(FILES_SUFFIX) else manifest_name


@dataclass(frozen=True)
class ModelUsage:
    key: str
    model: str
    files: int
    size: int  # bytes on disk, each inode once
    unique: int  # bytes no other model holds
    last_used: Optional[float]  # the newest of its publication and this user's last use
    manifests: Tuple[str, ...]  # its manifest names (the model's, and `<model>#files` if fetched)


@dataclass(frozen=True)
class SnapshotUsage:
    key: str
    models: Tuple[str, ...]
    size: int
    unique: int
    last_used: Optional[float]


def scan_usage(store: Store, warn=None):
    """([ModelUsage], [SnapshotUsage]), in no particular order. A manifest that cannot be read is
    left out and told to `warn`: the bytes it shares would otherwise count as others' own."""
    used = store.last_use.times()
    inodes = {}  # (key, model) -> {(dev, ino): size}
    files, last, manifests = {}, {}, {}
    for key in store.keys():
        root = store.snapshot_root(key)
        for path in store.manifest_files(key):
            doc, why, _damaged = read_doc(path)
            if why is not None and warn is not None:
                warn("cannot read manifest %s: %s; its model is not listed, and bytes it shares count "
                     "as the other models' own" % (path, why))
            if doc is None:
                continue
            ident = (key, model_of(doc["name"]))
            manifests.setdefault(ident, []).append(doc["name"])
            mine = inodes.setdefault(ident, {})
            executable = set(doc.get("executable") or ())
            for rel, value in doc["files"].items():
                if not isinstance(value, str) or value.startswith("->"):
                    continue
                files[ident] = files.get(ident, 0) + 1
                mine.update(file_inodes(store, root, rel, value, rel in executable))
            stamps = [os.lstat(path).st_mtime, used.get((key, path.name))]
            last[ident] = max([s for s in stamps if s is not None] + [last.get(ident) or 0.0])
    holders = _holders(inodes.values())
    models = [ModelUsage(key, model, files.get((key, model), 0), sum(sizes.values()),
                         _unique(sizes, holders), last.get((key, model)) or None,
                         tuple(sorted(manifests[(key, model)])))
              for (key, model), sizes in inodes.items()]
    by_key = {}
    for (key, _model), sizes in inodes.items():
        by_key.setdefault(key, {}).update(sizes)
    holders = _holders(by_key.values())
    members = {}
    for m in models:
        members.setdefault(m.key, []).append(m)
    snapshots = [SnapshotUsage(key, tuple(sorted(m.model for m in members[key])),
                               sum(sizes.values()), _unique(sizes, holders),
                               max((m.last_used or 0.0 for m in members[key]), default=0.0) or None)
                 for key, sizes in by_key.items()]
    return models, snapshots


def _holders(groups):
    """inode -> how many of `groups` (dicts keyed by inode) hold it."""
    counts = {}
    for sizes in groups:
        for inode in sizes:
            counts[inode] = counts.get(inode, 0) + 1
    return counts


def _unique(sizes, holders):
    return sum(size for inode, size in sizes.items() if holders[inode] == 1)
