"""A git remote as a resolve asks of it: refs to commits, each commit here with all its trees.

    remote = GitRemote(store_root, "https://github.com/kipoi/models")
    commit = remote.resolve_ref("v0.4", max_age=3600)   # cached answer, refreshed when older
    remote.fetch_commit(commit)                          # commits and trees, never blobs
    remote.fetch_blobs([oid, ...])                       # the blobs a model needs, one round trip
    data = remote.cat().read(oid)

The clone itself (its directory, state file and fetches) is `clone.BareClone`. Fetched commits are
kept reachable by `refs/kipoi/c/<commit>`, which is also what makes the next fetch send only what is
new.

An abbreviated commit that is not here is expanded among commit objects only: all branches and tags
are fetched with `--filter=tree:0` (commits, no trees, no blobs), then only that commit's trees are
fetched, by the id of its root tree. So a commit object being here does not mean its trees are:
`has_commit` checks that every tree of the commit can be read (once; then `kipoi-complete/<commit>`
remembers it, as objects are never deleted), and `fetch_commit` fetches whatever is missing.

That check is skipped where it cannot fail. Until a fetch with a filter other than `blob:none` has
been made (`kipoi-commits-only` marks the clone before it starts), every commit here came in a
`blob:none` fetch with all its trees, and every fetch negotiates only against such commits, so a
commit just fetched by ref or by id is complete and marked so at once: a cold resolve of a ref runs
`fetch` into a temporary ref and one `update-ref --stdin` (keep `refs/kipoi/c/<commit>`, drop the
temporary ref); the fetched id is read from the ref's file and peeled through the cat-file process.
"""

from __future__ import annotations  # annotations stay strings: no typing import

import os
import time

from kipoi_store.git import cli
from kipoi_store.errors import NetworkError, NotFoundError, OfflineError, UsageError
from kipoi_store.git.alternates import COMPLETE  # <git_dir>/kipoi-complete/<commit>: trees all here
from kipoi_store.git.clone import PARTIAL_COMMITS, BareClone
from kipoi_store.git.cli import GitError
from kipoi_store.git.urls import FULL_COMMIT, SHORT_COMMIT, check_ref

COMMITS_ONLY = "tree:0"   # what expanding an abbreviation needs: commit objects, nothing below them
MAX_TAG_DEPTH = 16  # a tag of a tag of ...: as far as any real history goes


