"""Registry auth as docker and podman do it, against Debian's docker-registry with htpasswd and with
token auth (our token server), credentials from each place docker and podman keep them, and
`kipoi store login/logout`."""

import base64
import hashlib
import io
import json
import os
import stat
import sys

import pytest
from conftest import run_kipoi
from fixtures_oci import OCI_PASSWORD, OCI_READER, OCI_READER_PASSWORD, OCI_USER

from kipoi_store.dist.oci import credentials
from kipoi_store.dist.oci.auth import merge_scopes, parse_challenge
from kipoi_store.dist.oci.client import Repository
from kipoi_store.errors import NetworkError


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push(repo, data):
    return repo.push_blob(sha(data), len(data), lambda: io.BytesIO(data))


def basic(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


HELPER = """#!%s
# A docker credential helper keeping its secrets in a JSON file beside it (and a log of calls).
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
db = os.path.join(here, "helper-db.json")
data = json.load(open(db)) if os.path.exists(db) else {}
action, text = sys.argv[1], sys.stdin.read()
with open(os.path.join(here, "helper-calls"), "a") as log:
    log.write(action + " " + (text.strip() if action != "store" else json.loads(text)["ServerURL"]) + "\\n")
if action == "get":
    if text.strip() not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    user, secret = data[text.strip()]
    print(json.dumps({"ServerURL": text.strip(), "Username": user, "Secret": secret}))
elif action == "store":
    entry = json.loads(text)
    data[entry["ServerURL"]] = [entry["Username"], entry["Secret"]]
    json.dump(data, open(db, "w"))
elif action == "erase":
    if data.pop(text.strip(), None) is None:
        print("credentials not found in native keychain")
        sys.exit(1)
    json.dump(data, open(db, "w"))
"""


@pytest.fixture
def helper(tmp_path, monkeypatch):
    """`docker-credential-test` on PATH; returns its directory (helper-db.json, helper-calls)."""
    directory = tmp_path / "helper-bin"
    directory.mkdir()
    script = directory / "docker-credential-test"
    script.write_text(HELPER % sys.executable)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (directory, os.environ["PATH"]))
    return directory


# -- the pure parts ------------------------------------------------------------------------------

