"""github-permalink sources as a user meets them: a link from a paper, resolved, pinned, and
resolved again offline. A `git http-backend` on 127.0.0.1 stands in for GitHub: the
`github-permalink` source's base_url points at it, and it serves `<root>/kipoi/models.git`.
"""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kipoi_store.config import load as configmod
from kipoi_store import spec as specmod
from kipoi_store.sources.github import PermalinkSource, enclosing_model, repo_url, server_for
from kipoi_store.spec import ModelSpec
from kipoi_store.tree import MemoryTree

from .conftest import run_kipoi
from .gitserver import build_kipoi_repo, count_objects, git, missing_objects

# A zoo with what permalinks into kipoi/models meet: a model group whose rows have their own
# directories (old DeepBind), a row without one, files deep inside a model, a folder of models.
ZOO = [("zoo", {
    "DeepBind/model-template.yaml": "defined_as: model.py::Model\n",
    "DeepBind/models.tsv": "model\targs\nHomo_sapiens/TF/D1\tx\nD2\ty\n",
    "DeepBind/model.py": "class Model:\n    pass\n",
    "DeepBind/Homo_sapiens/TF/D1/model_files/w.bin": b"D1 weights\n",
    "Basset/model.yaml": "defined_as: model.py::Model\n",
    "Basset/model_files/weights.pth": b"Basset weights\n",
    "DeepSEA/predict/model.yaml": "defined_as: m.py::M\n",
    "DeepSEA/variantEffects/model.yaml": "defined_as: m.py::M\n",
    "DeepSEA/README.md": "two models\n",
})]


def configure(env, base_url=None, extra=""):
    """Write the user's config, as kipoi 0.8.6 also loads it: the github-permalink source pointed
    at `base_url` (if given; our setting, so in source_settings)."""
    home = Path(env["KIPOI_HOME"])
    text = "model_sources:\n"
    if base_url:
        text += "  github-permalink:\n    type: github-permalink\n    local_path: %s\n" % (
            home / "github-permalink")
    text += extra
    if base_url:
        text += "source_settings:\n  github-permalink:\n    base_url: %s\n" % base_url
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(text)


def serve(server, tmp_path_factory, name, **kwargs):
    """Build a repository served as `<server>/<name>.git` (its work tree kept outside the root)."""
    work = tmp_path_factory.mktemp("work") / "w"
    return build_kipoi_repo(server.root / (name + ".git"), work=work, **kwargs)


@pytest.fixture(scope="module")
def models(git_http_server, tmp_path_factory):
    """kipoi/models on the session server (read only)."""
    return serve(git_http_server, tmp_path_factory, "kipoi/models")


@pytest.fixture(scope="module")
def zoo(git_http_server, tmp_path_factory):
    return serve(git_http_server, tmp_path_factory, "lab/zoo", history=ZOO)


@pytest.fixture
def env(kipoi_env, git_http_server):
    configure(kipoi_env, git_http_server.url)
    return kipoi_env


def resolve(env, *args):
    return run_kipoi("kipoi-source-resolve", *args, env=env)


