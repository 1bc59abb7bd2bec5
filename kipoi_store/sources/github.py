"""`github-permalink` sources: a permalink names a repository, a commit and a path in it.

    source = PermalinkSource(config.source("github-permalink"), store)
    source.resolve_permalink(spec.parse("https://github.com/kipoi/models/tree/7d3ea78/rbp_eclip/UPF1"))

A permalink is resolved by the git source machinery (sources/git.py) for the permalink's
repository: the same bare partial clone per remote (so a `git` source of the same remote and every
permalink into it share one clone), only that commit's trees and that model's blobs fetched, LFS
pointers resolved natively, the model published under `snapshots/<commit>/`.

Which server (decided here, as the issue leaves it open):
- `github-permalink:USER/REPO/...` and `https://github.com/USER/REPO/...` (spec.host is None) go to
  the source's `base_url` (default https://github.com). So a mirror or GitHub Enterprise configured
  there also serves the github.com links printed in papers.
- A URL naming any other host goes to that host: the URL says which server holds the commit, and
  the config cannot know better. `url_rewrites:` still apply to the resulting git URL.
- The git URL is `<server>/USER/REPO.git` (GitHub, GitLab, Gitea and `git http-backend` all serve
  that spelling; it is also how kipoi's default source names kipoi/models, so the clone is shared).

Which model a path names (the same rule for `tree/` and `blob/` links):
- the path itself when it is a model (a directory with model.yaml, or a row of a model group);
- else, when the path exists at that commit, the nearest ancestor that is a model: a `blob/` link
  to `Basset/model_files/weights.pth` (or a `tree/` link to `Basset/model_files`) is model Basset;
- else NotFoundError with the usual "did you mean" help (for a `blob/` link, about the directory
  holding the file, since that is the model it points into).

A permalink pinned to a full commit is looked up in the store chain, then in the store mirrors,
before git: the path itself, then each directory above it, as a model published at that commit
(a manifest names it and the path lies in it); so a mirror holding the model serves the permalink
with the git server down, as it serves `SOURCE:MODEL@COMMIT`.

A commit is immutable, so every answer is kept for good: an abbreviated commit that was expanded
once is expanded again from the local clone, and a full commit whose model was published once is
served from the store without starting git at all (no network either way, with or without
--offline).

`Resolution.pinned` is the permalink at the full commit, as a `tree/` link to the model directory
(host kept, /blob/ dropped): the canonical text that names these bytes again.
"""


from kipoi_store.models import catalog
from kipoi_store import spec as specmod
from kipoi_store.errors import NetworkError, NotFoundError, OfflineError, UsageError
from kipoi_store.tree import DIR, parent

DEFAULT_BASE_URL = "https://github.com"
FULL_COMMIT_LENGTHS = (40, 64)


def server_for(spec, base_url):
    """The server a permalink's repository lives on (see the module docstring): pure."""
    return (spec.host or base_url or DEFAULT_BASE_URL).rstrip("/")


def repo_url(server, repo):
    """The git URL of `repo` ("user/name") on `server`: `<server>/user/name.git`."""
    return "%s/%s" % (server.rstrip("/"), repo if repo.endswith(".git") else repo + ".git")


def enclosing_model(tree, path):
    """The name of the model `path` is or lies in (see the module docstring), or None."""
    if _is_model(tree, path):
        return path
    if tree.kind(path) is None:
        return None  # a path that is not there names nothing, not the model around it
    candidate = parent(path)
    while candidate:
        if _is_model(tree, candidate):
            return candidate
        candidate = parent(candidate)
    return None


def _is_model(tree, name):
    """What catalog.find_model accepts, without its costly failure path (that walks the whole tree)."""
    if catalog.is_model_dir(tree, name):
        return True
    parts = name.split("/")
    for i in range(len(parts) - 1, -1, -1):
        group = "/".join(parts[:i])
        if (tree.kind(group) == DIR and catalog.is_group_dir(tree, group)
                and "/".join(parts[i:]) in catalog.group_rows(tree, group)):
            return True
    return False


