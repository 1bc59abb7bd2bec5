"""Model specs: every form, every rejection, and the properties parse/format promise."""

import subprocess
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kipoi_store import spec
from kipoi_store.errors import EXIT_USAGE, SpecError
from kipoi_store.spec import ModelSpec

C40 = "7d3ea78c2b8e9a6f0d1c4b5a69788796a5b4c3d2"


def permalink(path, commit, repo="kipoi/models", host=None, blob=False):
    return ModelSpec("github-permalink", path, commit, repo, host, blob)


# ---------------------------------------------------------------------------------------- examples

ACCEPTED = [
    # SOURCE:PATH[@REF]
    ("kipoi:rbp_eclip/UPF1@v0.4", ModelSpec("kipoi", "rbp_eclip/UPF1", "v0.4")),
    ("kipoi:rbp_eclip/UPF1", ModelSpec("kipoi", "rbp_eclip/UPF1")),
    ("mymodels:Basset@" + C40, ModelSpec("mymodels", "Basset", C40)),
    ("my.src+2:a/b@feature/x", ModelSpec("my.src+2", "a/b", "feature/x")),
    # kipoi's own SOURCE::PATH form
    ("kipoi::rbp_eclip/UPF1", ModelSpec("kipoi", "rbp_eclip/UPF1")),
    ("kipoi::rbp_eclip/UPF1@master", ModelSpec("kipoi", "rbp_eclip/UPF1", "master")),
    # bare PATH: the default source
    ("rbp_eclip/UPF1", ModelSpec("kipoi", "rbp_eclip/UPF1")),
    ("Basset@v1.2.3", ModelSpec("kipoi", "Basset", "v1.2.3")),
    ("a/b:c@HEAD", ModelSpec("kipoi", "a/b:c", "HEAD")),  # ':' after a '/' is part of the path
    # path normalisation
    ("kipoi:a//b/", ModelSpec("kipoi", "a/b")),
    ("kipoi:./a", ModelSpec("kipoi", "a")),
    ("kipoi:a/b/../c", ModelSpec("kipoi", "a/c")),
    ("kipoi:a/./b/.", ModelSpec("kipoi", "a/b")),
    ("kipoi:my model/ü...", ModelSpec("kipoi", "my model/ü...")),
    ("kipoi:a/b/@v1", ModelSpec("kipoi", "a/b", "v1")),
    # refs git allows
    ("kipoi:a@release/2024-01_x+y", ModelSpec("kipoi", "a", "release/2024-01_x+y")),
    ("kipoi:a@v1.0{rc}", ModelSpec("kipoi", "a", "v1.0{rc}")),
    # github-permalink:USER/REPO/tree|blob/COMMIT/PATH
    ("github-permalink:kipoi/models/tree/7d3ea78/rbp_eclip/UPF1",
     permalink("rbp_eclip/UPF1", "7d3ea78")),
    ("github-permalink::kipoi/models/tree/7D3EA78/rbp_eclip/UPF1/",
     permalink("rbp_eclip/UPF1", "7d3ea78")),
    ("github-permalink:kipoi/models/blob/%s/Basset/model.yaml" % C40,
     permalink("Basset/model.yaml", C40, blob=True)),
    ("github-permalink:u-1/.github/tree/abcd/a/%20b?#", permalink("a/%20b?#", "abcd", "u-1/.github")),
    # URLs
    ("https://github.com/kipoi/models/tree/7d3ea78/rbp_eclip/UPF1", permalink("rbp_eclip/UPF1", "7d3ea78")),
    ("HTTPS://GitHub.com/kipoi/models/tree/7d3ea78/rbp_eclip/UPF1", permalink("rbp_eclip/UPF1", "7d3ea78")),
    ("https://github.com/kipoi/models/blob/7d3ea78/Basset/model.yaml#L3-L9",
     permalink("Basset/model.yaml", "7d3ea78", blob=True)),
    ("https://github.com/kipoi/models/blob/7d3ea78/Basset/model.yaml?plain=1",
     permalink("Basset/model.yaml", "7d3ea78", blob=True)),
    ("http://github.com/kipoi/models/tree/7d3ea78/Basset",
     permalink("Basset", "7d3ea78", host="http://github.com")),
    ("http://127.0.0.1:8080/lab/models/tree/abcd/my%20model/100%25",
     permalink("my model/100%", "abcd", "lab/models", host="http://127.0.0.1:8080")),
    ("https://[::1]:443/lab/models/tree/abcd/m%C3%BC",
     permalink("mü", "abcd", "lab/models", "https://[::1]:443")),
    ("https://Git.Example.org/lab/models/tree/abcd/a%2Fb", permalink("a/b", "abcd", "lab/models",
                                                                      "https://git.example.org")),
]

