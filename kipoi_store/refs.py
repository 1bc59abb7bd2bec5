"""Which snapshot keys the current config still reaches: what `kipoi store gc` must keep."""

from .errors import KipoiError
from .statcache import StatCache


def current_keys(config, store):
    """Keys of the snapshots each configured source currently resolves to, learnt without network.

    git sources: the cached commit of their configured ref; local sources: the content keys their
    models had when last resolved. Permalinks pin commits forever, so gc's --keep-days decides those.
    """
    keys = set()
    local_roots = {str(s.local_path) for s in config.sources.values()
                   if s.type == "local" and s.local_path is not None}
    if local_roots and (store.cache_dir / "stat").is_dir():
        cache = StatCache(store.cache_dir / "stat")
        try:
            for k in list(cache.keys()):
                if isinstance(k, tuple) and len(k) == 3 and k[0] == "model" and k[1] in local_roots:
                    record = cache.get_raw(k)
                    if record:
                        keys.add(record["key"])
        finally:
            cache.close()
    for source in config.sources.values():
        if source.type not in ("git", "git-lfs") or not source.remote_url:
            continue
        from .sources.git import GitSource

        try:
            git = GitSource(source, store, offline=True, rewrites=config.url_rewrites)
            if git.remote.exists():
                keys.add(git.commit_for(None))
        except KipoiError:
            continue  # never resolved here: nothing of it to keep
    return keys
