"""Model specs: the text a user types to name a model, parsed into a ModelSpec. Pure: no I/O.

Forms (PATH is a model's directory inside its source, REF a branch, tag or commit):

    SOURCE:PATH[@REF]        kipoi:rbp_eclip/UPF1@v0.4
    SOURCE::PATH[@REF]       kipoi's own form; the same spec
    PATH[@REF]               the default source (`kipoi` unless the caller says otherwise)
    github-permalink:USER/REPO/tree/COMMIT/PATH      (`/blob/` too: PATH is then a file in a model)
    https://HOST/USER/REPO/tree/COMMIT/PATH          (http:// too, /blob/ too)
    oci://REGISTRY/REPOSITORY:TAG/PATH               a model in a registry, no config needed
    oci://REGISTRY/REPOSITORY@sha256:HEX/PATH        ... pinned by digest (an index, or PATH's manifest)

How the text is read, and the corners that leaves:
- Every character must be printable (`str.isprintable`, plus the space): control characters, NUL,
  DEL, line and paragraph separators, format characters such as bidi overrides are refused anywhere.
  Leading or trailing spaces are refused (almost always a copy-paste slip).
- `scheme://...` is a permalink URL (http and https only). Otherwise the text before the first `:`
  is the source name when it holds no `/` (so `a/b:c` is the bare path `a/b:c`); one more `:`
  right after it is kipoi's `SOURCE::PATH` form. A spec whose model path would start with `:` is
  refused, since its canonical text would read as `SOURCE::PATH`.
- The last `@` starts the REF, and refs may contain `/` (`feature/x`). So a model path can never
  contain `@`: such a path is not expressible, and a spec that would yield one is refused rather
  than misread. Permalinks name their commit in the path and take no `@REF`.
- PATH is normalised lexically: `a//b/` -> `a/b`, `./a` -> `a`, `a/b/../c` -> `a/c`. Empty paths,
  absolute paths, `..` escaping the source root, backslashes (Windows paths never name kipoi models)
  and segments starting or ending with a space are refused.
- A REF must be a plausible git ref (git check-ref-format's rules); one starting with `-` would be
  read as an option by git and is refused.
- Permalink URLs: the host (scheme and host[:port], lower-cased) is kept unless it is
  https://github.com; the path is percent-decoded; `?query` and `#fragment` (GitHub's `?plain=1`,
  `#L10`) are dropped. No user name or password in the URL, no base path before USER/REPO.
  The commit is 4 to 64 hex digits, stored lower-cased.

Registry specs (`kipoi store push` writes them): REGISTRY is HOST[:PORT] (lower-cased), REPOSITORY
the distribution grammar (lowercase components joined by `/`), TAG `[A-Za-z0-9_][A-Za-z0-9._-]*`
(at most 128), the digest `sha256:` and 64 lowercase hex digits. The first `:` or `@` after the
host ends the repository (neither can appear in one), the first `/` after the tag or digest starts
PATH, normalised as above. Parsed: source `oci`, host `oci://REGISTRY`, repo REPOSITORY, ref TAG or
`sha256:HEX`; `is_registry(spec)` tells them apart.

`format` writes the canonical text (always with an explicit source); parse(format(x)) == x for
every spec parse can return, and format(parse(s)) is a fixed point. Every input either parses or
raises SpecError whose one-line message names the spec.
"""

import re
from kipoi_store.errors import SpecError
from kipoi_store.frozen import Frozen
from kipoi_store.names import source_name_problem

PERMALINK_SOURCE = "github-permalink"
OCI_SOURCE = "oci"
OCI_SCHEME = "oci://"
DEFAULT_HOST = "https://github.com"

# ASCII-only classes throughout (no IGNORECASE: with it, [a-z] also matches the Kelvin sign).
# Kept as text: `re` compiles each (and caches it) on first use, so the common SOURCE:PATH spec,
# which needs none of them, costs no compilation.
_SCHEME = r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)"
_HOST = r"(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])(?::([0-9]{1,5}))?"
_COMMIT = r"[0-9a-fA-F]{4,64}"
_OWNER = r"[A-Za-z0-9_.][A-Za-z0-9_.-]*"
_REF_FORBIDDEN = frozenset("~^:?*[\\")
_OCI_REPO = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
_OCI_TAG = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
_OCI_DIGEST = r"sha256:[0-9a-f]{64}"
_MAX_SHOWN = 200


class ModelSpec(Frozen):
    """One parsed spec. Build it with `parse`; `format` gives its canonical text.

    Immutable and hashable; `spec.replace(ref=...)` gives a changed copy (see frozen.py)."""

    __slots__ = (
        "source",   # configured source name, e.g. "kipoi", or "github-permalink"
        "path",     # normalised model path, e.g. "rbp_eclip/UPF1" (never empty)
        "ref",      # branch, tag or commit (permalinks: the commit); None = the source's default
        "repo",     # permalinks: "user/repo"; registry specs: the repository
        "host",     # permalink URLs: base URL such as "https://git.example.org"; None = default;
                    # registry specs: "oci://REGISTRY"
        "blob",     # permalink used /blob/ (a file inside a model): path is still the file path
    )
    DEFAULTS = {"ref": None, "repo": None, "host": None, "blob": False}