@pytest.mark.parametrize("text, expected", ACCEPTED, ids=[t for t, _ in ACCEPTED])
def test_every_form_parses_to_its_spec(text, expected):
    assert spec.parse(text) == expected


CANONICAL = [
    ("kipoi::rbp_eclip/UPF1", "kipoi:rbp_eclip/UPF1"),
    ("rbp_eclip/UPF1@v0.4", "kipoi:rbp_eclip/UPF1@v0.4"),  # the default source is written out
    ("kipoi:./a//b/../c/", "kipoi:a/c"),
    ("https://github.com/kipoi/models/tree/7D3EA78/a/b", "github-permalink:kipoi/models/tree/7d3ea78/a/b"),
    ("github-permalink::kipoi/models/blob/abcd/a/m.yaml", "github-permalink:kipoi/models/blob/abcd/a/m.yaml"),
    ("http://Host:81/u/r/tree/abcd/a b/c%3Fd#x", "http://host:81/u/r/tree/abcd/a%20b/c%3Fd"),
]


@pytest.mark.parametrize("text, canonical", CANONICAL)
def test_format_writes_the_canonical_form(text, canonical):
    assert spec.format(spec.parse(text)) == canonical


def test_a_bare_path_takes_the_default_source_and_format_names_it():
    parsed = spec.parse("rbp_eclip/UPF1@v0.4", default_source="mymodels")
    assert parsed == ModelSpec("mymodels", "rbp_eclip/UPF1", "v0.4")
    assert spec.format(parsed) == "mymodels:rbp_eclip/UPF1@v0.4"
    # An explicit source wins over the default.
    assert spec.parse("kipoi:a", default_source="mymodels").source == "kipoi"


def test_a_default_source_of_github_permalink_reads_bare_permalinks():
    assert spec.parse("kipoi/models/tree/abcd/a", default_source="github-permalink") == permalink("a", "abcd")


