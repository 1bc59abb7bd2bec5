"""GitRemote against real servers: partial clones, one-batch blob fetches, cached refs, offline use."""

import contextlib
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitserver import add_commit, build_kipoi_repo, count_objects, git, missing_objects, serve_config
from kipoi_store.errors import (EXIT_FAILED, EXIT_USAGE, NetworkError, NotFoundError, OfflineError,
                                UsageError)
from kipoi_store.git.cli import GitError, scrub
from kipoi_store.git.remote import GitRemote
from kipoi_store.git.urls import check_ref, clone_dir, url_kind
from kipoi_store.git.tree import GitTree

HOUR = 3600.0
UPF1 = ["rbp_eclip/UPF1/model.yaml", "rbp_eclip/UPF1/model.weights", "rbp_eclip/UPF1/utils.py",
        "rbp_eclip/dataloader.py", "rbp_eclip/model_architecture.py"]


@pytest.fixture
def store(tmp_path, git_home):
    return tmp_path / "store"


def upload_packs(server, repo):
    """Fetch round trips made to `repo` (protocol v2: one POST per ls-refs or fetch command)."""
    return server.count(repo=repo.name, service="git-upload-pack", method="POST")


# -- partial clone -------------------------------------------------------------------------------

def test_first_resolve_makes_a_partial_clone_without_blobs(store, kipoi_repo):
    remote = GitRemote(store, kipoi_repo.http_url)
    commit = remote.resolve_ref(None, max_age=HOUR)
    assert commit == kipoi_repo.head
    assert remote.git_dir.parent == store / "git" and remote.exists()
    assert count_objects(remote.git_dir, "commit") == len(kipoi_repo.commits)
    assert count_objects(remote.git_dir, "tree") > 0
    assert count_objects(remote.git_dir, "blob") == 0
    assert len(missing_objects(remote.git_dir, commit)) > 5
    # No work tree, no hooks run, and nothing in the config that would make git lazily fetch.
    assert not (remote.git_dir / "index").exists()
    config = (remote.git_dir / "config").read_text()
    assert "promisor" not in config and "auto = 0" in config


def test_blobs_of_a_model_arrive_in_one_request(store, kipoi_repo, git_http_server):
    remote = GitRemote(store, kipoi_repo.http_url)
    commit = kipoi_repo.commits[0]
    remote.fetch_commit(commit)
    tree = GitTree(remote, commit)
    before = upload_packs(git_http_server, kipoi_repo)
    assert tree.prefetch(UPF1) == len(UPF1)
    assert upload_packs(git_http_server, kipoi_repo) == before + 1
    # Now everything is local: reading makes no request, and other blobs are still absent.
    assert tree.read("rbp_eclip/UPF1/model.weights") == b"UPF1 weights v1\n"
    assert tree.readlink("rbp_eclip/UPF1/utils.py") == "../../shared/utils.py"
    assert tree.prefetch(UPF1) == 0
    assert upload_packs(git_http_server, kipoi_repo) == before + 1
    assert count_objects(remote.git_dir, "blob") == len(UPF1)
    assert tree.oid("Basset/model.py") in missing_objects(remote.git_dir, commit)


def test_reading_an_unfetched_blob_fetches_it_first(store, kipoi_repo, git_http_server):
    remote = GitRemote(store, kipoi_repo.http_url)
    tree = GitTree(remote, remote.resolve_ref("v0.2", max_age=HOUR))
    before = upload_packs(git_http_server, kipoi_repo)
    assert tree.read("rbp_eclip/XRCC6/model.weights") == b"XRCC6 weights\n"
    assert upload_packs(git_http_server, kipoi_repo) == before + 1


def test_cat_file_never_fetches_lazily(store, kipoi_repo, git_http_server):
    remote = GitRemote(store, kipoi_repo.http_url)
    tree = GitTree(remote, remote.resolve_ref(None, max_age=HOUR))
    before = git_http_server.count(repo=kipoi_repo.name)
    with pytest.raises(GitError, match="not in"):
        remote.cat().read(tree.oid("README.md"))
    assert remote.missing([tree.oid("README.md")]) == [tree.oid("README.md")]
    assert git_http_server.count(repo=kipoi_repo.name) == before


# -- refs ----------------------------------------------------------------------------------------

