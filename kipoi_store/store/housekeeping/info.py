"""What the store holds: its location, link mode, counts and sizes, and what deduplication saves."""

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from kipoi_store.store.core.scan import file_inodes, read_manifest, walk_files
from kipoi_store.store.core.store import Store


@dataclass(frozen=True)
class StoreInfo:
    location: Path
    link_mode: Optional[str]  # None while no snapshot was ever published
    snapshots: int
    models: int  # published (key, model) pairs: manifests
    objects: int
    bytes_on_disk: int  # every regular file under the store, each inode once
    bytes_objects: int
    bytes_logical: int  # what the published models would take as plain copies
    bytes_saved: int  # by deduplication and hardlinks

    def as_dict(self):
        d = dict(self.__dict__)
        d["location"] = str(self.location)
        return d


def store_info(store: Store) -> StoreInfo:
    seen = set()
    total = 0
    for _path, st in walk_files(store.root) if store.root.is_dir() else ():
        if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    sizes, object_bytes, n_objects = {}, 0, 0
    for digest, _executable, path in store.iter_objects():
        if digest is None:
            continue
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        n_objects += 1
        object_bytes += st.st_size
        sizes[digest] = st.st_size
    # Saved = what plain copies of every snapshot would take (each file once, however many models
    # of the snapshot hold it), minus what their files take in the store: distinct inodes among
    # their snapshot files and objects (copies count in copy mode).
    logical, models, snapshots, used = 0, 0, 0, {}
    counted = set()  # (key, path): the models of a group share its files, a copy holds them once
    for key in store.keys():
        root = store.snapshot_root(key)
        if root.is_dir():
            snapshots += 1
        for m in store.manifest_files(key):
            doc = read_manifest(m)
            if doc is None:
                continue
            models += 1
            executable = set(doc.get("executable") or ())
            for rel, value in doc["files"].items():
                if value.startswith("->") or value not in sizes or (key, rel) in counted:
                    continue
                counted.add((key, rel))
                logical += sizes[value]
                used.update(file_inodes(store, root, rel, value, rel in executable))
    stored = sum(used.values())
    return StoreInfo(store.root, store.recorded_link_mode(), snapshots, models, n_objects, total,
                     object_bytes, logical, max(0, logical - stored))