REJECTED = [
    # (spec, a phrase the message must contain)
    ("", "empty"),
    ("kipoi:", "the model path is empty"),
    ("kipoi::", "the model path is empty"),
    ("kipoi:./", "the model path is empty"),
    ("kipoi:a/..", "the model path is empty"),
    ("kipoi:/etc/passwd", "must be relative"),
    ("/etc/passwd", "must be relative"),
    ("c:/models", "must be relative"),
    ("kipoi:../x", "leaves its source"),
    ("kipoi:a/../../x", "leaves its source"),
    ("kipoi:a\\b", "backslash"),
    ("C:\\models\\Basset", "backslash"),
    ("kipoi:a\0b", "U+0000"),
    ("kipoi:a\nb", "U+000A"),
    ("kipoi:a\tb", "U+0009"),
    ("kipoi:a\x7fb", "U+007F"),
    ("kipoi:a\x85b", "U+0085"),
    ("kipoi:a\u2028b", "U+2028"),
    ("kipoi:a\u202eb", "U+202E"),  # a bidi override hides what a path really is
    ("kipoi:a\u00a0b", "U+00A0"),
    (" kipoi:a", "leading or trailing spaces"),
    ("kipoi:a ", "leading or trailing spaces"),
    ("kipoi:a /b", "cannot start or end with a space"),
    ("kipoi:a/ b", "cannot start or end with a space"),
    # sources
    (":a", "non-empty"),
    ("::a", "non-empty"),
    ("dir:a", "reserved"),
    ("my source:a", "source name"),
    ("-x:a", "source name"),
    ("ké:a", "source name"),
    # where '@' and ':' cannot go
    ("kipoi:a@b@v1", "cannot contain '@'"),
    ("kipoi:::a", "cannot start with ':'"),
    ("kipoi:./:a", "cannot start with ':'"),
    # refs
    ("kipoi:a@", "empty"),
    ("kipoi:a@-x", "would be read as an option"),
    ("kipoi:a@--upload-pack=evil", "would be read as an option"),
    ("kipoi:a@v 1", "whitespace"),
    ("kipoi:a@v1..v2", "'..'"),
    ("kipoi:a@v~1", "'~'"),
    ("kipoi:a@v^", "'^'"),
    ("kipoi:a@x:y", "':'"),
    ("kipoi:a@x?", "'?'"),
    ("kipoi:a@x*", "'*'"),
    ("kipoi:a@x[1]", "'['"),
    ("kipoi:a@main.lock", ".lock"),
    ("kipoi:a@main.lock/x", ".lock"),
    ("kipoi:a@feature/", "empty '/'-separated part"),
    ("kipoi:a@/x", "empty '/'-separated part"),
    ("kipoi:a@x//y", "empty '/'-separated part"),
    ("kipoi:a@v1.", "ends with '.'"),
    ("kipoi:a@.hidden", "starting with '.'"),
    ("kipoi:a@x/.y", "starting with '.'"),
    # permalinks
    ("github-permalink:kipoi/models", "USER/REPO/tree/COMMIT/PATH"),
    ("github-permalink:kipoi/models/tree/abcd", "USER/REPO/tree/COMMIT/PATH"),
    ("github-permalink:kipoi/models/tree/abcd/", "the model path is empty"),
    ("github-permalink:kipoi/models/commit/abcd/a", "USER/REPO/tree/COMMIT/PATH"),
    ("github-permalink:kipoi/models/tree/abc/a", "4 to 64 hex"),
    ("github-permalink:kipoi/models/tree/master/a", "4 to 64 hex"),
    ("github-permalink:kipoi/models/tree/%s/a" % ("a" * 65), "4 to 64 hex"),
    ("github-permalink:-u/models/tree/abcd/a", "user or repository"),
    ("github-permalink:u/../tree/abcd/a", "user or repository"),
    ("github-permalink:kipoi/models/tree/abcd/a@v1", "takes no @REF"),
    ("github-permalink:kipoi/models/tree/abcd/../x", "leaves its source"),
    ("https://github.com/kipoi/models", "USER/REPO/tree/COMMIT/PATH"),
    ("https://github.com", "USER/REPO/tree/COMMIT/PATH"),
    ("https://github.com/kipoi/models/tree/abcd/a@v1", "takes no @REF"),
    ("https://me:secret@github.com/kipoi/models/tree/abcd/a", "user name or password"),
    ("https:///kipoi/models/tree/abcd/a", "host"),
    ("https://git hub.com/kipoi/models/tree/abcd/a", "host"),
    ("https://gïthub.com/kipoi/models/tree/abcd/a", "host"),
    ("https://github.com:99999/kipoi/models/tree/abcd/a", "host"),
    ("https://github.com/kipoi/models/tree/abcd/%FF", "percent-encoded UTF-8"),
    ("https://github.com/kipoi/models/tree/abcd/a%00b", "U+0000"),
    ("https://github.com/kipoi/models/tree/abcd/a%5Cb", "backslash"),
    ("https://github.com/kipoi/models/tree/abcd/a%40b", "cannot contain '@'"),
    ("https://github.com/kipoi/models/tree/abcd/%2E%2E/x", "leaves its source"),
    ("ftp://github.com/kipoi/models/tree/abcd/a", "only http:// and https://"),
    ("file:///srv/models", "only http:// and https://"),
]


@pytest.mark.parametrize("text, phrase", REJECTED, ids=[repr(t) for t, _ in REJECTED])
def test_every_bad_spec_is_rejected_with_a_message_naming_it(text, phrase):
    with pytest.raises(SpecError) as caught:
        spec.parse(text)
    message = str(caught.value)
    assert message.startswith("bad spec %r: " % text)
    assert phrase in message
    assert len(message.splitlines()) == 1
    assert caught.value.exit_code == EXIT_USAGE