def test_refs_branches_and_tags(store, kipoi_repo):
    remote = GitRemote(store, kipoi_repo.http_url)
    assert remote.resolve_ref("main", HOUR) == kipoi_repo.head
    assert remote.resolve_ref("old", HOUR) == kipoi_repo.commits[0]
    assert remote.resolve_ref("v0.1", HOUR) == kipoi_repo.tags["v0.1"]  # annotated: peeled
    assert remote.resolve_ref("v0.2", HOUR) == kipoi_repo.tags["v0.2"]  # lightweight
    assert remote.resolve_ref("refs/tags/v0.1", HOUR) == kipoi_repo.tags["v0.1"]
    with pytest.raises(NotFoundError, match="no-such-branch") as e:
        remote.resolve_ref("no-such-branch", HOUR)
    assert e.value.exit_code == EXIT_FAILED


def test_ref_answers_are_cached_until_max_age_or_refresh(store, served_repo, git_http_server):
    repo = served_repo()
    remote = GitRemote(store, repo.http_url)
    assert remote.resolve_ref(None, HOUR) == repo.head
    n = git_http_server.count(repo=repo.name)
    new = add_commit(repo, {"Basset/model.yaml": "defined_as: model.py::Model2\n"})
    # Within max_age the cached answer is used, without a request (and is now stale on purpose).
    assert GitRemote(store, repo.http_url).resolve_ref(None, HOUR) == repo.commits[-2]
    assert git_http_server.count(repo=repo.name) == n
    # max_age None: never refreshed unless asked.
    assert GitRemote(store, repo.http_url).resolve_ref(None, None) == repo.commits[-2]
    assert git_http_server.count(repo=repo.name) == n
    # Asked: --refresh, or an answer older than max_age.
    assert GitRemote(store, repo.http_url).resolve_ref(None, None, refresh=True) == new
    assert git_http_server.count(repo=repo.name) > n
    n = git_http_server.count(repo=repo.name)
    assert GitRemote(store, repo.http_url).resolve_ref(None, max_age=0) == new
    assert git_http_server.count(repo=repo.name) > n


def test_full_commit_in_the_store_needs_no_network(store, git_server):
    repo = build_kipoi_repo(git_server.root / "pinned.git")
    url = git_server.repo_url("pinned.git")
    old = repo.commits[1]
    GitRemote(store, url).resolve_ref(old, HOUR)
    git_server.stop()
    remote = GitRemote(store, url)
    assert remote.resolve_ref(old, max_age=0) == old
    assert remote.resolve_ref(old, max_age=0, refresh=True) == old
    remote.fetch_commit(old)
    # Commits that came with its history are as good.
    assert remote.resolve_ref(repo.commits[0], HOUR) == repo.commits[0]
    assert GitTree(remote, repo.commits[0]).kind("rbp_eclip/UPF1") == "dir"


def test_a_full_commit_not_yet_here_is_fetched(store, kipoi_repo):
    remote = GitRemote(store, kipoi_repo.http_url)
    assert remote.resolve_ref(kipoi_repo.commits[1], HOUR) == kipoi_repo.commits[1]
    assert remote.has_commit(kipoi_repo.commits[1])
    with pytest.raises(NotFoundError):
        remote.resolve_ref("0123456789abcdef0123456789abcdef01234567", HOUR)


def test_abbreviated_commits(store, kipoi_repo, git_http_server):
    remote = GitRemote(store, kipoi_repo.http_url)
    # Not here yet: fetched (as a ref name first, then the commits of all branches and tags),
    # expanded, then its trees fetched.
    assert remote.resolve_ref(kipoi_repo.commits[1][:9], HOUR) == kipoi_repo.commits[1]
    n = git_http_server.count(repo=kipoi_repo.name)
    # Here: expanded locally, upper case too, without the network.
    assert remote.resolve_ref(kipoi_repo.commits[0][:7].upper(), HOUR) == kipoi_repo.commits[0]
    assert git_http_server.count(repo=kipoi_repo.name) == n
    with pytest.raises(NotFoundError):
        remote.resolve_ref("abcdef12", HOUR)


# -- what a cold resolve costs: git processes ----------------------------------------------------

@contextlib.contextmanager
def git_processes(store):
    """The subcommands of the git processes started for clones under `store` while inside, in
    order (every process, however started: counted where Python creates it)."""
    started = []
    real = subprocess.Popen.__init__

    def record(self, args, *rest, **kw):
        if isinstance(args, (list, tuple)) and any(str(store) in str(a) for a in args):
            # The subcommand is the first argument that is neither an option nor a `-c` value.
            started.append(next(a for a in args[1:] if not a.startswith("-") and "=" not in a))
        real(self, args, *rest, **kw)

    subprocess.Popen.__init__ = record
    try:
        yield started
    finally:
        subprocess.Popen.__init__ = real


