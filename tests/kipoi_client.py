"""kipoi 0.8.6 itself as a reader of the configs we write.

`import kipoi` reads ~/.kipoi/config.yaml and builds every model_sources entry with `cls(**entry)`;
a key its class does not take, or a missing local_path, kills the import. One kipoi process serves a
whole test session: for each config it points HOME at a fresh folder holding that config and runs
kipoi's config module again (`importlib.reload(kipoi.config)`, the code `import kipoi` runs), then
answers with the sources kipoi built. `import kipoi` writes ~/.kipoi/config.yaml, so HOME is always a
throwaway folder.

The venv comes from KIPOI_TEST_KIPOI (scripts/setup --with-servers makes .venv-kipoi). Without it the
comparisons are skipped, or fail when KIPOI_TEST_REQUIRE_SERVERS=1.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from kipoi_store.config import load
from kipoi_store.errors import ConfigError

READER = r"""
import importlib, json, os, sys, tempfile
answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # whatever kipoi prints goes to stderr, never into the answers
sys.stdout = sys.stderr
import kipoi.config
answers.write("ready\n")
answers.flush()
for line in sys.stdin:
    home = tempfile.mkdtemp(dir=os.environ["KIPOI_READER_TMP"])
    os.mkdir(os.path.join(home, ".kipoi"))
    with open(os.path.join(home, ".kipoi", "config.yaml"), "w") as f:
        f.write(json.loads(line))
    os.environ["HOME"] = home
    try:
        importlib.reload(kipoi.config)
        sources = [[name, source.TYPE, getattr(source, "remote_url", None)]
                   for name, source in kipoi.config.model_sources().items() if name != "dir"]
        answer = {"sources": sources}
    except Exception as exc:
        answer = {"error": "%s: %s" % (type(exc).__name__, exc)}
    answers.write(json.dumps(answer) + "\n")
    answers.flush()
"""


def kipoi_python():
    """The kipoi venv's python, or None with the reason it is missing."""
    venv = os.environ.get("KIPOI_TEST_KIPOI")
    if not venv:
        return None, "KIPOI_TEST_KIPOI is not set (a venv with kipoi==0.8.6 and six)"
    python = Path(venv) / "bin" / "python"
    if not python.exists():
        return None, "KIPOI_TEST_KIPOI=%s has no bin/python" % venv
    return python, None


def require_kipoi():
    """Skip (or fail, when servers are required) unless kipoi 0.8.6 is there."""
    python, reason = kipoi_python()
    if python is None:
        reason = "kipoi 0.8.6 not available: " + reason
        if os.environ.get("KIPOI_TEST_REQUIRE_SERVERS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return python


class KipoiReader:
    """A running kipoi 0.8.6 that says which sources it builds from a config text."""

    def __init__(self, python, tmp):
        home = tmp / "home"
        home.mkdir()
        env = dict(os.environ, HOME=str(home), KIPOI_READER_TMP=str(tmp))
        self.proc = subprocess.Popen([str(python), "-c", READER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=True)
        first = self.proc.stdout.readline()
        assert first == "ready\n", "kipoi 0.8.6 did not start (%r)" % first

    def sources(self, text):
        """[[name, type, remote_url], ...] as kipoi builds them ('dir' left out), or raises with
        kipoi's error."""
        self.proc.stdin.write(json.dumps(text) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise AssertionError("kipoi 0.8.6 cannot load this config: %s\n%s"
                                 % (answer["error"], text))
        return answer["sources"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def our_sources(text, path):
    """What we read from the same text, in kipoi's terms."""
    return [[s.name, s.type, s.remote_url] for s in load.parse(text, path).sources.values()]


class Recorder:
    """Configs a test produced; `check()` has kipoi read each one."""

    def __init__(self, reader):
        self.reader = reader
        self.seen = []  # (text, path)

    def record(self, path, text=None):
        self.seen.append((Path(path).read_text() if text is None else text, Path(path)))

    def check(self):
        if self.reader is None:
            return  # kipoi is missing: test_kipoi_client_is_there says so
        for text, path in self.seen:
            try:
                ours = our_sources(text, path)
            except ConfigError:
                continue  # a bad entry the user wrote and the edit kept: we refuse it too
            assert self.reader.sources(text) == ours, text


@pytest.fixture(scope="session")
def kipoi_reader(tmp_path_factory):
    python, _ = kipoi_python()
    if python is None:
        yield None
        return
    reader = KipoiReader(python, tmp_path_factory.mktemp("kipoi-reader"))
    yield reader
    reader.close()