def test_the_message_for_an_absolute_path_reads_well():
    with pytest.raises(SpecError, match=r"^bad spec 'kipoi:/etc/passwd': the model path must be relative$"):
        spec.parse("kipoi:/etc/passwd")


def test_a_huge_spec_is_shortened_in_its_message():
    with pytest.raises(SpecError) as caught:
        spec.parse("kipoi:" + "x" * 10000 + "\n")
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize("value", [None, b"kipoi:a", 42, ["kipoi:a"]])
def test_anything_but_a_string_is_a_spec_error(value):
    with pytest.raises(SpecError, match="must be a string"):
        spec.parse(value)


def test_an_unusable_default_source_is_a_spec_error():
    with pytest.raises(SpecError, match="default source"):
        spec.parse("a/b", default_source="no good")


# ------------------------------------------------------------------------------ normalise, refs, pin

@pytest.mark.parametrize("path, expected", [
    ("a//b/", "a/b"), ("./a", "a"), ("a/b/../c", "a/c"), ("a/./b", "a/b"), ("...", "..."), ("a/.x", "a/.x"),
])
def test_normalise_path(path, expected):
    assert spec.normalise_path(path, "kipoi:" + path) == expected


def test_normalise_path_names_the_spec_it_came_from():
    with pytest.raises(SpecError, match=r"^bad spec 'x:\.\./y': "):
        spec.normalise_path("../y", "x:../y")


@pytest.mark.parametrize("ref", ["master", "v0.4", "feature/x", C40, "HEAD", "a.b/c-d_e", "ünï"])
def test_plausible_refs_pass(ref):
    assert spec.ref_problem(ref) is None


@pytest.mark.parametrize("ref", ["", "-x", "a..b", "a b", "a\tb", "a~", "@", "a@{1}", "x.lock", "x/", ".x"])
def test_implausible_refs_fail(ref):
    assert spec.ref_problem(ref)


def test_pinned_names_the_commit():
    assert spec.pinned(spec.parse("rbp_eclip/UPF1"), C40.upper()) == "kipoi:rbp_eclip/UPF1@" + C40
    assert spec.pinned(spec.parse("kipoi:rbp_eclip/UPF1@v0.4"), C40) == "kipoi:rbp_eclip/UPF1@" + C40


def test_pinned_permalinks_keep_their_host_and_blob():
    assert (spec.pinned(spec.parse("https://github.com/kipoi/models/tree/7d3ea78/a"), C40)
            == "github-permalink:kipoi/models/tree/%s/a" % C40)
    assert (spec.pinned(spec.parse("http://h:81/u/r/blob/abcd/a/m.yaml"), C40)
            == "http://h:81/u/r/blob/%s/a/m.yaml" % C40)


@pytest.mark.parametrize("commit", ["master", "abc", "a" * 65, None, "abcd\n"])
def test_pinned_wants_a_commit_id(commit):
    with pytest.raises(ValueError):
        spec.pinned(ModelSpec("kipoi", "a"), commit)


@pytest.mark.parametrize("bad", [
    ModelSpec("kipoi", "a/../b"),
    ModelSpec("kipoi", ""),
    ModelSpec("kipoi", "a", ref=""),
    ModelSpec("kipoi", "a", ref="-x"),
    ModelSpec("no good", "a"),
    ModelSpec("kipoi", "a", blob=True),
    ModelSpec("github-permalink", "a"),
    ModelSpec("mine", "a", "abcd", "u/r"),
    permalink("a", "ABCD"),
    permalink("a", "abcd", host="https://github.com"),
])
def test_format_refuses_specs_parse_cannot_return(bad):
    with pytest.raises(ValueError):
        spec.format(bad)


def test_specs_are_frozen_and_hashable():
    parsed = spec.parse("kipoi:a@v1")
    with pytest.raises(AttributeError):
        parsed.path = "b"
    assert {parsed: 1}[ModelSpec("kipoi", "a", "v1")] == 1


def test_importing_spec_stays_cheap():
    code = "import sys, kipoi_store.spec; print(sorted({'requests', 'yaml', 'diskcache'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------------- properties