def refs_of(git_dir):
    out = git(git_dir, "--git-dir=%s" % git_dir, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split() for line in out.splitlines())


@pytest.mark.parametrize("ref", [None, "main", "v0.1"])  # the remote's HEAD, a branch, an annotated tag
def test_a_cold_ref_resolve_runs_four_git_processes(store, kipoi_repo, ref):
    remote = GitRemote(store, kipoi_repo.http_url)
    expected = kipoi_repo.tags["v0.1"] if ref == "v0.1" else kipoi_repo.head
    with git_processes(store) as started:
        commit = remote.resolve_ref(ref, HOUR)
        remote.fetch_commit(commit)   # what listing its files asks next: nothing left to do
        assert remote.has_commit(commit)
    # A new clone, the fetch (into a temporary ref), the cat-file reader (peeling tags; later
    # reads share it), one update-ref transaction. No rev-parse, no second update-ref, no
    # rev-list walk to learn that the commit just fetched has its trees.
    assert started == ["init", "fetch", "cat-file", "update-ref"]
    assert commit == expected
    # Kept as refs/kipoi/c/<commit>, the temporary ref gone; the trees here, no blob.
    assert refs_of(remote.git_dir) == {"refs/kipoi/c/" + commit: commit}
    assert trees_of(kipoi_repo.bare, commit) <= objects_of(remote.git_dir, "tree")
    assert count_objects(remote.git_dir, "blob") == 0
    # Known complete by any later process too, without asking git.
    with git_processes(store) as started:
        assert GitRemote(store, kipoi_repo.http_url).has_commit(commit)
    assert started == []


def test_a_cold_commit_fetch_runs_no_walk(store, kipoi_repo):
    remote = GitRemote(store, kipoi_repo.http_url)
    old = kipoi_repo.commits[1]
    with git_processes(store) as started:
        assert remote.resolve_ref(old, HOUR) == old
        assert remote.has_commit(old)
    assert started == ["init", "cat-file", "fetch"]
    # Another ref later: the fetch and the one transaction.
    with git_processes(store) as started:
        assert remote.resolve_ref("v0.2", HOUR) == kipoi_repo.tags["v0.2"]
    assert started == ["fetch", "update-ref"]
    assert set(refs_of(remote.git_dir)) == {"refs/kipoi/c/" + old, "refs/kipoi/c/" + kipoi_repo.tags["v0.2"]}


@pytest.mark.parametrize("how", ["marked", "refs", "packed-refs"])
def test_after_a_commits_only_fetch_a_ref_is_not_taken_as_complete(store, kipoi_repo, how):
    remote = GitRemote(store, kipoi_repo.http_url)
    remote.resolve_ref(kipoi_repo.commits[1][:8], HOUR)  # every commit of every branch, no trees
    if how == "marked":
        # As a commits-only fetch killed after its objects arrived but before its refs were
        # written leaves it: the mark alone tells.
        for name in refs_of(remote.git_dir):
            if name.startswith(("refs/kipoi/heads/", "refs/kipoi/tags/")):
                git(remote.git_dir, "--git-dir=%s" % remote.git_dir, "update-ref", "-d", name)
        assert not (remote.git_dir / "refs" / "kipoi" / "heads").exists()
    else:
        # A clone from before the mark: its commits-only refs tell, loose or packed.
        (remote.git_dir / "kipoi-commits-only").unlink()
        if how == "packed-refs":
            git(remote.git_dir, "--git-dir=%s" % remote.git_dir, "pack-refs", "--all")
            assert not (remote.git_dir / "refs" / "kipoi" / "heads").exists()
    # The tip is here commits-only, so fetching `main` brings nothing: its trees are still missing.
    tip = remote.resolve_ref("main", HOUR)
    assert tip == kipoi_repo.head and not remote.has_commit(tip)
    remote.fetch_commit(tip)
    listing = git(kipoi_repo.bare, "ls-tree", "-r", "-t", "--format=%(path)", tip).split("\n")
    assert sorted(GitTree(remote, tip).entries) == sorted(listing)


