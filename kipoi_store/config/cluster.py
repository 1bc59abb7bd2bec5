"""What a lab or cluster adds to a config: the system config read beneath the user's, site stores,
and the download-lock settings.

    site_stores: [/shared/kipoi/store]    read-only stores searched after the user's own
    locks: false                          download locks off (where flock hangs)
    lock_timeout: 10m                     the longest wait for another process's download

The system config (/etc/kipoi/config.yaml, KIPOI_SYSTEM_CONFIG) is read beneath the user's: kipoi's
defaults (when the user names no sources) < the admin's sources < the user's, by name; the user's
url_rewrites first, then the admin's for other prefixes; the user's site stores and store mirrors,
then the admin's; a lock or timeout setting the user does not make is the admin's. Edits only ever
touch the user's file.
"""

from kipoi_store.config.schema import PERMALINK_SOURCE, parse_duration
from kipoi_store.errors import UsageError

KEYS = ("site_stores", "locks", "lock_timeout")


def setting(name, value, node, where, path_value, describe):
    """The value of top-level key `name` (one of KEYS), checked; ConfigError naming file and line.
    `path_value(item, item_node, key)` reads one configured path, `describe(value)` shows a value."""
    if name == "site_stores":
        if value is None:
            return []
        if not isinstance(value, list):
            raise where.error(node, name, "must be a list of store directories, found %s"
                              % describe(value))
        found = []
        for item, item_node in zip(value, node.value, strict=True):
            path = path_value(item, item_node, name)
            if path not in found:
                found.append(path)
        return found
    if name == "locks":
        if not isinstance(value, bool):
            raise where.error(node, name, "must be true or false, found %s" % describe(value))
        return value
    try:
        return parse_duration(value)
    except UsageError:
        raise where.error(node, name, "bad duration %s: seconds, or e.g. 30s, 15m, 1h"
                          % describe(value)) from None


def beneath(user, user_explicit, system, system_explicit, implicit_permalink):
    """Config `user` read over config `system`; `*_explicit`: whether each file names its sources
    (model_sources:); `implicit_permalink` is the github-permalink source a config gets unasked."""
    sources = {} if user_explicit else dict(user.sources)  # kipoi's defaults
    if system_explicit:
        sources.update(system.sources)
    if user_explicit:
        mine = dict(user.sources)
        if PERMALINK_SOURCE in sources and mine.get(PERMALINK_SOURCE) == implicit_permalink:
            del mine[PERMALINK_SOURCE]  # added for the user, not written: the admin's counts
        sources.update(mine)
    prefixes = {prefix for prefix, _ in user.url_rewrites}
    rewrites = list(user.url_rewrites) + [r for r in system.url_rewrites if r[0] not in prefixes]
    sites = list(user.site_stores) + [s for s in system.site_stores if s not in user.site_stores]
    mirrors = list(user.store_mirrors) + [m for m in system.store_mirrors if m not in user.store_mirrors]
    unset = {name: getattr(system, name) for name in ("locks", "lock_timeout", "connect_timeout",
                                                      "read_timeout") if getattr(user, name) is None}
    return user.replace(sources=sources, url_rewrites=rewrites, site_stores=sites,
                        store_mirrors=mirrors, warnings=list(system.warnings) + list(user.warnings),
                        system_path=system.path, **unset)