class GitRemote(BareClone):
    def __init__(self, store_root, url, warn=None, site_roots=()):
        super().__init__(store_root, url, warn, site_roots)
        self._complete = set()  # commits whose trees are all here
        self.failure = None  # the NetworkError a cached commit stood in for

    def __repr__(self):
        return "GitRemote(%r)" % self.display_url

    # -- commits -----------------------------------------------------------------------------
    def _commit_object(self, commit):
        """Whether the commit object itself is here (its trees may not be)."""
        try:
            return self.cat().info(commit)[0] == "commit"
        except GitError as e:
            if e.missing:
                return False
            raise

    def _missing_trees(self, commit):
        """The trees of `commit` that are not here: one walk over those that are (with no promisor
        in the clone's config, git reports a missing tree instead of fetching it)."""
        root = self._root_tree(commit)
        if not self.cat().exists(root):
            return [root]
        out = cli.run(self.git_dir, ["rev-list", "--objects", "--filter=blob:none", "--missing=print",
                                        "--no-object-names", "--end-of-options", root],
                         what="rev-list %s in %s" % (commit[:12], self.display_url))
        return [line[1:].decode() for line in out.split() if line.startswith(b"?")]

    def _trees_here(self, commit):
        """Whether every tree of `commit` is here; remembered (in-process and on disk) when so."""
        if self._missing_trees(commit):
            return False
        self._mark_complete(commit)
        return True

    def _mark_complete(self, commit):
        self._complete.add(commit)
        try:
            marker = self.git_dir / COMPLETE / commit
            marker.parent.mkdir(exist_ok=True)
            marker.touch()
        except OSError:
            pass  # a read-only store: checked again next time, which is only slower

    def _only_whole_commits(self):
        """Whether every commit object here came with all its trees: no fetch that may bring commits
        without them was ever made in this clone. Ask after the fetch whose result this judges (a
        process starting a commits-only fetch marks the clone before it starts)."""
        if (self.git_dir / PARTIAL_COMMITS).exists():
            return False
        # A clone made before the mark existed: its commits-only fetches left refs/kipoi/{heads,tags}.
        if (self.git_dir / "refs" / "kipoi" / "heads").exists() or \
                (self.git_dir / "refs" / "kipoi" / "tags").exists():
            return False
        try:
            packed = (self.git_dir / "packed-refs").read_bytes()
        except OSError:
            return True
        return b" refs/kipoi/heads/" not in packed and b" refs/kipoi/tags/" not in packed

    def has_commit(self, commit):
        """Whether `commit` and all its trees are here (what listing its files needs)."""
        if commit in self._complete:
            return True
        if not self.exists():
            return False
        self._sync_alternates()  # a site store gone: its objects, and marks relying on them, too
        if FULL_COMMIT.match(commit or "") and (self.git_dir / COMPLETE / commit).is_file():
            self._complete.add(commit)  # checked before, by some process: objects never go away
            return True
        return self._commit_object(commit) and self._trees_here(commit)

    def fetch_commit(self, commit, offline=False):
        """Make sure `commit` (a full id) and its trees are here; blobs stay on the server."""
        if not FULL_COMMIT.match(commit or ""):
            raise UsageError("not a full commit id: %r" % (commit,))
        if self.has_commit(commit):
            return
        if offline:
            raise OfflineError("offline: commit %s of git remote %s is not in the store"
                               % (commit, self.display_url))
        self.ensure_clone()
        if not self._commit_object(commit):
            fetched = False
            try:
                self._fetch(["+%s:refs/kipoi/c/%s" % (commit, commit)], "commit %s" % commit)
                fetched = True
            except NetworkError:
                # Two processes fetching the same commit race for its ref; the objects still arrived.
                if not self._commit_object(commit):
                    raise
            if not self._commit_object(commit):
                raise NotFoundError("%s is not a commit in git remote %s" % (commit, self.display_url))
            if fetched and self._only_whole_commits():
                self._mark_complete(commit)  # came with its trees: no walk needed to know it
                return
            if self.has_commit(commit):
                return
        # The commit object is here without (all of) its trees: it came commits-only, or a fetch
        # negotiated against commits that have none (a server may then skip trees it thinks we
        # have). Ask for the missing trees by id, without negotiation: each comes with every tree
        # below it, and nothing of other commits.
        self._fetch_trees(commit)

    def _fetch_trees(self, commit):
        missing = self._missing_trees(commit)
        while missing:
            self._fetch(missing, "the trees of commit %s" % commit, stdin=True,
                        extra_config=["fetch.negotiationAlgorithm=noop"])
            before, missing = missing, self._missing_trees(commit)
            if set(missing) & set(before):
                raise NotFoundError("git remote %s did not send the trees of commit %s, e.g. %s"
                                    % (self.display_url, commit, missing[0]))
        # Reachable under its own name, as every commit we fetch (best effort, as in _fetch_ref).
        cli.run(self.git_dir, ["update-ref", "--end-of-options", "refs/kipoi/c/" + commit, commit],
                   check=False)
        self._mark_complete(commit)

    def _root_tree(self, commit):
        header = self.cat().read(commit).split(b"\n", 1)[0].decode("ascii", "replace")
        tree = header[5:] if header.startswith("tree ") else ""
        if not FULL_COMMIT.match(tree):
            raise NotFoundError("commit %s of git remote %s names no tree" % (commit, self.display_url))
        return tree

    def _fetch_ref(self, ref):
        """Fetch one ref (None = the remote's HEAD) and return the commit it names now.

        The fetch goes into a temporary ref (a unique name, so concurrent fetches never meet), whose
        file gives the fetched id without a process; the cat-file process (which reading the
        commit's files needs anyway) peels it to a commit; one `update-ref --stdin` keeps the commit
        as refs/kipoi/c/<commit> and drops the temporary ref. No rev-list walk follows while the
        clone holds whole commits only (see `_only_whole_commits`).
        """
        self.ensure_clone()
        tmp = "refs/kipoi/tmp/%d-%s" % (os.getpid(), os.urandom(4).hex())
        self._fetch(["+%s:%s" % (ref or "HEAD", tmp)], "ref %r" % (ref or "HEAD"))
        commit = None
        try:
            oid = self._read_ref(tmp)
            commit = oid and self._peel(oid)
            if not commit:
                raise NotFoundError("ref %r of git remote %s names no commit" % (ref, self.display_url))
        finally:
            self._settle_refs(tmp, commit)
        if self._only_whole_commits():
            self._mark_complete(commit)  # a blob:none fetch of a ref brings the commit and its trees
        return commit

    def _read_ref(self, name):
        """The object id ref `name` holds: a fetch writes a new ref as a loose file, read here
        without a process; anything else (a ref store that is not files) asks git."""
        try:
            oid = (self.git_dir / name).read_text("ascii").strip()
        except (OSError, UnicodeDecodeError):
            oid = ""
        if FULL_COMMIT.match(oid):
            return oid
        out = self._git(["rev-parse", "--verify", "--quiet", "--end-of-options", name], check=False)
        oid = out.decode("ascii", "replace").strip()
        return oid if FULL_COMMIT.match(oid) else None

    def _peel(self, oid):
        """The commit `oid` names, following annotated tags (`oid^{commit}`); None if it names none."""
        cat = self.cat()
        for _ in range(MAX_TAG_DEPTH):
            try:
                kind = cat.info(oid)[0]
            except GitError as e:
                if e.missing:
                    return None
                raise
            if kind == "commit":
                return oid
            if kind != "tag":
                return None  # a tag of a tree or a blob
            header = cat.read(oid).split(b"\n", 1)[0].decode("ascii", "replace")
            oid = header[7:] if header.startswith("object ") else ""
            if not FULL_COMMIT.match(oid):
                return None
        return None

    def _settle_refs(self, tmp, commit):
        """Keep `commit` reachable under its own name and drop the temporary ref `tmp`, in one
        transaction (best effort: a concurrent process keeping the same commit is just as good)."""
        lines = ["delete %s\n" % tmp]
        if commit:
            lines.insert(0, "update refs/kipoi/c/%s %s\n" % (commit, commit))
        code, _, _ = cli.run_full(self.git_dir, ["update-ref", "--stdin"],
                                     input="".join(lines).encode())
        if code != 0 and commit:
            # The transaction failed as a whole (the other ref was locked): still drop ours.
            cli.run(self.git_dir, ["update-ref", "-d", "--end-of-options", tmp], check=False)

    def _fetch_all_refs(self):
        """The commits of every branch and tag, without their trees or blobs: how an abbreviated
        commit that is not here yet can be found (for kipoi/models, a few MB less than with trees)."""
        self.ensure_clone()
        refspecs = ["+refs/heads/*:refs/kipoi/heads/*", "+refs/tags/*:refs/kipoi/tags/*"]
        try:
            self._fetch(refspecs, "branches and tags", filter_spec=COMMITS_ONLY)
        except NetworkError as e:
            # A server may allow some filters only (uploadpackfilter.<kind>.allow): then the one
            # every partial clone needs, as before.
            if "filter" not in str(e) or "not supported" not in str(e):
                raise
            self._fetch(refspecs, "branches and tags")

    def _expand(self, short):
        """The full commit an abbreviated id names among local objects; None if none."""
        if not self.exists():
            return None
        code, out, stderr = cli.run_full(
            self.git_dir, ["rev-parse", "--verify", "--end-of-options", short + "^{commit}"])
        if code == 0:
            return out.decode().strip()
        if "ambiguous" in stderr:
            raise UsageError("abbreviated commit %r is ambiguous in git remote %s; give more digits"
                             % (short, self.display_url))
        return None

    def resolve_ref(self, ref: str | None, max_age: float | None, refresh=False, offline=False,
                    warn=None) -> str:
        """The full commit `ref` names (None: the remote's HEAD).

        A full commit id that is here needs no network. Other answers are cached with their time and
        reused while younger than `max_age` seconds (None: until `refresh`). `offline` never uses
        the network; when the network fails, a cached answer is used and `warn` says so.
        """
        if warn is not None:
            self.warn = warn  # also where a fetch below reports a server refusing filters
        warn = self.warn
        check_ref(ref)
        if ref is not None and FULL_COMMIT.match(ref):
            if self.has_commit(ref):
                return ref
            if offline:
                raise OfflineError("offline: commit %s of git remote %s is not in the store"
                                   % (ref, self.display_url))
            self.fetch_commit(ref)
            return ref
        short = ref is not None and SHORT_COMMIT.match(ref)
        if short:
            commit = self._expand(ref.lower())
            if commit:
                return commit
        key = ref or "HEAD"
        cached = self.cached(ref)  # ours, or a site store's
        if cached and not refresh and (max_age is None or time.time() - cached[1] < max_age):
            return cached[0]
        if offline:
            if cached:
                return cached[0]
            raise OfflineError("offline: ref %r of git remote %s has never been resolved"
                               % (key, self.display_url))
        try:
            try:
                commit = self._fetch_ref(ref)
            except NotFoundError:
                if not short:
                    raise
                self._fetch_all_refs()
                commit = self._expand(ref.lower())
                if not commit:
                    raise NotFoundError("no commit %r in git remote %s" % (ref, self.display_url)) from None
                self.fetch_commit(commit)  # its trees, and only its
                return commit
        except NetworkError as e:
            if cached:
                self.failure = e
                warn("%s; using the cached commit %s for %r" % (e, cached[0][:12], key))
                return cached[0]
            raise
        self._remember(key, commit)
        return commit
