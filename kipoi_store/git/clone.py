"""A bare partial clone of one git remote under the store, and the one way to fetch into it.

Layout: `<store>/git/<16 hex of sha256(normalised url)>.git`, a bare repository with no work tree,
plus `kipoi.json` in it (the ref -> commit answers with their times, and whether the server
filters).

The clone's own config names no promisor remote: only our fetches say `remote.origin.promisor=true`
(and `partialclonefilter`, which would otherwise be written to the config and make `origin` a
promisor too). So no other git command can start a lazy fetch behind our back (one request per
missing object); an object that was not fetched in a batch is an error, not a slow surprise.
Blobs are fetched that way, by id, all that a model needs in one request.
"""

import json
import os
import time

from kipoi_store.git import alternates, cli, reach
from kipoi_store.errors import NetworkError, NotFoundError, OfflineError
from kipoi_store.git.catfile import CatFile
from kipoi_store.git.cli import scrub
from kipoi_store.git.urls import FULL_COMMIT, check_url, clone_dir, config_quote, is_local, url_kind

FILTER = "blob:none"
STATE = "kipoi.json"
# <git_dir>/kipoi-commits-only: a fetch that may leave commits without their trees was made here
PARTIAL_COMMITS = "kipoi-commits-only"
# What git prints when the server has no such ref or object: not a network failure.
_NOT_FOUND = ("couldn't find remote ref", "not our ref", "no such remote ref",
              "unadvertised object", "remote error: upload-pack: not our ref")


def _read_state(git_dir, strict=True):
    """The clone's kipoi.json, checked: {} (with "refs") for anything missing or malformed. One that
    is there but cannot be read (an I/O error) raises OSError when `strict`: taking it for empty
    would make gc take the source's current snapshot for unreached (refs.py)."""
    try:
        with open(git_dir / STATE, encoding="utf-8") as f:
            state = json.load(f)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        state = {}
    except OSError:
        if strict:
            raise
        state = {}
    if not isinstance(state, dict):
        state = {}
    if not isinstance(state.get("refs"), dict):
        state["refs"] = {}
    return state


def _answer(entry):
    """(commit, time) of a cached ref answer, or None when it is not one."""
    if (isinstance(entry, dict) and isinstance(entry.get("commit"), str)
            and FULL_COMMIT.match(entry["commit"])
            and isinstance(entry.get("time"), (int, float)) and not isinstance(entry["time"], bool)):
        return entry["commit"], float(entry["time"])
    return None


