"""Fixtures for OCI registry tests. Registered in tests/conftest.py's pytest_plugins.

    oci_registry         Debian's docker-registry, anonymous (session-wide; tests use their own
                         repository names)
    oci_registry_basic   the same with htpasswd (bcrypt): user alice, password OCI_PASSWORD
    oci_registry_token   the same with token auth; `.token` is the TokenServer (alice may push,
                         bob only pull; anonymous pulls `public/...`)
    oci_env              a clean credentials environment: HOME, DOCKER_CONFIG, XDG_RUNTIME_DIR in
                         tmp, no KIPOI_REGISTRY_* or REGISTRY_AUTH_FILE, no proxies
    skopeo               run skopeo (an independent client) -> CompletedProcess
    oci_faults           tests/ocifaults.py's FaultRegistry, started and stopped around a test

A missing docker-registry or skopeo skips, or fails when KIPOI_TEST_REQUIRE_SERVERS=1.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ocifaults import FaultRegistry  # noqa: E402
from ociregistry import Registry, TokenServer, registry_binary  # noqa: E402

OCI_USER = "alice"
OCI_PASSWORD = "correct horse battery staple"
OCI_READER = "bob"
OCI_READER_PASSWORD = "read only"


def _missing(message):
    if os.environ.get("KIPOI_TEST_REQUIRE_SERVERS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _need_registry():
    if registry_binary() is None:
        _missing("docker-registry not found (bash scripts/setup --with-servers)")


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory):
    _need_registry()
    with Registry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


@pytest.fixture(scope="session")
def oci_registry_basic(tmp_path_factory):
    _need_registry()
    with Registry(tmp_path_factory.mktemp("registry-basic"), users={OCI_USER: OCI_PASSWORD}) as reg:
        yield reg


@pytest.fixture(scope="session")
def oci_registry_token(tmp_path_factory):
    _need_registry()
    users = {OCI_USER: OCI_PASSWORD, OCI_READER: OCI_READER_PASSWORD}
    with TokenServer(tmp_path_factory.mktemp("tokens"), users=users,
                     pull_only={OCI_READER}) as tokens:
        with Registry(tmp_path_factory.mktemp("registry-token"), token=tokens) as reg:
            reg.token = tokens
            yield reg


@pytest.fixture
def oci_env(tmp_path, monkeypatch):
    """Credentials come only from where the test puts them."""
    home = tmp_path / "oci-home"
    (home / ".docker").mkdir(parents=True)
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DOCKER_CONFIG", str(home / ".docker"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("REGISTRY_AUTH_FILE", "XDG_CONFIG_HOME", "KIPOI_REGISTRY_USERNAME",
                 "KIPOI_REGISTRY_PASSWORD", "KIPOI_REGISTRY_HOST", "KIPOI_INSECURE_REGISTRIES",
                 "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def skopeo(tmp_path):
    binary = shutil.which("skopeo")
    if binary is None:
        _missing("skopeo not found (bash scripts/setup --with-servers)")
    policy = tmp_path / "skopeo-policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')

    def run(*args, check=True):
        # Its own auth file, so it never reads ours nor the machine's.
        argv = [binary, "--policy", str(policy), *args]
        env = dict(os.environ, REGISTRY_AUTH_FILE=str(tmp_path / "skopeo-auth.json"))
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
        if check and proc.returncode != 0:
            raise AssertionError("skopeo %s failed: %s" % (" ".join(args), proc.stderr))
        return proc

    return run


@pytest.fixture
def oci_faults():
    with FaultRegistry() as server:
        yield server
