"""Per-user file names are sha256 digests of their keys, computed without loading OpenSSL: the same
names hashlib gives, so records and last-use times written before are found where they are."""

import hashlib
import os
import subprocess
import sys

from hypothesis import example, given
from hypothesis import strategies as st

from kipoi_store.store.user.lastuse import LastUse
from kipoi_store.store.user.namedigest import name_digest
from kipoi_store.store.user.records import Records

# Text as file names give it: lone surrogates stand for bytes that are not UTF-8.
names = st.text(alphabet=st.characters(blacklist_categories=()), max_size=300)


@given(names)
@example("\ud800")  # no file name gives it; an escaped string in a config may
def test_the_digest_is_hashlibs_sha256(text):
    try:
        data = text.encode("utf-8", "surrogateescape")  # every name a file system can give
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")  # '\ud800' from an escaped YAML string, say
    assert name_digest(text) == hashlib.sha256(data).hexdigest()


def test_any_lone_surrogate_has_a_name_of_its_own():
    assert name_digest("a\ud800") != name_digest("a\udfff") != name_digest("a")


def test_a_record_written_under_the_hashlib_name_is_found(tmp_path):
    import marshal

    key = ("local", "/data/models-\udce9", "rbp_eclip/UPF1")
    text = "\0".join(key)
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    shard = tmp_path / "records" / digest[:2]
    shard.mkdir(parents=True)
    (shard / (digest[2:34] + ".rec")).write_bytes(marshal.dumps((text, {"key": "local-0a"})))
    assert Records(tmp_path / "records").get(key) == {"key": "local-0a"}


def test_last_use_keeps_its_directory(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    real = os.path.realpath(store)
    expected = hashlib.sha256(real.encode()).hexdigest()[:16]
    assert LastUse(store, home=tmp_path / "home").directory == str(tmp_path / "home" / "last-use" / expected)


def test_naming_loads_no_openssl():
    code = ("import sys; import kipoi_store.store.user.records, kipoi_store.store.user.lastuse; "
            "print(sorted(m for m in ('hashlib', '_hashlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
