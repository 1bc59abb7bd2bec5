"""LFS pointer files: recognised exactly as the spec says, anything else is an ordinary file."""

import hashlib

from hypothesis import given, settings, strategies as st

from kipoi_store.lfs.pointer import Pointer, format_pointer, parse_pointer

OID = hashlib.sha256(b"weights").hexdigest()
CANONICAL = b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 7\n" % OID.encode()


def test_the_canonical_pointer():
    assert parse_pointer(CANONICAL) == Pointer(OID, 7)
    assert format_pointer(Pointer(OID, 7)) == CANONICAL


def test_the_legacy_hawser_version_is_still_v1():
    data = CANONICAL.replace(b"git-lfs.github.com", b"hawser.github.com")
    assert parse_pointer(data) == Pointer(OID, 7)


def test_extension_keys_are_allowed_in_sorted_order():
    data = (b"version https://git-lfs.github.com/spec/v1\n"
            b"ext-0-foo sha256:%s\noid sha256:%s\nsize 7\n" % (b"0" * 64, OID.encode()))
    assert parse_pointer(data) == Pointer(OID, 7)


def test_an_empty_object_has_size_zero():
    empty = hashlib.sha256(b"").hexdigest()
    assert parse_pointer(format_pointer(Pointer(empty, 0))) == Pointer(empty, 0)


def test_what_is_not_a_pointer():
    not_pointers = [
        b"",
        b"hello\n",
        CANONICAL[:-1],                                          # no final newline
        CANONICAL.replace(b"\n", b"\r\n"),                       # CRLF
        CANONICAL.replace(b"size 7", b"size  7"),                # two spaces
        CANONICAL.replace(b"size 7", b"size -7"),
        CANONICAL.replace(b"size 7", b"size 07"),
        CANONICAL.replace(b"size 7", b"size 7x"),
        CANONICAL.replace(b"sha256:", b"sha1:"),
        CANONICAL.replace(OID.encode(), OID.upper().encode()),   # hex is lower-case
        CANONICAL.replace(OID.encode(), OID[:-1].encode()),
        CANONICAL.replace(b"spec/v1", b"spec/v2"),
        CANONICAL.replace(b"https://", b"HTTPS://"),              # plain string comparison
        b"oid sha256:%s\nversion https://git-lfs.github.com/spec/v1\nsize 7\n" % OID.encode(),
        b"version https://git-lfs.github.com/spec/v1\nsize 7\noid sha256:%s\n" % OID.encode(),
        CANONICAL + b"size 7\n",                                  # duplicate key
        CANONICAL + b"\n",                                        # blank line
        CANONICAL + b"x" * 1024,                                  # too long
        CANONICAL.replace(b"size 7\n", b"size 7\nzz \xff\n"),     # not UTF-8
        CANONICAL.replace(b"size 7\n", b"size 7\nZZ x\n"),        # key charset
    ]
    for data in not_pointers:
        assert parse_pointer(data) is None, data


def test_a_pointer_padded_to_exactly_1024_bytes_still_counts():
    pad = b"zzz " + b"x" * (1024 - len(CANONICAL) - 5) + b"\n"
    assert len(CANONICAL + pad) == 1024
    assert parse_pointer(CANONICAL + pad) == Pointer(OID, 7)
    assert parse_pointer(CANONICAL + b"z" + pad) is None


@settings(max_examples=300)
@given(st.binary(max_size=1100))
def test_never_raises_on_any_bytes(data):
    result = parse_pointer(data)
    assert result is None or isinstance(result, Pointer)


@settings(max_examples=300)
@given(st.binary(max_size=200).map(lambda b: b"version https://git-lfs.github.com/spec/v1\n" + b))
def test_never_raises_on_bytes_after_a_version_line(data):
    result = parse_pointer(data)
    assert result is None or isinstance(result, Pointer)


oids = st.text("0123456789abcdef", min_size=64, max_size=64)
sizes = st.integers(min_value=0, max_value=2 ** 63 - 1)


@settings(max_examples=200)
@given(oids, sizes)
def test_round_trip(oid, size):
    assert parse_pointer(format_pointer(Pointer(oid, size))) == Pointer(oid, size)


extension_keys = st.from_regex(r"ext-[0-9]-[a-z]{1,8}", fullmatch=True)


@settings(max_examples=100)
@given(oids, sizes, st.dictionaries(extension_keys, st.text("abc123:", min_size=1, max_size=20),
                                    max_size=3))
def test_round_trip_with_extensions(oid, size, extensions):
    lines = dict(extensions, oid="sha256:" + oid, size=str(size))
    data = "version https://git-lfs.github.com/spec/v1\n" + "".join(
        "%s %s\n" % (k, lines[k]) for k in sorted(lines))
    assert parse_pointer(data.encode()) == Pointer(oid, size)