def parse(text, default_source="kipoi"):
    """Parse `text` into a ModelSpec, or raise SpecError saying what is wrong with it."""
    if not isinstance(text, str):
        raise SpecError("bad spec: a spec must be a string, not %s" % type(text).__name__)
    _check_printable(text, text, "the spec")
    if not text:
        raise SpecError("bad spec '': the spec is empty")
    if text.strip(" ") != text:
        raise _bad(text, "the spec has leading or trailing spaces")

    url = re.match(_SCHEME, text) if "://" in text else None
    if url and url.group(1).lower() == "oci":
        return _parse_oci(text, text[len(OCI_SCHEME):])
    if url:
        return _parse_url(text, url)

    head, colon, rest = text.partition(":")
    if colon and "/" not in head:
        problem = source_name_problem(head)
        if problem:
            raise _bad(text, problem)
        source = head
        if rest.startswith(":"):
            rest = rest[1:]
    else:
        problem = source_name_problem(default_source)
        if problem:
            raise _bad(text, "the default source is unusable: " + problem)
        source, rest = default_source, text

    if source == PERMALINK_SOURCE:
        return _parse_permalink(text, rest, host=None, decode=False)

    path, at, ref = rest.rpartition("@")
    if at:
        problem = ref_problem(ref)
        if problem:
            raise _bad(text, problem)
    else:
        path, ref = rest, None
    path = normalise_path(path, text)
    if "@" in path:
        raise _bad(text, "the model path cannot contain '@' (the last '@' starts the ref)")
    if path.startswith(":"):
        raise _bad(text, "the model path cannot start with ':'")
    return ModelSpec(source, path, ref)


def format(spec):  # shadows the builtin on purpose: callers write spec.format(x)
    """The canonical text of `spec`: explicit source always; ValueError for a spec parse cannot return."""
    if is_registry(spec):
        at = "@" if (spec.ref or "").startswith("sha256:") else ":"
        text = "%s/%s%s%s/%s" % (spec.host, spec.repo, at, spec.ref, spec.path)
    elif spec.repo is not None:
        tail = "%s/%s/%s/" % (spec.repo, "blob" if spec.blob else "tree", spec.ref)
        if spec.host is None:
            text = "%s:%s%s" % (PERMALINK_SOURCE, tail, spec.path)
        else:
            from urllib.parse import quote  # only URLs need it; keeps the import cheap

            text = "%s/%s%s" % (spec.host, tail, quote(spec.path, safe="/:+,="))
    else:
        text = "%s:%s" % (spec.source, spec.path)
        if spec.ref is not None:
            text += "@" + spec.ref
    # Checking costs microseconds and guarantees format never writes text that means something else.
    try:
        same = parse(text) == spec
    except SpecError as e:
        raise ValueError("not a valid model spec: %r (%s)" % (spec, e)) from None
    if not same:
        raise ValueError("not a valid model spec: %r" % (spec,))
    return text


def pinned(spec, commit):
    """`spec` pinned to `commit`: SOURCE:PATH@COMMIT, or a permalink at COMMIT (host and /blob/ kept)."""
    if not isinstance(commit, str) or not re.fullmatch(_COMMIT, commit):
        raise ValueError("not a commit id (4 to 64 hex digits): %r" % (commit,))
    return format(spec.replace(ref=commit.lower()))


def is_registry(spec):
    """Whether `spec` names a model in an OCI registry (oci://...)."""
    return spec.host is not None and spec.host.startswith(OCI_SCHEME)


def _parse_oci(text, rest):
    registry, slash, rest = rest.partition("/")
    host = registry.lower() if registry.isascii() else None
    port = re.fullmatch(_HOST, host) if host else None
    if port is None or (port.group(1) is not None and not 0 < int(port.group(1)) < 65536):
        raise _bad(text, "the registry %r is not a valid host[:port]" % registry)
    cut = min([i for i in (rest.find(":"), rest.find("@")) if i >= 0], default=-1)
    if not slash or cut < 0:
        raise _bad(text, "a registry spec must look like oci://REGISTRY/REPOSITORY:TAG/PATH "
                         "or oci://REGISTRY/REPOSITORY@sha256:HEX/PATH")
    repo, rest = rest[:cut], rest[cut:]
    if not re.fullmatch(_OCI_REPO, repo) or len(repo) > 255:
        raise _bad(text, "%r is not a registry repository name (lowercase letters, digits, "
                         "separators, '/')" % repo)
    ref, _, path = rest[1:].partition("/")
    if rest[0] == "@" and not re.fullmatch(_OCI_DIGEST, ref):
        raise _bad(text, "the digest %r is not sha256: and 64 lowercase hex digits" % ref)
    if rest[0] == ":" and not re.fullmatch(_OCI_TAG, ref):
        raise _bad(text, "the tag %r is not a registry tag ([A-Za-z0-9_][A-Za-z0-9._-]*, at most "
                         "128)" % ref)
    path = normalise_path(path, text)
    if "@" in path:
        raise _bad(text, "the model path cannot contain '@'")
    return ModelSpec(OCI_SOURCE, path, ref, repo, OCI_SCHEME + host)