def resolve_json(env, *specs):
    r = resolve(env, "--json", *specs)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def pin(env, *args):
    r = run_kipoi("kipoi-source-pin", *args, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def clones(env):
    return sorted((Path(env["KIPOI_HOME"]) / "store" / "git").glob("*.git"))


# -------------------------------------------------------------------------------- the user's story

def test_a_permalink_from_a_paper_is_pinned_and_resolves_again_offline(git_server, kipoi_env, tmp_path):
    repo = build_kipoi_repo(git_server.root / "kipoi" / "models.git", work=tmp_path / "work")
    configure(kipoi_env, git_server.url)
    c0 = repo.commits[0]
    paper = "https://github.com/kipoi/models/tree/%s/rbp_eclip/UPF1" % c0[:7]

    [first] = resolve_json(kipoi_env, paper)
    pinned = "github-permalink:kipoi/models/tree/%s/rbp_eclip/UPF1" % c0
    assert (first["source"], first["model"], first["commit"], first["ref"], first["pinned"]) == (
        "github-permalink", "rbp_eclip/UPF1", c0, c0[:7], pinned)
    directory = Path(first["directory"])
    assert (directory / "model.weights").read_bytes() == b"UPF1 weights v1\n"  # UPF1 is gone at HEAD
    assert pin(kipoi_env, paper) == [pinned]

    # A year later, GitHub is unreachable: the pinned spec and the paper's link still give the
    # same directory, with or without --offline, since a commit never changes.
    git_server.stop()
    offline = dict(kipoi_env, KIPOI_OFFLINE="1")
    for e, args in [(kipoi_env, []), (kipoi_env, ["--offline"]), (offline, [])]:
        r = resolve(e, *args, pinned, paper)
        assert (r.returncode, r.stdout, r.stderr) == (0, "%s\n%s\n" % (directory, directory), "")
        assert pin(e, *args, paper, pinned) == [pinned, pinned]
    assert (directory / "model.weights").read_bytes() == b"UPF1 weights v1\n"
    # A path that is no model still says so (suggesting names would need files never fetched).
    group = "github-permalink:kipoi/models/tree/%s/rbp_eclip" % c0
    r = resolve(kipoi_env, "--offline", group)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr.startswith("kipoi: error: %s: model 'rbp_eclip' not found in source "
                               "'github-permalink' (no suggestions: offline: " % group)


def test_every_spelling_of_a_permalink_names_one_directory(env, models, git_http_server):
    c1 = models.commits[1]
    own = "%s/kipoi/models/tree/%s/rbp_eclip/XRCC6" % (git_http_server.url, c1)
    records = resolve_json(env, "github-permalink:kipoi/models/tree/%s/rbp_eclip/XRCC6" % c1,
                           "github-permalink::kipoi/models/tree/%s/rbp_eclip//XRCC6/" % c1[:10].upper(),
                           "https://github.com/kipoi/models/tree/%s/rbp_eclip/XRCC6#readme" % c1,
                           own)
    assert len({r["directory"] for r in records}) == 1
    assert (Path(records[0]["directory"]) / "model.weights").read_bytes() == b"XRCC6 weights\n"
    # The pinned form keeps the server a URL named (the config may point elsewhere later).
    tail = "kipoi/models/tree/%s/rbp_eclip/XRCC6" % c1
    assert [r["pinned"] for r in records] == ["github-permalink:" + tail] * 3 + [
        "%s/%s" % (git_http_server.url, tail)]
    assert len(clones(env)) == 1


def test_permalinks_work_without_a_github_permalink_entry(kipoi_env, models, git_http_server, tmp_path):
    (tmp_path / "mine" / "m").mkdir(parents=True)
    (tmp_path / "mine" / "m" / "model.yaml").write_text("type: x\n")
    configure(kipoi_env, extra="  mine:\n    type: local\n    local_path: %s\n" % (tmp_path / "mine"))
    link = "%s/kipoi/models/blob/%s/Basset/model.py" % (git_http_server.url, models.head)
    [record] = resolve_json(kipoi_env, link)
    assert (Path(record["directory"]) / "run.sh").read_text() == "#!/bin/sh\necho run\n"
    # github-permalink:... links then go to github.com, kipoi's default.
    source = PermalinkSource(configmod.load(Path(kipoi_env["KIPOI_HOME"]) / "config.yaml")
                             .source("github-permalink"), store=None)
    assert source.git_url(specmod.parse("github-permalink:kipoi/models/tree/abcd/m")) == \
        "https://github.com/kipoi/models.git"


# ------------------------------------------------------------------------------ paths and commits

def test_links_into_a_model_resolve_to_the_model_directory(env, zoo):
    c = zoo.head
    link = "github-permalink:lab/zoo/%s/" + c + "/%s"
    records = resolve_json(env, link % ("blob", "Basset/model_files/weights.pth"),
                           link % ("tree", "Basset/model_files"), link % ("tree", "Basset"),
                           link % ("blob", "DeepBind/Homo_sapiens/TF/D1/model_files/w.bin"),
                           link % ("tree", "DeepBind/D2"))
    basset = Path(records[0]["directory"])
    assert {r["directory"] for r in records[:3]} == {str(basset)}
    assert (basset / "model_files" / "weights.pth").read_bytes() == b"Basset weights\n"
    assert [r["model"] for r in records] == ["Basset"] * 3 + ["DeepBind/Homo_sapiens/TF/D1", "DeepBind/D2"]
    assert [r["pinned"] for r in records] == [link % ("tree", m) for m in
                                              ["Basset"] * 3 + ["DeepBind/Homo_sapiens/TF/D1", "DeepBind/D2"]]
    # A group row's directory is the group directory, as for every other spec.
    assert [r["group"] for r in records[3:]] == ["DeepBind", "DeepBind"]
    assert records[3]["directory"].endswith("/DeepBind")


@pytest.mark.parametrize("kind, path, message", [
    ("tree", "Bassett", "model 'Bassett' not found in source 'github-permalink'; did you mean: Basset"),
    ("blob", "Bassett/model.yaml", "file 'Bassett/model.yaml' lies in no model: model 'Bassett' not found"),
    ("blob", "DeepSEA/README.md", "'DeepSEA' in source 'github-permalink' is a group of 2 models, "
                                  "e.g. DeepSEA/predict, DeepSEA/variantEffects"),
    ("tree", "DeepBind", "'DeepBind' in source 'github-permalink' is a group of 2 models"),
    # Not there at that commit: no guessing, but the model around it is named.
    ("blob", "Basset/nothing.py", "'Basset/nothing.py' does not exist in model 'Basset' (permalink "
                                  "into lab/zoo at commit {c}); the model itself is "
                                  "github-permalink:lab/zoo/tree/{C}/Basset"),
])
def test_a_path_that_is_not_a_model_gets_the_usual_help(env, zoo, kind, path, message):
    r = resolve(env, "github-permalink:lab/zoo/%s/%s/%s" % (kind, zoo.head[:8], path))
    assert (r.returncode, r.stdout) == (1, "")
    assert message.format(c=zoo.head[:12], C=zoo.head) in r.stderr
    assert "(permalink into lab/zoo at commit %s)" % zoo.head[:12] in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_abbreviated_and_unknown_commits(env, models):
    link = "github-permalink:kipoi/models/tree/%s/rbp_eclip/UPF1"
    [short] = resolve_json(env, link % models.commits[1][:5])
    assert (short["commit"], short["ref"]) == (models.commits[1], models.commits[1][:5])
    assert (Path(short["directory"]) / "model.weights").read_bytes() == b"UPF1 weights v2\n"
    for commit, phrase in [("abcdef12", "no commit 'abcdef12'"), ("ab" * 20, "ab" * 20)]:
        r = resolve(env, "github-permalink:kipoi/models/tree/%s/Basset" % commit)
        assert (r.returncode, r.stdout) == (1, "") and phrase in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    r = resolve(env, "github-permalink:kipoi/nothing/tree/%s/Basset" % models.head)
    assert r.returncode == 1 and "kipoi/nothing.git" in r.stderr


def test_an_ambiguous_abbreviation_is_refused(env, git_http_server, tmp_path):
    # Enough commits (each with a model) that two share their first four hex digits.
    bare = git_http_server.root / "lab" / ("many-%s.git" % tmp_path.name)
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(bare, "config", "uploadpack.allowFilter", "true")
    stream = []
    for i in range(1200):
        stream.append("commit refs/heads/main\nmark :%d\ncommitter T <t@e> %d +0000\ndata 0\n"
                      % (i + 1, 1500000000 + i))
        if i:
            stream.append("from :%d\n" % i)
        stream.append("M 644 inline m/model.yaml\ndata 7\nn: %03d\n" % (i % 1000))
    git(bare, "fast-import", "--quiet", input="".join(stream).encode())
    prefixes = {}
    for c in git(bare, "rev-list", "main").split():
        prefixes.setdefault(c[:4], []).append(c)
    twice = next(p for p, cs in prefixes.items() if len(cs) > 1)
    link = "github-permalink:lab/%s/tree/%%s/m" % bare.name[:-4]
    r = resolve(env, link % twice)
    assert (r.returncode, r.stdout) == (2, "")
    assert "abbreviated commit '%s' is ambiguous" % twice in r.stderr and "give more digits" in r.stderr
    [record] = resolve_json(env, link % prefixes[twice][0][:12])
    assert record["commit"] == prefixes[twice][0]


# ------------------------------------------------------------------------- sharing and fetching

def test_one_clone_shared_with_a_git_source_holding_one_commit_and_one_models_files(
        git_server, kipoi_env, tmp_path):
    repo = build_kipoi_repo(git_server.root / "kipoi" / "models.git", work=tmp_path / "work")
    c0 = repo.commits[0]
    configure(kipoi_env, git_server.url, extra=(
        "  mirror:\n    type: git\n    remote_url: %s/kipoi/models\n    local_path: %s\n"
        % (git_server.url, tmp_path / "kipoi-clone")))
    [link] = resolve_json(kipoi_env, "github-permalink:kipoi/models/tree/%s/rbp_eclip/UPF1" % c0)
    [clone] = clones(kipoi_env)
    # That commit only (no history, no other branch) and the blobs of that model only.
    assert count_objects(clone, "commit") == 1
    basset = git(repo.bare, "rev-parse", "%s:Basset/model.py" % c0)
    readme = git(repo.bare, "rev-parse", "%s:README.md" % c0)
    assert {basset, readme} <= missing_objects(clone, c0)
    # The git source of the same remote (spelt without .git) uses that clone and those bytes:
    # nothing more is asked of the server.
    served = git_server.count()
    [same] = resolve_json(kipoi_env, "mirror:rbp_eclip/UPF1@" + c0[:10])
    assert same["directory"] == link["directory"] and same["pinned"] == "mirror:rbp_eclip/UPF1@" + c0
    assert clones(kipoi_env) == [clone] and git_server.count() == served
    # And the other way round: a model the git source fetched is then a permalink away, offline.
    [xrcc6] = resolve_json(kipoi_env, "mirror:rbp_eclip/XRCC6@v0.2")
    [again] = resolve_json(kipoi_env, "--offline", xrcc6["pinned"],)
    assert again["directory"] == xrcc6["directory"]
    [as_link] = resolve_json(kipoi_env, "--offline", "github-permalink:kipoi/models/blob/%s/"
                             "rbp_eclip/XRCC6/model.yaml" % repo.tags["v0.2"])
    assert as_link["directory"] == xrcc6["directory"]


def test_lfs_weights_come_through_a_permalink(git_server, giftless_server, kipoi_env, tmp_path):
    lfs_url = giftless_server.lfs_url("kipoi/models-%s" % tmp_path.name)
    repo = build_kipoi_repo(git_server.root / "kipoi" / "models.git", work=tmp_path / "work",
                            lfs=True, lfs_url=lfs_url, push_lfs=True)
    configure(kipoi_env, git_server.url)
    [record] = resolve_json(kipoi_env, "github-permalink:kipoi/models/blob/%s/rbp_eclip/UPF1/"
                            "model.weights" % repo.commits[0])
    assert (Path(record["directory"]) / "model.weights").read_bytes() == b"UPF1 weights v1\n"


# ---------------------------------------------------------------------------------- pinning

def test_pin_prints_the_pinned_form_of_every_kind_of_spec(env, models, git_http_server, tmp_path):
    (tmp_path / "mine" / "m").mkdir(parents=True)
    (tmp_path / "mine" / "m" / "model.yaml").write_text("type: x\n")
    configure(env, git_http_server.url, extra=(
        "  mirror:\n    type: git-lfs\n    remote_url: %s/kipoi/models.git\n    local_path: %s\n"
        "  mine:\n    type: local\n    local_path: %s\n"
        % (git_http_server.url, tmp_path / "kipoi-clone", tmp_path / "mine")))
    c0, head = models.commits[0], models.head
    out = run_kipoi("kipoi-source-pin", "--stdin", "mirror:Basset",
                    input="mirror::rbp_eclip/UPF1@v0.1\nmirror:rbp_eclip/UPF1@old\n"
                          "https://github.com/kipoi/models/blob/%s/Basset/run.sh\n" % head[:7],
                    env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["mirror:Basset@" + head, "mirror:rbp_eclip/UPF1@" + c0,
                                       "mirror:rbp_eclip/UPF1@" + c0,
                                       "github-permalink:kipoi/models/tree/%s/Basset" % head]
    # Every pinned form resolves again, offline, to the directory its spec gave.
    first = resolve(env, "mirror:Basset", "mirror::rbp_eclip/UPF1@v0.1").stdout
    again = resolve(env, "--offline", *out.stdout.splitlines()[:2]).stdout
    assert first == again and first.count("\n") == 2
    # A local folder has no commit to pin to: refused like `mine:m@v1`, nothing materialised;
    # the other specs are still pinned, and the worst exit status wins.
    out = run_kipoi("kipoi-source-pin", "mine:m", "mirror:Basset", "kipoi:../x", env=env)
    assert (out.returncode, out.stdout) == (2, "mirror:Basset@%s\n" % head)
    assert out.stderr.splitlines()[0] == (
        "kipoi: error: cannot pin 'mine:m': source 'mine' is a local folder, which has no commits "
        "to pin to")
    assert "bad spec 'kipoi:../x'" in out.stderr
    [local] = resolve_json(env, "mine:m")
    assert local["pinned"] is None


def test_pin_needs_a_spec_and_lists_itself(kipoi_env):
    out = run_kipoi("kipoi-source-pin", env=kipoi_env)
    assert out.returncode == 2 and "no spec given" in out.stderr
    listed = run_kipoi("kipoi", "source", env=kipoi_env).stdout
    assert "pin" in listed and "commit-pinned" in listed


# ------------------------------------------------------------------ pure parts, and properties

def test_which_server_a_permalink_goes_to():
    link = specmod.parse("github-permalink:kipoi/models/tree/abcd/m")
    url = specmod.parse("https://git.example.org:8443/lab/zoo.git/tree/abcd/m")
    assert server_for(link, None) == "https://github.com"
    assert server_for(link, "https://ghe.example.org/") == "https://ghe.example.org"
    assert server_for(url, "https://ghe.example.org") == "https://git.example.org:8443"
    assert repo_url("https://ghe.example.org/", "kipoi/models") == "https://ghe.example.org/kipoi/models.git"
    assert repo_url("https://h.org:8443", "lab/zoo.git") == "https://h.org:8443/lab/zoo.git"


def test_enclosing_model():
    tree = MemoryTree({"a/model.yaml": "x", "a/files/w.bin": b"w", "a/b/model.yml": "y",
                       "g/model-template.yaml": "t", "g/models.tsv": "model\nr1\nx/r2\n",
                       "g/x/r2/w.bin": b"w", "g/notes.md": "n", "top.md": "t"})
    cases = {"a": "a", "a/files/w.bin": "a", "a/files": "a", "a/b": "a/b", "a/b/model.yml": "a/b",
             "g/r1": "g/r1", "g/x/r2/w.bin": "g/x/r2", "g/notes.md": None, "g": None,
             "top.md": None, "a/missing.py": None, "nowhere": None}
    assert {path: enclosing_model(tree, path) for path in cases} == cases


COMMITS = (st.text("0123456789abcdef", min_size=40, max_size=40)
           | st.text("0123456789ABCDEF", min_size=64, max_size=64))
SEGMENT = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.%+-]{0,8}", fullmatch=True)
PATHS = st.lists(SEGMENT, min_size=1, max_size=4).map("/".join)
LINKS = st.builds(
    lambda repo, ref, path, host, blob: ModelSpec("github-permalink", path, ref, repo, host, blob),
    st.sampled_from(["kipoi/models", "u-1/r.x"]), st.text("0123456789abcdef", min_size=4, max_size=64),
    PATHS, st.sampled_from([None, "http://127.0.0.1:8080", "https://ghe.example.org"]), st.booleans())
PLAIN = st.builds(ModelSpec, st.sampled_from(["kipoi", "mirror", "my.src"]), PATHS,
                  st.none() | st.sampled_from(["v0.4", "main", "feature/x", "abcd"]))


@settings(max_examples=150)
@given(st.one_of(LINKS, PLAIN), COMMITS)
def test_pinned_forms_round_trip(original, commit):
    pinned = specmod.pinned(original, commit)
    parsed = specmod.parse(pinned)
    assert parsed == original.replace(ref=commit.lower())
    assert specmod.format(parsed) == pinned                    # canonical already
    assert specmod.pinned(parsed, commit) == pinned            # pinning twice changes nothing
    if original.repo is not None:
        # What resolve reports for a link: a tree/ link to the model at the full commit.
        as_tree = specmod.pinned(original.replace(blob=False), commit)
        assert "/tree/%s/" % commit.lower() in as_tree and specmod.parse(as_tree).blob is False
    else:
        assert pinned == "%s:%s@%s" % (original.source, original.path, commit.lower())
