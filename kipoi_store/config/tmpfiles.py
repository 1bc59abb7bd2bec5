"""The temporary files a config edit writes beside the config, and the leftovers of killed edits.

An edit writes `.<config name>.<pid>@<host>@<random>.tmp` and renames it over the config. A writer
killed in between leaves that file; the next edit, holding the lock every edit holds while its file
exists, deletes it: only names we make, and only those whose writer ran on this host and is gone,
or that are older than LEFTOVER_AGE (a writer on another host we cannot ask).
"""

import os
import time

from kipoi_store.store.core.staging import HOST, new_name, tmp_owner

LEFTOVER_AGE = 3600
_SUFFIX = ".tmp"


def temp_path(target):
    """A fresh temporary path beside config file `target` (a Path), named after its writer."""
    return target.with_name(".%s.%s%s" % (target.name, new_name(), _SUFFIX))


def remove_leftovers(target):
    """Delete what killed edits of `target` left (best effort: a folder we cannot list or a file
    we cannot delete is left as it is)."""
    prefix, now = ".%s." % target.name, time.time()
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_SUFFIX)):
            continue
        path = target.parent / name
        owner = tmp_owner(name[len(prefix):-len(_SUFFIX)])
        try:
            if owner is not None and owner[1] == HOST:
                if _alive(owner[0]):
                    continue
            elif now - os.lstat(path).st_mtime < LEFTOVER_AGE:
                continue
            os.unlink(path)
        except OSError:
            continue


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True
