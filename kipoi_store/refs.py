"""Which snapshot keys the current config still reaches: what `kipoi store gc` must keep."""

from kipoi_store.errors import KipoiError
from kipoi_store.store.user.records import user_records


def current_keys(config, store):
    """Keys of the snapshots each configured source currently resolves to, learnt without network.

    git sources: the cached commit of their configured ref; local sources: the content keys their
    models had when last resolved; registry sources: the snapshot their tag named when last asked.
    Permalinks pin commits forever, so gc's --keep-days decides those.
    """
    keys = set()
    local_roots = {str(s.local_path) for s in config.sources.values()
                   if s.type == "local" and s.local_path is not None}
    if local_roots:
        for key, record in user_records().items():
            if len(key) == 3 and key[0] == "local" and key[1] in local_roots and isinstance(record, dict):
                keys.add(record.get("key"))
        keys.discard(None)
    followed = {(s.remote_url.rstrip("/"), s.ref or "latest") for s in config.sources.values()
                if s.type == "oci" and s.remote_url}
    if followed:  # registry sources: the snapshot their tag named when last asked
        for key, record in user_records().items():
            if len(key) == 4 and key[0] == "oci" and key[1:3] in followed and isinstance(record, dict):
                keys.add(record.get("key"))
        keys.discard(None)
    for source in config.sources.values():
        if source.type not in ("git", "git-lfs") or not source.remote_url:
            continue
        from kipoi_store.sources.git import GitSource

        try:
            git = GitSource(source, store, offline=True, rewrites=config.url_rewrites)
            if git.remote.exists():
                keys.add(git.snapshot_key(git.commit_for(None)))
        except KipoiError:
            continue  # never resolved here: nothing of it to keep
    return keys