def test_a_challenge_names_its_scheme_and_parameters():
    assert parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                           'scope="repository:library/x:pull,push",error="insufficient_scope"') == (
        "bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                   "scope": "repository:library/x:pull,push", "error": "insufficient_scope"})
    assert parse_challenge('Basic realm="kipoi \\"test\\""') == ("basic", {"realm": 'kipoi "test"'})
    assert parse_challenge(None) == ("", {})


def test_scopes_for_one_repository_are_merged_into_one():
    assert merge_scopes({"repository:a/b:pull", "repository:a/b:push", "repository:c:pull"}) == \
        frozenset({"repository:a/b:pull,push", "repository:c:pull"})


# -- HTTP Basic, and each place credentials are kept ---------------------------------------------

def test_anonymous_against_a_registry_that_needs_a_password_says_how_to_log_in(
        oci_registry_basic, oci_env):
    with pytest.raises(NetworkError) as err:
        Repository(oci_registry_basic.ref("lab/anon")).tags()
    assert "needs a user name and password" in str(err.value)
    assert "kipoi store login %s" % oci_registry_basic.host in str(err.value)


def _docker_auths(home, host, password):
    write_json(home / ".docker" / "config.json", {"auths": {host: {"auth": basic(OCI_USER, password)}}})


PLACES = ["env", "docker-auths", "cred-helpers", "creds-store", "registry-auth-file", "podman-runtime"]


def _put_credentials(place, host, home, tmp_path, monkeypatch, helper_dir, password=OCI_PASSWORD):
    if place == "env":
        monkeypatch.setenv("KIPOI_REGISTRY_USERNAME", OCI_USER)
        monkeypatch.setenv("KIPOI_REGISTRY_PASSWORD", password)
    elif place == "docker-auths":
        _docker_auths(home, host, password)
    elif place in ("cred-helpers", "creds-store"):
        write_json(helper_dir / "helper-db.json", {host: [OCI_USER, password]})
        config = ({"credHelpers": {host: "test"}} if place == "cred-helpers"
                  else {"credsStore": "test"})
        write_json(home / ".docker" / "config.json", config)
    elif place == "registry-auth-file":
        write_json(tmp_path / "auth.json", {"auths": {host: {"auth": basic(OCI_USER, password)}}})
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    elif place == "podman-runtime":
        write_json(tmp_path / "run" / "containers" / "auth.json",
                   {"auths": {host + "/lab": {"auth": basic(OCI_USER, password)}}})


@pytest.mark.parametrize("place", PLACES)
def test_credentials_from_each_place_docker_and_podman_keep_them(
        place, oci_registry_basic, oci_env, tmp_path, monkeypatch, helper):
    _put_credentials(place, oci_registry_basic.host, oci_env, tmp_path, monkeypatch, helper)
    repo = Repository(oci_registry_basic.ref("lab/" + place), push=True)
    data = place.encode() * 100
    assert push(repo, data) == "uploaded"
    assert repo.blob_size(sha(data)) == len(data)


@pytest.mark.parametrize("place", PLACES)
def test_a_wrong_password_is_named_by_where_it_came_from_never_shown(
        place, oci_registry_basic, oci_env, tmp_path, monkeypatch, helper):
    wrong = "wrong-secret-%s" % place
    _put_credentials(place, oci_registry_basic.host, oci_env, tmp_path, monkeypatch, helper, wrong)
    with pytest.raises(NetworkError) as err:
        Repository(oci_registry_basic.ref("lab/x")).tags()
    message = str(err.value)
    assert "refused GET" in message and "with the credentials (401" in message
    assert oci_registry_basic.host in message and wrong not in message
    assert "as %s, from " % OCI_USER in message
    assert basic(OCI_USER, wrong) not in message


def test_the_env_pair_goes_only_to_the_registries_it_names(oci_registry_basic, oci_env,
                                                            monkeypatch):
    monkeypatch.setenv("KIPOI_REGISTRY_USERNAME", OCI_USER)
    monkeypatch.setenv("KIPOI_REGISTRY_PASSWORD", OCI_PASSWORD)
    monkeypatch.setenv("KIPOI_REGISTRY_HOST", "ghcr.io")
    assert credentials.lookup(oci_registry_basic.host) is None
    monkeypatch.setenv("KIPOI_REGISTRY_HOST", "ghcr.io " + oci_registry_basic.host)
    assert credentials.lookup(oci_registry_basic.host).username == OCI_USER


def test_a_credential_helper_wins_over_auths_and_docker_hub_has_its_historic_key(
        oci_env, helper):
    write_json(helper / "helper-db.json", {"reg.example.org": ["helped", "s1"],
                                           credentials.DOCKER_HUB_KEY: ["hubuser", "s2"]})
    write_json(oci_env / ".docker" / "config.json", {
        "credHelpers": {"reg.example.org": "test"}, "credsStore": "test",
        "auths": {"reg.example.org": {"auth": basic("inline", "s3")},
                  "https://other.example.org/v1/": {"auth": basic("other", "s4")}}})
    assert credentials.lookup("reg.example.org").username == "helped"
    assert credentials.lookup("docker.io").username == "hubuser"
    # The store has nothing for it: the inline auths entry (under a URL key) answers.
    assert credentials.lookup("other.example.org").username == "other"
    calls = (helper / "helper-calls").read_text().split()
    assert calls == ["get", "reg.example.org", "get", credentials.DOCKER_HUB_KEY,
                     "get", "other.example.org"]


# -- token auth -----------------------------------------------------------------------------------

def test_tokens_anonymous_for_public_pulls_and_a_new_one_when_a_push_needs_more_scope(
        oci_registry_token, oci_env, monkeypatch):
    tokens = oci_registry_token.token
    data = b"public weights"
    monkeypatch.setenv("KIPOI_REGISTRY_USERNAME", OCI_USER)
    monkeypatch.setenv("KIPOI_REGISTRY_PASSWORD", OCI_PASSWORD)
    repo = Repository(oci_registry_token.ref("public/models"))  # a pull client...
    assert repo.blob_size(sha(data)) is None
    assert push(repo, data) == "uploaded"  # ...that then pushes: a token with push scope
    asked = [(user, scopes) for user, scopes in tokens.issued
             if "repository:public/models:pull" in scopes
             or "repository:public/models:pull,push" in scopes]
    assert asked[-2:] == [(OCI_USER, ["repository:public/models:pull"]),
                          (OCI_USER, ["repository:public/models:pull,push"])]
    # A mount needs pull on the repository it comes from: one token for both scopes.
    mounted = Repository(oci_registry_token.ref("lab/mounted"), push=True)
    assert mounted.push_blob(sha(data), len(data), lambda: io.BytesIO(data),
                             mount_from="public/models") == "mounted"
    assert tokens.issued[-1] == (OCI_USER, ["repository:lab/mounted:pull,push",
                                            "repository:public/models:pull"])
    monkeypatch.delenv("KIPOI_REGISTRY_USERNAME")
    anonymous = Repository(oci_registry_token.ref("public/models"))
    assert anonymous.blob_size(sha(data)) == len(data)
    assert tokens.issued[-1] == (None, ["repository:public/models:pull"])
    with pytest.raises(NetworkError) as err:
        push(anonymous, b"not allowed")
    assert "with a fresh token (401, anonymous; kipoi store login" in str(err.value)
    with pytest.raises(NetworkError) as err:
        Repository(oci_registry_token.ref("private/models")).tags()
    assert "private/models" in str(err.value) and "anonymous" in str(err.value)


def test_a_user_without_push_rights_gets_a_clear_error(oci_registry_token, oci_env, monkeypatch):
    monkeypatch.setenv("KIPOI_REGISTRY_USERNAME", OCI_READER)
    monkeypatch.setenv("KIPOI_REGISTRY_PASSWORD", OCI_READER_PASSWORD)
    repo = Repository(oci_registry_token.ref("lab/readonly"), push=True)
    assert repo.tags() == []
    with pytest.raises(NetworkError) as err:
        push(repo, b"denied")
    message = str(err.value)
    assert "refused" in message and "fresh token" in message and "as %s" % OCI_READER in message
    assert OCI_READER_PASSWORD not in message


def test_an_identity_token_is_traded_for_access_tokens(oci_registry_token, oci_env):
    """docker keeps an OAuth2 refresh token as `identitytoken` (ACR, some GitLab setups)."""
    write_json(oci_env / ".docker" / "config.json", {"auths": {oci_registry_token.host: {
        "identitytoken": "refresh-" + OCI_USER}}})
    repo = Repository(oci_registry_token.ref("lab/identity"), push=True)
    assert push(repo, b"with an identity token") == "uploaded"
    assert oci_registry_token.token.issued[-1] == (OCI_USER, ["repository:lab/identity:pull,push"])


def test_the_token_service_refusing_the_password_is_named(oci_registry_token, oci_env,
                                                          monkeypatch):
    monkeypatch.setenv("KIPOI_REGISTRY_USERNAME", OCI_USER)
    monkeypatch.setenv("KIPOI_REGISTRY_PASSWORD", "not the password")
    with pytest.raises(NetworkError) as err:
        Repository(oci_registry_token.ref("lab/x")).tags()
    assert "token service" in str(err.value) and "refused the credentials" in str(err.value)
    assert "not the password" not in str(err.value)


# -- kipoi store login / logout --------------------------------------------------------------------

@pytest.fixture
def login_env(kipoi_env, oci_env):
    env = dict(kipoi_env, HOME=str(oci_env), DOCKER_CONFIG=str(oci_env / ".docker"),
               NO_PROXY="127.0.0.1")
    for name in ("REGISTRY_AUTH_FILE", "KIPOI_REGISTRY_USERNAME", "KIPOI_REGISTRY_PASSWORD"):
        env.pop(name, None)
    return env


@pytest.mark.parametrize("registry_fixture", ["oci_registry_basic", "oci_registry_token"])
def test_login_checks_the_password_and_keeps_it_where_docker_and_skopeo_read_it(
        registry_fixture, request, login_env, oci_env, skopeo):
    reg = request.getfixturevalue(registry_fixture)
    config = oci_env / ".docker" / "config.json"
    write_json(config, {"experimental": "enabled", "auths": {"other.example.org": {"auth": "eA=="}}})
    before = config.read_text()
    bad = run_kipoi("kipoi", "store", "login", reg.host, "-u", OCI_USER, "--password-stdin",
                    input="wrong password\n", env=login_env)
    assert bad.returncode == 1 and bad.stderr.startswith("kipoi: error: registry %s" % reg.host)
    assert len(bad.stderr.splitlines()) == 1 and "wrong password" not in bad.stderr
    assert config.read_text() == before
    good = run_kipoi("kipoi", "store", "login", "oci://" + reg.host, "-u", OCI_USER,
                     "--password-stdin", input=OCI_PASSWORD + "\n", env=login_env)
    assert good.returncode == 0, good.stderr
    assert good.stdout == "" and OCI_PASSWORD not in good.stderr and str(config) in good.stderr
    saved = json.loads(config.read_text())
    assert saved["experimental"] == "enabled" and "other.example.org" in saved["auths"]
    assert saved["auths"][reg.host] == {"auth": basic(OCI_USER, OCI_PASSWORD)}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    # skopeo reads the same file (docker's format) and sees the empty repository.
    proc = skopeo("list-tags", "--tls-verify=false", "--authfile", str(config),
                  "docker://%s/lab/login" % reg.host, check=False)
    assert "unauthorized" not in proc.stderr.lower()
    out = run_kipoi("kipoi", "store", "logout", reg.host, env=login_env)
    assert out.returncode == 0, out.stderr
    saved = json.loads(config.read_text())
    assert reg.host not in saved["auths"] and saved["experimental"] == "enabled"
    again = run_kipoi("kipoi", "store", "logout", reg.host, env=login_env)
    assert again.returncode == 1 and "not logged in to %s" % reg.host in again.stderr


def test_login_hands_the_password_to_the_credential_store_the_config_names(
        oci_registry_basic, login_env, oci_env, helper):
    login_env["PATH"] = os.environ["PATH"]
    config = oci_env / ".docker" / "config.json"
    write_json(config, {"credsStore": "test"})
    out = run_kipoi("kipoi-store-login", oci_registry_basic.host, "-u", OCI_USER,
                    "--password-stdin", input=OCI_PASSWORD + "\n", env=login_env)
    assert out.returncode == 0, out.stderr
    assert json.loads(config.read_text()) == {"credsStore": "test"}
    assert json.loads((helper / "helper-db.json").read_text()) == {
        oci_registry_basic.host: [OCI_USER, OCI_PASSWORD]}
    assert run_kipoi("kipoi-store-logout", oci_registry_basic.host, env=login_env).returncode == 0
    assert json.loads((helper / "helper-db.json").read_text()) == {}


def test_login_never_takes_a_password_it_cannot_ask_for(login_env):
    out = run_kipoi("kipoi", "store", "login", "127.0.0.1:1", "-u", "me", env=login_env,
                    input="")
    assert out.returncode == 2 and "--password-stdin" in out.stderr
    out = run_kipoi("kipoi", "store", "login", "not a host!", "--password-stdin", "-u", "me",
                    env=login_env, input="pw\n")
    assert out.returncode == 2 and "not a registry host" in out.stderr


def test_on_a_terminal_login_asks_for_the_name_and_the_password_without_echo(
        oci_registry_basic, login_env, oci_env):
    import pty
    import select

    from conftest import BIN

    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        try:
            os.execve(str(BIN / "kipoi-store-login"),
                      ["kipoi-store-login", oci_registry_basic.host], login_env)
        finally:
            os._exit(127)  # never go on running pytest in the child

    def read_until(text):
        seen = b""
        while text.encode() not in seen:
            ready, _, _ = select.select([fd], [], [], 60)
            assert ready, "no prompt %r; got %r" % (text, seen)
            seen += os.read(fd, 1024)
        return seen.decode()

    read_until("Username: ")
    os.write(fd, (OCI_USER + "\n").encode())
    read_until("Password: ")
    os.write(fd, (OCI_PASSWORD + "\n").encode())
    rest = b""
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child exited: the pty is closed
            break
        if not chunk:
            break
        rest += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, rest
    assert OCI_PASSWORD.encode() not in rest  # not echoed
    saved = json.loads((oci_env / ".docker" / "config.json").read_text())
    assert saved["auths"][oci_registry_basic.host] == {"auth": basic(OCI_USER, OCI_PASSWORD)}