def test_a_ref_naming_no_commit_leaves_no_ref_behind(store, served_repo):
    repo = served_repo()
    git(repo.bare, "tag", "a-tree", repo.head + "^{tree}")
    git(repo.bare, "tag", "-a", "-m", "a blob", "a-blob", repo.head + ":README.md")
    git(repo.bare, "tag", "-a", "-m", "a tag of a tag", "nested", "v0.1")
    remote = GitRemote(store, repo.http_url)
    for ref in ("a-tree", "a-blob"):
        with pytest.raises(NotFoundError, match="names no commit"):
            remote.resolve_ref(ref, HOUR)
    assert refs_of(remote.git_dir) == {}
    assert remote.resolve_ref("nested", HOUR) == repo.tags["v0.1"]  # peeled through both tags
    assert refs_of(remote.git_dir) == {"refs/kipoi/c/" + repo.tags["v0.1"]: repo.tags["v0.1"]}


def test_a_locked_commit_ref_still_drops_the_temporary_ref(store, kipoi_repo):
    remote = GitRemote(store, kipoi_repo.http_url)
    remote.ensure_clone()
    # Another process is writing refs/kipoi/c/<head> right now: our transaction fails as a whole.
    lock = remote.git_dir / "refs" / "kipoi" / "c" / (kipoi_repo.head + ".lock")
    lock.parent.mkdir(parents=True)
    lock.write_text(kipoi_repo.head + "\n")
    assert remote.resolve_ref(None, HOUR) == kipoi_repo.head
    assert refs_of(remote.git_dir) == {}
    lock.unlink()  # their ref arrives: ours is as good
    assert GitTree(remote, kipoi_repo.head).kind("rbp_eclip/XRCC6") == "dir"


def build_history(bare, count, branch_every=0):
    """A bare repository of `count` commits on main, oldest first (fast-import, fixed dates): 60
    model directories in 6 groups, each commit rewriting one model's weights, and a branch
    `side<i>` at every `branch_every`-th commit. Served with filters and fetching by id allowed."""
    git(bare.parent, "init", "-q", "--bare", "-b", "main", str(bare))
    stream = []
    for i in range(count):
        stream.append("commit refs/heads/main\nmark :%d\ncommitter T <t@e> %d +0000\ndata 5\nc%03d\n"
                      % (i + 1, 1500000000 + i, i % 1000))
        if i:
            stream.append("from :%d\n" % i)
        models = range(60) if i == 0 else [i % 60]
        for m in models:
            stream.append("M 100644 inline grp%d/m%d/model.weights\ndata <<EOF\nweights %d %d\nEOF\n"
                          % (m % 6, m, m, i))
            if i == 0:
                stream.append("M 100644 inline grp%d/m%d/model.yaml\ndata <<EOF\nmodel %d\nEOF\n"
                              % (m % 6, m, m))
        if branch_every and i and i % branch_every == 0:
            stream.append("reset refs/heads/side%d\nfrom :%d\n" % (i, i + 1))
    git(bare, "fast-import", "--quiet", input="".join(stream).encode())
    serve_config(bare)
    return git(bare, "rev-list", "--reverse", "main").split()


def objects_of(git_dir, kind):
    """The ids of the objects of one type a repository holds (asking git never to fetch)."""
    out = git(git_dir, "--git-dir=%s" % git_dir, "-c", "remote.origin.promisor=false", "cat-file",
              "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)")
    return {line.split()[0] for line in out.splitlines() if line.split()[1] == kind}


def trees_of(bare, commit):
    """Every tree of `commit`: its root and the trees below it, as the server has them."""
    below = git(bare, "ls-tree", "-r", "-d", "--format=%(objectname)", commit).split()
    return {git(bare, "rev-parse", commit + "^{tree}"), *below}


@pytest.fixture(scope="module")
def many_commits(tmp_path_factory):
    """1200 commits: enough that two share their first four hex digits (the birthday bound: ~300)."""
    bare = tmp_path_factory.mktemp("history") / "many.git"
    commits = build_history(bare, 1200)
    prefixes = {}
    for c in commits:
        prefixes.setdefault(c[:4], []).append(c)
    twice = next(p for p, cs in sorted(prefixes.items()) if len(cs) > 1)
    return bare, twice, prefixes[twice]


def test_an_ambiguous_abbreviation_is_a_usage_error(tmp_path, many_commits):
    bare, twice, commits = many_commits
    remote = GitRemote(tmp_path / "store", str(bare))
    remote.resolve_ref(None, HOUR)
    with pytest.raises(UsageError, match="ambiguous") as e:
        remote.resolve_ref(twice, HOUR)
    assert e.value.exit_code == EXIT_USAGE
    unique = commits[0][:12]
    assert remote.resolve_ref(unique, HOUR) == commits[0]


