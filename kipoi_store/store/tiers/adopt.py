"""A model a site store holds, built again in the user's store when it must grow there.

A model complete in a site store resolves from the site, as it is. But the site is read-only: when
a command must add to a model (its downloaded files, its examples) and the site lacks that, the
model is published in the user's store from the site's manifest, each object taken from the site
(a hardlink, or a verified copy where the link is refused: store.has_object), and what the site has
of the companions asked for (`<model>#files`, say) comes along the same way. Then the files are
fetched into the user's snapshot, beside the model.

    location = adopt_for(store, key, model, location, ["#files"])   # where the model is now
"""

import os

from kipoi_store.errors import IntegrityError
from kipoi_store.store.core.entries import FileEntry, LinkEntry


def adopt_for(store, key, model, location, suffixes):
    """The model directory to use for adding the companions `<model><suffix>` to model `model` of
    snapshot `key`, now at `location`: `location` itself when the site store holding the model has
    every companion already (nothing to add: the site serves it, uncopied); else the directory in
    `store`, where the model has been published from the site if need be, with each companion a
    site store has (the files must lie beside the model kipoi loads)."""
    holder = store.use(key, model)
    if holder is None:
        return location
    names = [model + suffix for suffix in suffixes]
    if holder is not store and all(holder.manifest(key, name) is not None for name in names):
        return location
    wanted = [name for name in ([model] if holder is not store else []) + names
              if store.manifest(key, name) is None]
    for name in wanted:
        site = next((s for s in store.sites if s.manifest(key, name) is not None), None)
        if site is not None:
            store.require_writable()
            _publish_from(store, site, key, name)
    if holder is store:
        return location
    return store.snapshot_location(key, os.path.relpath(location, holder.snapshot_root(key)))


def _publish_from(store, site, key, name):
    doc = site.manifest(key, name)
    if doc is None or not isinstance(doc.get("files"), dict):
        raise IntegrityError("site store %s: the manifest of %s at %s is damaged"
                             % (site.root, name, key))
    executable = set(doc.get("executable") or ())
    entries = {}
    for path, value in doc["files"].items():
        if not isinstance(value, str):
            raise IntegrityError("site store %s: the manifest of %s at %s is damaged (%s)"
                                 % (site.root, name, key, path))
        if value.startswith("->"):
            entries[path] = LinkEntry(value[2:])
        elif store.has_object(value):  # here already, or taken from a site store just now
            entries[path] = FileEntry(value, path in executable)
        else:
            raise IntegrityError("site store %s: %s of %s at %s names object %s, which it lacks or "
                                 "holds damaged" % (site.root, path, name, key, value))
    info = doc.get("info") if isinstance(doc.get("info"), dict) else None
    store.publish(key, name, entries, info=info)