class PermalinkSource:
    def __init__(self, config, store, offline=False, refresh=False, warn=None, rewrites=None,
                 mirrors=None):
        self.config = config
        self.mirrors = mirrors  # () -> net.mirrors.Mirrors or None, as GitSource takes it
        self.name = config.name
        self.base_url = config.base_url or DEFAULT_BASE_URL
        self.store = store
        self.offline = offline
        self.warn = warn or (lambda message: None)
        self.rewrites = rewrites
        self._gits = {}  # git URL -> GitSource: one per repository, whatever the spelling of the link

    def git_url(self, spec):
        return repo_url(server_for(spec, self.base_url), spec.repo)

    def git(self, spec):
        """The git source of the permalink's repository (its clone is shared with any other)."""
        url = self.git_url(spec)
        source = self._gits.get(url)
        if source is None:
            from kipoi_store.sources.git import GitSource

            # `refresh` is meaningless here: a commit never moves, so nothing is ever re-asked.
            source = self._gits[url] = GitSource(self.config, self.store, offline=self.offline,
                                                 warn=self.warn, rewrites=self.rewrites,
                                                 remote_url=url, mirrors=self.mirrors)
        return source

    def resolve_permalink(self, spec):
        if spec.repo is None or spec.ref is None:
            raise UsageError("not a permalink: %r" % (spec,))
        git = self.git(spec)
        commit = self._commit(git, spec)
        model = self._model(git, commit, spec)
        resolution = git.resolve_at(model, commit, ref=spec.ref)
        pinned = specmod.pinned(spec.replace(path=model, blob=False), commit)
        return resolution.replace(pinned=pinned)

    # Plain `github-permalink:PATH` cannot be written (the parser reads it as a permalink), but a
    # command that lists or resolves by source name may still land here: say what the source is.
    def resolve(self, model, ref=None):
        raise UsageError(self._only_permalinks())

    def list_models(self, prefix=None, ref=None, unusable=None):
        raise UsageError(self._only_permalinks())

    def _only_permalinks(self):
        return ("source '%s' resolves permalinks only (%s:USER/REPO/tree/COMMIT/PATH or "
                "https://HOST/USER/REPO/tree/COMMIT/PATH)" % (self.name, self.name))

    # -- helpers --------------------------------------------------------------------------------
    def _commit(self, git, spec):
        if len(spec.ref) in FULL_COMMIT_LENGTHS:
            return spec.ref  # checked (and fetched if need be) by the git source when it is used
        # Abbreviated: expanded from the local clone when it is there, else after fetching the
        # remote's branches and tags; UsageError when ambiguous, NotFoundError when missing. A
        # commit never moves, so its expansion never expires (max_age None, no refresh).
        return git.remote.resolve_ref(spec.ref, None, refresh=False, offline=self.offline,
                                      warn=self.warn)

    def _model(self, git, commit, spec):
        key = ("permalink", commit, spec.path)
        model = git.records.get(key)
        if model is not None:
            return model
        model = self._published_model(git, commit, spec.path)
        if model is not None:
            git.records.put(key, model)
            return model
        tree = git.tree(commit)
        model = enclosing_model(tree, spec.path)
        if model is None:
            raise NotFoundError(self._not_found(tree, commit, spec))
        git.records.put(key, model)
        return model

    def _published_model(self, git, commit, path):
        """The model `path` names at `commit` when it is published in the store chain or a store
        mirror (which then publishes it here): `path` itself or the nearest directory above it that
        is a model holding `path`; None when neither knows (git is asked then)."""
        if git.snapshot_key(commit) != commit:
            return None
        candidate = path
        while candidate:
            holder = git.store.use(commit, candidate)
            if holder is None and git.from_mirrors(candidate, commit) is not None:
                holder = git.store.use(commit, candidate)
            manifest = holder.manifest(commit, candidate) if holder is not None else None
            if manifest is not None:
                files = manifest["files"]
                inside = candidate == path or path in files or any(p.startswith(path + "/") for p in files)
                return candidate if inside else None
            candidate = parent(candidate)
        return None

    def _not_found(self, tree, commit, spec):
        where = " (permalink into %s at commit %s)" % (spec.repo, commit[:12])
        if tree.kind(spec.path) is None:
            around = parent(spec.path)
            while around and not _is_model(tree, around):
                around = parent(around)
            if around:
                # A broken link into a real model: say which, rather than guess it was meant.
                pinned = specmod.pinned(spec.replace(path=around, blob=False), commit)
                return ("'%s' does not exist in model '%s'%s; the model itself is %s"
                        % (spec.path, around, where, pinned))
        name, lead = spec.path, ""
        if spec.blob:
            # A file link points into a model: the directory holding the file is the model asked for.
            name = parent(spec.path) or spec.path
            lead = "file '%s' lies in no model: " % spec.path
        try:
            help_ = catalog.not_found_message(tree, name, source=self.name)
        except (NetworkError, OfflineError) as e:
            # Suggesting names reads every group table of the commit; without them, still say no.
            help_ = "model '%s' not found in source '%s' (no suggestions: %s)" % (name, self.name, e)
        return lead + help_ + where