def test_an_ambiguous_abbreviation_not_yet_here_is_a_usage_error(tmp_path, many_commits):
    bare, twice, commits = many_commits
    remote = GitRemote(tmp_path / "store", str(bare))
    with pytest.raises(UsageError, match="ambiguous.*give more digits") as e:
        remote.resolve_ref(twice, HOUR)
    assert e.value.exit_code == EXIT_USAGE
    # Told apart among commit objects alone: no tree came, let alone a blob.
    assert count_objects(remote.git_dir, "commit") == 1200
    assert count_objects(remote.git_dir) == 1200
    assert remote.resolve_ref(commits[1][:12], HOUR) == commits[1]


# -- abbreviated commits fetch commits only, then the trees of the one they name ---------------

def test_expanding_a_short_commit_fetches_no_trees_of_other_commits(store, git_server):
    bare = git_server.root / "history.git"
    commits = build_history(bare, 300, branch_every=100)
    middle = commits[150]
    remote = GitRemote(store, git_server.repo_url("history.git"))
    assert remote.resolve_ref(middle[:10], HOUR) == middle
    # Every commit of every branch (how an abbreviation is told apart), the trees of that one
    # commit (what listing its models needs), and no blob.
    assert objects_of(remote.git_dir, "commit") == set(git(bare, "rev-list", "--all").split())
    assert objects_of(remote.git_dir, "tree") == trees_of(bare, middle)
    assert objects_of(remote.git_dir, "blob") == set()
    assert remote.has_commit(middle) and not remote.has_commit(commits[-1])
    # Still nothing in the clone's config that would make git fetch lazily.
    config = (remote.git_dir / "config").read_text()
    assert "promisor" not in config and "partialclonefilter" not in config
    # The commit is ready: listing it needs no request.
    before = git_server.count(service="git-upload-pack", method="POST")
    assert GitTree(remote, middle).kind("grp0/m0/model.weights") == "file"
    remote.fetch_commit(middle)
    assert git_server.count(service="git-upload-pack", method="POST") == before


def test_a_commit_fetched_commits_only_gets_its_trees_when_resolved(store, git_server):
    repo = build_kipoi_repo(git_server.root / "pins.git")
    url = git_server.repo_url("pins.git")
    remote = GitRemote(store, url)
    assert remote.resolve_ref(repo.commits[1][:8], HOUR) == repo.commits[1]
    old, tip = repo.commits[0], repo.commits[2]
    # The other commits came without their trees: here, but not usable yet.
    assert {old, tip} <= objects_of(remote.git_dir, "commit")
    assert not remote.has_commit(old) and not remote.has_commit(tip)
    with pytest.raises(OfflineError, match="not in the store"):
        remote.resolve_ref(old, HOUR, offline=True)
    with pytest.raises(OfflineError):
        remote.fetch_commit(tip, offline=True)
    # Resolving (or fetching) one brings its trees, and only its.
    assert remote.resolve_ref(old, HOUR) == old
    assert remote.has_commit(old) and not remote.has_commit(tip)
    remote.fetch_commit(tip)
    assert objects_of(remote.git_dir, "tree") == set().union(*(trees_of(repo.bare, c) for c in repo.commits))
    git_server.stop()
    # Another process, no network: both are complete, and list as the server does.
    again = GitRemote(store, url)
    for commit in (old, tip):
        assert again.resolve_ref(commit, max_age=0, offline=True) == commit
        listing = git(repo.bare, "ls-tree", "-r", "-t", "--format=%(path)", commit).split("\n")
        assert sorted(GitTree(again, commit, offline=True).entries) == sorted(listing)


def test_a_commit_missing_some_of_its_trees_is_completed(store, kipoi_repo):
    remote = GitRemote(store, kipoi_repo.http_url)
    remote.resolve_ref(kipoi_repo.commits[1][:8], HOUR)
    tip = kipoi_repo.commits[2]
    # Its root tree alone, as a fetch negotiating against commits-only history might leave it.
    root = git(kipoi_repo.bare, "rev-parse", tip + "^{tree}")
    remote._fetch([root], "a root tree", filter_spec="tree:0",
                  extra_config=["fetch.negotiationAlgorithm=noop"])
    assert root in objects_of(remote.git_dir, "tree")
    assert not trees_of(kipoi_repo.bare, tip) <= objects_of(remote.git_dir, "tree")
    assert not remote.has_commit(tip)
    remote.fetch_commit(tip)
    assert remote.has_commit(tip)
    assert trees_of(kipoi_repo.bare, tip) <= objects_of(remote.git_dir, "tree")
    assert GitTree(remote, tip).kind("Basset/run.sh") == "file"