def normalise_path(path, spec_text):
    """`path` normalised lexically (see the module docstring); SpecError naming `spec_text` if unusable."""
    if not isinstance(path, str):
        raise _bad(spec_text, "the model path must be a string")
    _check_printable(path, spec_text, "the model path")
    if "\\" in path:
        raise _bad(spec_text, "the model path cannot contain a backslash (separate directories with '/')")
    if path.startswith("/"):
        raise _bad(spec_text, "the model path must be relative")
    parts = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise _bad(spec_text, "the model path leaves its source with '..'")
            parts.pop()
            continue
        if segment.strip(" ") != segment:
            raise _bad(spec_text, "a model path segment cannot start or end with a space: %r" % segment)
        parts.append(segment)
    if not parts:
        raise _bad(spec_text, "the model path is empty")
    return "/".join(parts)


def ref_problem(ref):
    """Why `ref` cannot be a git branch, tag or commit, or None when it can."""
    if not ref:
        return "the ref after '@' is empty"
    if ref.startswith("-"):
        return "the ref %r starts with '-' and would be read as an option" % ref
    for ch in ref:
        if ch.isspace() or not ch.isprintable():
            return "the ref %r contains whitespace or a control character" % ref
        if ch in _REF_FORBIDDEN:
            return "the ref %r contains %r, which git does not allow in a ref" % (ref, ch)
    if ".." in ref:
        return "the ref %r contains '..'" % ref
    if ref == "@" or "@{" in ref:
        return "the ref %r is '@' or contains '@{'" % ref
    if ref.startswith("/") or ref.endswith("/") or "//" in ref:
        return "the ref %r has an empty '/'-separated part" % ref
    if ref.endswith("."):
        return "the ref %r ends with '.'" % ref
    for part in ref.split("/"):
        if part.startswith("."):
            return "the ref %r has a part starting with '.'" % ref
        if part.endswith(".lock"):
            return "the ref %r has a part ending with '.lock'" % ref
    return None


def _parse_url(text, match):
    scheme, netloc, urlpath = match.groups()  # ?query and #fragment are beyond the match: dropped
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise _bad(text, "only http:// and https:// permalink URLs are understood, not %s://" % scheme)
    if "@" in netloc:
        raise _bad(text, "a permalink URL cannot carry a user name or password")
    host = netloc.lower() if netloc.isascii() else None
    port = re.fullmatch(_HOST, host) if host else None
    if port is None or (port.group(1) is not None and not 0 < int(port.group(1)) < 65536):
        raise _bad(text, "the URL's host %r is not a valid host[:port]" % netloc)
    base = "%s://%s" % (scheme, host)
    return _parse_permalink(text, urlpath[1:], host=None if base == DEFAULT_HOST else base, decode=True)


def _parse_permalink(text, rest, host, decode):
    if "@" in rest:
        raise _bad(text, "a permalink names its commit in its path and takes no @REF")
    parts = rest.split("/", 4)
    if len(parts) < 5 or parts[2] not in ("tree", "blob"):
        raise _bad(text, "a permalink must look like USER/REPO/tree/COMMIT/PATH (or /blob/)")
    user, repo, kind, commit, path = parts
    for name in (user, repo):
        if not re.fullmatch(_OWNER, name) or name in (".", ".."):
            raise _bad(text, "%r is not a valid GitHub user or repository name" % name)
    if not re.fullmatch(_COMMIT, commit):
        raise _bad(text, "a permalink's commit must be 4 to 64 hex digits, not %r" % commit)
    if decode:
        from urllib.parse import unquote

        try:
            path = unquote(path, errors="strict")
        except UnicodeDecodeError:
            raise _bad(text, "the URL's path is not valid percent-encoded UTF-8") from None
    path = normalise_path(path, text)
    if "@" in path:
        raise _bad(text, "the model path cannot contain '@'")
    return ModelSpec(PERMALINK_SOURCE, path, commit.lower(), "%s/%s" % (user, repo), host, kind == "blob")


def _check_printable(value, spec_text, what):
    if value.isprintable():
        return
    pos, ch = next((i, c) for i, c in enumerate(value) if not c.isprintable())
    raise _bad(spec_text, "%s contains a control or invisible character (U+%04X at position %d)"
               % (what, ord(ch), pos))


def _bad(spec_text, problem):
    return SpecError("bad spec %s: %s" % (_show(spec_text), problem))


def _show(value):
    """The spec quoted for a one-line message: repr escapes control characters and lone surrogates."""
    if isinstance(value, str) and len(value) > _MAX_SHOWN:
        return repr(value[:_MAX_SHOWN]) + "..."
    return repr(value)