class BareClone:
    """The clone of `url` in `store_root`: created on first need, fetched into by `_fetch`."""

    def __init__(self, store_root, url, warn=None, site_roots=()):
        self.url = check_url(url)
        if url_kind(url) == "path":
            self.url = os.path.abspath(os.path.expanduser(url))  # fetches may run from any directory
        self.display_url = scrub(self.url)
        self.git_dir = clone_dir(store_root, self.url)
        # The clones of the same remote in site stores: read only, for the ref answers they hold
        # and, as git alternates, for their objects (alternates.py).
        self.site_dirs = [clone_dir(root, self.url) for root in site_roots]
        self._alternates_synced = False
        self.warn = warn or (lambda message: None)
        self.filter_refused = False   # set when a fetch found the server ignoring our filter
        self._state = None
        self._cat = None
        self._have = set()  # objects seen here: they never go away (gc is off)
        self._url_synced = False

    # -- local state -------------------------------------------------------------------------
    def exists(self):
        return (self.git_dir / "HEAD").is_file()

    def _load(self):
        if self._state is None:
            self._state = _read_state(self.git_dir)
        return self._state

    def _save(self):
        from kipoi_store.store.core.staging import write_atomic

        state = self._load()
        write_atomic(self.git_dir / STATE, json.dumps(state, indent=1, sort_keys=True).encode())

    def _remember(self, key, commit):
        # Re-read first: another process may have learnt other refs meanwhile (last writer wins
        # per key, which is all a cache needs).
        self._state = None
        self._load()["refs"][key] = {"commit": commit, "time": time.time()}
        self._save()

    def cached(self, ref=None):
        """(commit, unix time learnt) of the freshest cached answer for `ref`, ours or a site
        store's clone's, or None."""
        answers = [_answer(self._load()["refs"].get(ref or "HEAD"))]
        for git_dir in self.site_dirs:
            answers.append(_answer(_read_state(git_dir, strict=False)["refs"].get(ref or "HEAD")))
        answers = [a for a in answers if a is not None]
        return max(answers, key=lambda a: a[1]) if answers else None

    def _git(self, args, **kw):
        return cli.run(self.git_dir, args, **kw)

    def _sync_alternates(self):
        """List the site stores' clones as alternates (once per process, before git reads objects
        or anyone trusts a `kipoi-complete` mark)."""
        if not self._alternates_synced and self.exists():
            self._alternates_synced = True
            alternates.sync(self.git_dir, self.site_dirs)

    # -- the clone ---------------------------------------------------------------------------
    def ensure_clone(self, offline=False):
        """Create the bare repository if needed; True when it was created now.

        Creating needs no network: the first fetch (of whatever is asked for first) fills it, so a
        cold resolve makes no extra round trip for a HEAD it may not need.
        """
        if self.exists():
            return False
        if offline:
            raise OfflineError("offline: git remote %s has never been fetched" % self.display_url)
        self.git_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.git_dir.parent / ("%s.tmp-%d-%s" % (self.git_dir.name, os.getpid(), os.urandom(4).hex()))
        try:
            # No template: nothing of a user's init.templateDir (hooks, say) is copied in.
            cli.run(None, ["init", "-q", "--bare", "--template=", "--end-of-options", str(tmp)])
            # Appended in one write rather than five `git config` runs (a cold resolve pays each).
            with open(tmp / "config", "a", encoding="utf-8", errors="surrogateescape") as f:
                f.write('[remote "origin"]\n\turl = %s\n' % config_quote(self.url))
                # Nothing may ever delete what we fetched by id, and no maintenance may start in
                # the background of a command.
                f.write("[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n"
                        "[core]\n\tlogAllRefUpdates = false\n")
            alternates.sync(tmp, self.site_dirs)
            self._alternates_synced = True
            try:
                os.rename(tmp, self.git_dir)
            except OSError:
                if not self.exists():
                    raise
                return False  # another process made it meanwhile: theirs is as good
        finally:
            if tmp.exists():
                import shutil  # only to clean up a failed init: keeps the warm path's imports small

                shutil.rmtree(tmp, ignore_errors=True)
        self._state = None
        self._url_synced = True
        return True

    def _sync_url(self):
        """The configured url may differ from the clone's (credentials, .git suffix): use ours."""
        if self._url_synced:
            return
        self._url_synced = True
        current = cli.run(self.git_dir, ["config", "--get", "remote.origin.url"], check=False)
        if current.decode("utf-8", "surrogateescape").strip() != self.url:
            self._git(["config", "--end-of-options", "remote.origin.url", self.url])

    def _fetch_config(self):
        config = ["remote.origin.promisor=true"]
        if self._load().get("filter", FILTER):
            config.append("remote.origin.partialclonefilter=" + FILTER)
        if is_local(self.url):
            # A local repository is read by a local upload-pack, whose defaults refuse filters and
            # fetching by id; it is the user's own disk, so let it serve them.
            config.append("remote.origin.uploadpack=git -c uploadpack.allowFilter=true "
                          "-c uploadpack.allowAnySHA1InWant=true upload-pack")
        return config

    def _fetch(self, refspecs, what, stdin=False, extra_config=(), filter_spec=FILTER):
        """Run one `git fetch origin` (refspecs after --end-of-options, or on stdin).

        `filter_spec` is asked for unless the server is known to ignore filters.
        """
        self._sync_url()
        self._sync_alternates()
        filtering = self._load().get("filter", FILTER)
        args = ["fetch", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no",
                "--no-auto-gc", "--no-show-forced-updates"]
        if filtering:
            args.append("--filter=" + filter_spec)
            if filter_spec != FILTER:
                # Before the fetch: commits (or trees) may arrive without what is below them, and a
                # fetch killed halfway may leave them too.
                (self.git_dir / PARTIAL_COMMITS).touch()
        if stdin:
            args += ["--stdin", "origin"]
            input_ = "".join(r + "\n" for r in refspecs).encode()
        else:
            args += ["--end-of-options", "origin"] + list(refspecs)
            input_ = None
        bounds = reach.before_fetch(self.url, self.git_dir)
        if bounds.idle is not None:
            args.insert(1, "--progress")  # what the watchdog sees of a working transfer
        result = cli.transfer(self.git_dir, args, input=input_,
                              config=self._fetch_config() + list(extra_config) + bounds.config,
                              env=bounds.env, idle=bounds.idle, first=bounds.first)
        code, stderr = result.returncode, result.stderr.decode("utf-8", "replace")
        if filtering and "filtering not recognized by server" in stderr:
            # The server sent everything: from now on this is a full clone, said once.
            self._state = None
            self._load()["filter"] = None
            self._save()
            self.filter_refused = True
            self.warn("git server %s does not support partial clone (filters): fetched the whole "
                      "repository instead" % self.display_url)
        if code != 0:
            reason = reach.failure(self.url, result)
            if any(s in stderr for s in _NOT_FOUND):
                raise NotFoundError("%s not found in git remote %s (%s)" % (what, self.display_url, reason))
            raise NetworkError("cannot fetch %s from git remote %s: %s" % (what, self.display_url, reason))


    # -- blobs -------------------------------------------------------------------------------
    def missing(self, oids):
        """Those of `oids` that are not here (asks git without ever fetching)."""
        if not self.exists():
            return list(dict.fromkeys(oids))
        cat = self.cat()
        missing = []
        for oid in dict.fromkeys(oids):
            if oid in self._have:
                continue
            if cat.exists(oid):
                self._have.add(oid)
            else:
                missing.append(oid)
        return missing

    def fetch_blobs(self, oids, offline=False):
        """Fetch those of `oids` that are missing, all in one request to the server."""
        missing = self.missing(oids)
        if not missing:
            return 0
        if offline:
            raise OfflineError("offline: %d file(s) of git remote %s are not in the store"
                               % (len(missing), self.display_url))
        # As git's own lazy fetch does it, but for all of them at once: wants only, no negotiation
        # (we have none of these), ids on stdin (no command-line limit).
        self._fetch(missing, "%d file(s)" % len(missing), stdin=True,
                    extra_config=["fetch.negotiationAlgorithm=noop"])
        still = self.missing(missing)
        if still:
            raise NotFoundError("git remote %s did not send %d object(s), e.g. %s"
                                % (self.display_url, len(still), still[0]))
        return len(missing)

    def cat(self):
        """The shared `git cat-file --batch` reader of this clone."""
        if self._cat is None:
            self._sync_alternates()
            self._cat = CatFile(self.git_dir)
        return self._cat

    def close(self):
        if self._cat is not None:
            self._cat.close()
            self._cat = None