def test_a_server_refusing_commits_only_fetches_still_expands(store, served_repo):
    repo = served_repo()
    # Some servers allow some filters only: then the abbreviation costs what it did before.
    git(repo.bare, "config", "uploadpackfilter.allow", "false")
    git(repo.bare, "config", "uploadpackfilter.blob:none.allow", "true")
    remote = GitRemote(store, repo.http_url)
    assert remote.resolve_ref(repo.commits[1][:8], HOUR) == repo.commits[1]
    assert remote.has_commit(repo.commits[1]) and not remote.filter_refused
    assert count_objects(remote.git_dir, "blob") == 0
    assert remote.has_commit(repo.commits[0])  # blob:none brought the trees of every commit


# -- offline and failing networks ---------------------------------------------------------------

def test_offline_never_touches_the_network(store, kipoi_repo, git_http_server):
    with pytest.raises(OfflineError, match="never been fetched|never been resolved"):
        GitRemote(store, kipoi_repo.http_url).resolve_ref(None, HOUR, offline=True)
    remote = GitRemote(store, kipoi_repo.http_url)
    head = remote.resolve_ref(None, HOUR)
    n = git_http_server.count(repo=kipoi_repo.name)
    # A cached answer of any age, a commit that is here: fine.
    assert remote.resolve_ref(None, max_age=0, refresh=True, offline=True) == head
    assert remote.resolve_ref(kipoi_repo.commits[0][:8], HOUR, offline=True) == kipoi_repo.commits[0]
    # Anything else is an OfflineError naming the remote.
    with pytest.raises(OfflineError, match="127.0.0.1") as e:
        remote.resolve_ref("v0.2", HOUR, offline=True)
    assert e.value.exit_code == EXIT_FAILED
    with pytest.raises(OfflineError):
        remote.resolve_ref("0123456789abcdef0123456789abcdef01234567", HOUR, offline=True)
    with pytest.raises(OfflineError, match="not in the store"):
        GitTree(remote, head, offline=True).read("README.md")
    assert git_http_server.count(repo=kipoi_repo.name) == n


def test_network_failure_falls_back_to_the_cached_answer_with_a_warning(store, git_server):
    repo = build_kipoi_repo(git_server.root / "flaky.git")
    url = git_server.repo_url("flaky.git")
    remote = GitRemote(store, url)
    assert remote.resolve_ref(None, HOUR) == repo.head
    git_server.fail_status = 503
    warnings = []
    assert remote.resolve_ref(None, max_age=0, warn=warnings.append) == repo.head
    assert len(warnings) == 1 and "cached" in warnings[0] and url in warnings[0]
    with pytest.raises(NetworkError, match="flaky.git") as e:
        remote.resolve_ref("v0.1", HOUR, warn=warnings.append)
    assert e.value.exit_code == EXIT_FAILED
    git_server.stop()  # refused connections, not just errors
    assert GitRemote(store, url).resolve_ref(None, max_age=0, warn=warnings.append) == repo.head
    assert len(warnings) == 2  # one more for the stopped server; the failed v0.1 warned nothing
    with pytest.raises(NetworkError):
        GitRemote(store, url).fetch_blobs([GitTree(remote, repo.head).oid("README.md")])


def test_credentials_never_appear_in_errors(store, git_server):
    git_server.stop()  # a port nothing listens on
    url = "http://alice:s3cret@127.0.0.1:%d/models.git" % git_server.port
    remote = GitRemote(store, url)
    with pytest.raises(NetworkError) as e:
        remote.resolve_ref(None, HOUR)
    assert "s3cret" not in str(e.value) and "alice" not in str(e.value)
    assert "127.0.0.1" in str(e.value)
    assert "s3cret" not in repr(remote)


@pytest.mark.parametrize("text, clean", [
    ("fatal: unable to access 'https://u:p@h/x.git/'", "fatal: unable to access 'https://***@h/x.git/'"),
    ("https://tok@h/x and http://a:b@c/d", "https://***@h/x and http://***@c/d"),
    ("ssh://git:pw@host/repo", "ssh://git:***@host/repo"),
    ("ssh://git@host/repo", "ssh://git@host/repo"),
    ("no url here", "no url here"),
])
def test_scrub(text, clean):
    assert scrub(text) == clean


@settings(max_examples=50)
@given(user=st.text("abc:%._-", min_size=1, max_size=8),
       password=st.text("xyzXYZ0189!$%'()*+,;=", min_size=6, max_size=16),
       rest=st.text("/.abcd-", max_size=10))
