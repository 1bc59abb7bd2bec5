"""One module per command: parse arguments, call the library, print. `main(argv) -> int` each."""

import sys


def load_config():
    """The config, with its warnings (unknown keys) already reported on stderr."""
    from kipoi_store.cli import boundary
    from kipoi_store.config import load

    loaded = load.load()
    for message in loaded.warnings:
        boundary.warn(message)
    return loaded


def existing_store(new_ok=False):
    """(the store the store commands look at, whether it exists yet). The default store may not
    exist yet (nothing resolved so far); one named by KIPOI_STORE must, unless `new_ok` (a command
    that fills a new store), and whatever is there must be a store: otherwise UsageError, so
    `KIPOI_STORE=/typo kipoi store verify` never says "fine"."""
    import os

    from kipoi_store.store.core.scan import is_store
    from kipoi_store.store.core.store import Store

    store = Store.default()
    return store, is_store(store.root, must_exist=not new_ok and bool(os.environ.get("KIPOI_STORE")))


def json_text(record):
    """One result as a JSON Lines object: on one line, keys sorted (every command's --json)."""
    import json  # only for --json

    return json.dumps(record, sort_keys=True, default=str)


def json_line(record, end="\n"):
    sys.stdout.write(json_text(record) + end)


def source_fields(source):
    """Every setting of a source, resolved, as plain JSON-ready values (list and show share it)."""
    return {
        "name": source.name,
        "type": source.type,
        "remote_url": source.remote_url,
        "local_path": str(source.local_path) if source.local_path is not None else None,
        "ref": source.ref,
        "refresh": source.refresh,
        "auto_update": source.auto_update,
        "use_lfs": source.use_lfs,
        "lfs_url": source.lfs_url,
        "base_url": source.base_url,
    }