# Any printable character, weird unicode included, except the ones a path segment cannot hold.
PATH_CHARS = st.one_of(
    st.sampled_from("abcXYZ019_-.:%?#+~{}!é "),
    st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"),
                  exclude_characters="/\\@"),
)
SEGMENTS = st.text(PATH_CHARS, min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..") and s.strip(" ") == s)
PATHS = st.lists(SEGMENTS, min_size=1, max_size=4).map("/".join)
SOURCES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,11}", fullmatch=True).filter(
    lambda s: s not in ("dir", "github-permalink"))
REF_PARTS = st.from_regex(r"[A-Za-z0-9_é][A-Za-z0-9_+=,{}!é-]{0,8}(\.[A-Za-z0-9_+=,{}!-]{1,5})?",
                          fullmatch=True).filter(lambda s: not s.endswith(".lock"))
REFS = st.lists(REF_PARTS, min_size=1, max_size=3).map("/".join)
COMMITS = st.text("0123456789abcdef", min_size=4, max_size=64)
OWNERS = st.from_regex(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,10}", fullmatch=True).filter(
    lambda s: s not in (".", ".."))
HOSTS = st.none() | st.from_regex(
    r"https?://(?:[a-z0-9_-]{1,10}(?:\.[a-z0-9-]{1,6}){0,2}|\[[0-9a-f:]{2,12}\])(?::[1-9][0-9]{0,3})?",
    fullmatch=True).filter(lambda h: h != "https://github.com")

PLAIN_SPECS = st.builds(ModelSpec, source=SOURCES, path=PATHS.filter(lambda p: not p.startswith(":")),
                        ref=st.none() | REFS)
PERMALINKS = st.builds(
    lambda user, repo, commit, path, host, blob: permalink(path, commit, user + "/" + repo, host, blob),
    OWNERS, OWNERS, COMMITS, PATHS, HOSTS, st.booleans())


@settings(max_examples=300)
@given(st.one_of(PLAIN_SPECS, PERMALINKS))
@example(ModelSpec("kipoi", "a/b:c", "feature/x"))
@example(permalink(":a/100%/x?y#z", "abcd", host="http://h"))
def test_parse_of_format_gives_back_every_valid_spec(original):
    assert spec.parse(spec.format(original)) == original


# Pieces that reach deep into the parser when glued together at random.
FRAGMENTS = st.sampled_from([
    "kipoi", "github-permalink", "https://", "http://", "HTTPS://", "github.com", "h:80", "[::1]", ":", "::",
    "/", "//", ".", "..", "@", "@{", "-", "~", "\\", " ", "%", "%2F", "%FF", "%00", "%40", "?", "#",
    "tree", "blob", "abcd", C40, "u/r", ".lock", "\0", "\n", "\u202e", "é", "dir",
])
SPECLIKE = st.lists(st.one_of(FRAGMENTS, st.text(max_size=3)), max_size=12).map("".join)


@settings(max_examples=500)
@given(st.one_of(st.text(), SPECLIKE))
@example("kipoi:a@b@c")
@example("https://github.com/u/r/tree/abcd/a%2F..%2F..%2Fb")
def test_any_text_parses_or_raises_spec_error_and_canonical_text_is_a_fixed_point(text):
    try:
        parsed = spec.parse(text)
    except SpecError as e:
        message = str(e)
        assert message.startswith("bad spec ")
        assert len(message.splitlines()) == 1
        return
    assert parsed.path and spec.normalise_path(parsed.path, text) == parsed.path
    canonical = spec.format(parsed)
    assert spec.parse(canonical) == parsed
    assert spec.format(spec.parse(canonical)) == canonical


NORMALISABLE = st.lists(st.one_of(st.sampled_from(["", ".", "..", "a", "b c", " x"]), SEGMENTS),
                        max_size=6).map("/".join)


@given(st.one_of(NORMALISABLE, st.text()))
def test_normalise_path_is_idempotent(path):
    try:
        once = spec.normalise_path(path, "kipoi:" + path)
    except SpecError:
        return
    assert spec.normalise_path(once, "kipoi:" + once) == once
    assert not once.startswith("/")
    assert all(segment not in ("", ".", "..") for segment in once.split("/"))