def test_scrub_removes_any_password(user, password, rest):
    assert password not in scrub("error: https://%s:%s@example.org%s" % (user, password, rest))


# -- hostile input -------------------------------------------------------------------------------

@pytest.mark.parametrize("ref", ["--upload-pack=touch /tmp/x", "-h", "a:b", "x..y", "a b", "v1^{tree}",
                                 "@{-1}", "main.lock", ""])
def test_option_like_or_malformed_refs_are_refused(ref):
    with pytest.raises(UsageError) as e:
        check_ref(ref)
    assert e.value.exit_code == EXIT_USAGE


def test_end_of_options_keeps_a_ref_from_becoming_an_option(store, kipoi_repo, tmp_path):
    marker = tmp_path / "pwned"
    remote = GitRemote(store, kipoi_repo.http_url)
    with pytest.raises(UsageError):
        remote.resolve_ref("--upload-pack=touch %s" % marker, HOUR)
    # Even past our own check, git sees a (bad) refspec, never an option.
    remote.ensure_clone()
    with pytest.raises((NotFoundError, NetworkError, GitError)):
        remote._fetch_ref("--upload-pack=touch %s" % marker)
    local = GitRemote(tmp_path / "store2", str(kipoi_repo.bare))
    with pytest.raises((NotFoundError, NetworkError, GitError)):
        local._fetch_ref("--upload-pack=touch %s" % marker)
    assert not marker.exists()


def test_option_like_urls_are_refused(store):
    with pytest.raises(UsageError):
        GitRemote(store, "--upload-pack=touch /tmp/x")
    with pytest.raises(UsageError):
        GitRemote(store, "https://host/x\nmore")


def test_hooks_of_the_remote_never_run(store, served_repo, tmp_path):
    repo = served_repo()
    marker = tmp_path / "hook-ran"
    # A post-checkout or reference-transaction hook in our clone would run on fetch if hooks ran.
    remote = GitRemote(store, repo.http_url)
    remote.ensure_clone()
    (remote.git_dir / "hooks").mkdir(exist_ok=True)
    for name in ("reference-transaction", "post-checkout", "post-merge"):
        hook = remote.git_dir / "hooks" / name
        hook.write_text("#!/bin/sh\ntouch %s\n" % marker)
        hook.chmod(0o755)
    remote.resolve_ref(None, HOUR)
    assert not marker.exists()


# -- servers and remotes of every kind ----------------------------------------------------------

def test_a_server_refusing_filters_gives_a_full_clone_and_one_warning(store, served_repo):
    repo = served_repo(allow_filter=False)
    warnings = []
    remote = GitRemote(store, repo.http_url, warn=warnings.append)
    assert remote.resolve_ref(None, HOUR) == repo.head
    assert remote.filter_refused and len(warnings) == 1 and "partial clone" in warnings[0]
    assert not missing_objects(remote.git_dir, repo.head)
    # Said once: later fetches, by this or another process, no longer ask for a filter.
    again = GitRemote(store, repo.http_url, warn=warnings.append)
    assert again.resolve_ref("v0.1", HOUR) == repo.tags["v0.1"]
    tree = GitTree(again, repo.head)
    assert tree.read("README.md") == b"# test models\n"
    assert len(warnings) == 1 and not again.filter_refused


@pytest.mark.parametrize("kind", ["file", "path"])
def test_file_urls_and_plain_paths_are_partial_too(store, kipoi_repo, kind, tmp_path, monkeypatch):
    if kind == "file":
        url = kipoi_repo.file_url
    else:
        monkeypatch.chdir(kipoi_repo.bare.parent)
        url = kipoi_repo.bare.name  # relative: made absolute, so later fetches work from anywhere
    remote = GitRemote(store, url)
    commit = remote.resolve_ref("v0.1", HOUR)
    assert commit == kipoi_repo.tags["v0.1"]
    assert count_objects(remote.git_dir, "blob") == 0
    tree = GitTree(remote, commit)
    assert tree.prefetch(UPF1) == len(UPF1)
    assert tree.read("rbp_eclip/UPF1/model.yaml").startswith(b"defined_as")
    monkeypatch.chdir(tmp_path)
    assert GitRemote(store, url if kind == "file" else str(kipoi_repo.bare)).git_dir == remote.git_dir
    assert remote.resolve_ref(kipoi_repo.commits[1], HOUR) == kipoi_repo.commits[1]


def test_a_url_with_config_syntax_in_it_is_stored_exactly(store, tmp_path, git_home):
    odd = tmp_path / 'we;ird #"dir\\' / "models.git"
    odd.parent.mkdir()
    repo = build_kipoi_repo(odd)
    remote = GitRemote(store, str(odd))
    assert remote.resolve_ref("v0.2", HOUR) == repo.tags["v0.2"]
    assert git(remote.git_dir, "config", "--get", "remote.origin.url") == str(odd)


def test_one_clone_per_remote_whatever_the_spelling(tmp_path):
    same = ["https://github.com/kipoi/models", "https://github.com/kipoi/models.git",
            "https://GitHub.com/kipoi/models/", "https://user:tok@github.com/kipoi/models.git"]
    assert len({clone_dir(tmp_path, u) for u in same}) == 1
    assert clone_dir(tmp_path, "git@github.com:kipoi/models.git") == \
        clone_dir(tmp_path, "ssh://git@github.com/kipoi/models")
    assert clone_dir(tmp_path, "/srv/models.git") == clone_dir(tmp_path, "file:///srv/models")
    assert clone_dir(tmp_path, "https://github.com/kipoi/other") not in {clone_dir(tmp_path, u) for u in same}
    assert clone_dir(tmp_path, same[0]).name.endswith(".git") and len(clone_dir(tmp_path, same[0]).stem) == 16


@pytest.mark.parametrize("url, kind", [
    ("https://h/x", "url"), ("git@github.com:kipoi/models.git", "scp"), ("host:repo", "scp"),
    ("/srv/x.git", "path"), ("./a:b", "path"), ("file:///x", "url"), ("models.git", "path"),
])
def test_url_kinds_as_git_decides(url, kind):
    assert url_kind(url) == kind


def test_two_processes_share_one_clone(store, kipoi_repo):
    a = GitRemote(store, kipoi_repo.http_url)
    b = GitRemote(store, kipoi_repo.http_url + "/")
    assert a.ensure_clone() is True
    assert b.ensure_clone() is False
    assert a.resolve_ref("old", HOUR) == b.resolve_ref("old", HOUR, offline=True) == kipoi_repo.commits[0]


def test_git_variables_inherited_from_a_hook_are_ignored(store, kipoi_repo, tmp_path, monkeypatch):
    # Run from inside some other repository's hook, git would otherwise read and write *that* one.
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere.git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "index"))
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", str(tmp_path / "objects"))
    remote = GitRemote(store, kipoi_repo.file_url)
    assert remote.resolve_ref("v0.2", HOUR) == kipoi_repo.tags["v0.2"]
    assert not (tmp_path / "elsewhere.git").exists() and not (tmp_path / "objects").exists()


def test_a_mistyped_remote_says_what_git_said_not_its_closing_advice(store, tmp_path):
    remote = GitRemote(store, "file://%s/nonexistent.git" % tmp_path)
    with pytest.raises(NetworkError) as e:
        remote.resolve_ref(None, max_age=HOUR)
    message = str(e.value)
    assert "nonexistent.git' does not appear to be a git repository" in message
    assert "the repository exists" not in message and "\n" not in message


def test_the_reason_is_gits_fatal_line_with_the_errors_before_it():
    from kipoi_store.git import cli

    refused = ("ssh: connect to host example.org port 22: Connection refused\n"
               "fatal: Could not read from remote repository.\n\n"
               "Please make sure you have the correct access rights\nand the repository exists.\n")
    assert cli.reason(refused) == ("ssh: connect to host example.org port 22: Connection refused; "
                                   "fatal: Could not read from remote repository.")
    rpc = "error: RPC failed; HTTP 500\nfatal: expected flush after ref listing\nmore words\n"
    assert cli.reason(rpc) == "error: RPC failed; HTTP 500; fatal: expected flush after ref listing"
    assert cli.reason("warning: x\nerror: only this\n") == "error: only this"
    assert cli.reason("just words\n") == "just words" and cli.reason("") == ""


def test_git_errors_carry_the_reason_without_credentials(tmp_path):
    from kipoi_store.git import cli

    with pytest.raises(GitError, match="not a git repository") as e:
        cli.run(tmp_path / "none.git", ["rev-parse", "HEAD"])
    assert e.value.exit_code == EXIT_FAILED
    assert cli.reason("fatal: bad thing\nhint: try this\nhint: or that\n") == "fatal: bad thing"
    with pytest.raises(GitError) as e:
        cli.run(None, ["ls-remote", "--end-of-options", "http://bob:hunter2@127.0.0.1:9/x.git"])
    assert "hunter2" not in str(e.value) and "hunter2" not in e.value.stderr
