"""Registry credentials where docker and podman keep them, read (`lookup`) and written (`store`,
`erase`: `kipoi store login/logout`).

Looked up in this order, the first that names the registry wins:
  1. KIPOI_REGISTRY_USERNAME + KIPOI_REGISTRY_PASSWORD (for CI), for every registry, or only for
     those listed in KIPOI_REGISTRY_HOST (space-separated HOST[:PORT]) when it is set;
  2. the file REGISTRY_AUTH_FILE names (podman's auth.json format);
  3. $DOCKER_CONFIG/config.json (default ~/.docker/config.json): `credHelpers[host]`, then
     `credsStore` (both through `docker-credential-<name> get`), then `auths[host].auth`;
  4. podman's ${XDG_RUNTIME_DIR}/containers/auth.json, then ~/.config/containers/auth.json.
An auth.json key may name a repository (`host/lab/models`): the longest one matching wins.
Secrets travel through stdin to helpers, never on a command line, and are never shown in messages.
"""

import base64
import json
import os
import subprocess
from dataclasses import dataclass, field
from typing import Optional

from kipoi_store.errors import NetworkError, UsageError

ENV_USERNAME = "KIPOI_REGISTRY_USERNAME"
ENV_PASSWORD = "KIPOI_REGISTRY_PASSWORD"
ENV_HOSTS = "KIPOI_REGISTRY_HOST"
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 60


@dataclass(frozen=True)
class Credential:
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    identity_token: Optional[str] = field(default=None, repr=False)  # an OAuth2 refresh token
    source: str = ""  # where it was found, for messages (never the secret)


def docker_config_path(env=None):
    env = os.environ if env is None else env
    base = env.get("DOCKER_CONFIG") or os.path.join(env.get("HOME") or os.path.expanduser("~"),
                                                    ".docker")
    return os.path.join(base, "config.json")


def podman_auth_paths(env=None):
    env = os.environ if env is None else env
    paths = []
    if env.get("XDG_RUNTIME_DIR"):
        paths.append(os.path.join(env["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    home = env.get("HOME") or os.path.expanduser("~")
    paths.append(os.path.join(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"),
                              "containers", "auth.json"))
    return paths


def server_key(registry):
    """The key docker files `registry` under (Docker Hub's is its historic v1 URL)."""
    return DOCKER_HUB_KEY if registry in ("docker.io", "index.docker.io",
                                          "registry-1.docker.io") else registry


def _normal_key(key):
    """`https://host/v1/` and `host` name the same registry in an auths map."""
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix):]
            key = key.split("/", 1)[0]
            break
    return "docker.io" if key in ("index.docker.io", "registry-1.docker.io") else key.rstrip("/")


def read_json(path):
    """The JSON object in `path`; None when there is no such file; UsageError when it is broken."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise UsageError("cannot read credentials file %s: %s" % (path, e)) from None
    if not isinstance(data, dict):
        raise UsageError("credentials file %s: not a JSON object" % path)
    return data


def _from_auths(auths, registry, repository, path):
    """A Credential from an `auths` map, matching `host/repo/...` keys first (podman), then host."""
    if not isinstance(auths, dict):
        return None
    wanted = _normal_key(server_key(registry))
    keys = {}
    for key in auths:
        if not isinstance(key, str):
            continue
        if "://" in key:
            keys[_normal_key(key)] = key
        else:
            keys["docker.io" if key in ("index.docker.io", "registry-1.docker.io") else
                 key.rstrip("/")] = key
    candidates = []
    if repository:
        parts = repository.split("/")
        candidates += ["%s/%s" % (wanted, "/".join(parts[:n])) for n in range(len(parts), 0, -1)]
    candidates.append(wanted)
    for candidate in candidates:
        if candidate in keys:
            entry = auths[keys[candidate]]
            return _entry_credential(entry, "%s (%s)" % (path, keys[candidate]))
    return None


def _entry_credential(entry, where):
    if not isinstance(entry, dict):
        return None
    if entry.get("identitytoken"):
        return Credential(entry.get("username"), None, entry["identitytoken"], where)
    if entry.get("auth"):
        try:
            text = base64.b64decode(entry["auth"], validate=False).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise UsageError("credentials in %s: `auth` is not base64 of user:password"
                             % where) from None
        user, sep, password = text.partition(":")
        if not sep:
            raise UsageError("credentials in %s: `auth` is not base64 of user:password" % where)
        return Credential(user, password, None, where)
    if entry.get("username") and entry.get("password"):
        return Credential(entry["username"], entry["password"], None, where)
    return None


def run_helper(name, action, data, env=None):
    """`docker-credential-<name> <action>` with `data` on stdin; its stdout, or None when it says
    it has no credentials. NetworkError when the helper is missing or fails otherwise."""
    program = "docker-credential-" + name
    try:
        proc = subprocess.run([program, action], input=data.encode("utf-8"), capture_output=True,
                              timeout=HELPER_TIMEOUT, env=None if env is None else dict(env))
    except FileNotFoundError:
        raise NetworkError("credential helper %s not found on PATH" % program) from None
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NetworkError("credential helper %s failed: %s" % (program, type(e).__name__)) from None
    out = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        said = (out.strip() or proc.stderr.decode("utf-8", "replace").strip()).splitlines()
        if action in ("get", "erase") and said and "not found" in said[0].lower():
            return None
        raise NetworkError("credential helper %s %s failed (exit %d)"
                           % (program, action, proc.returncode))
    return out


def _from_helper(name, registry, env):
    key = server_key(registry)
    out = run_helper(name, "get", key, env)
    if out is None:
        return None
    try:
        answer = json.loads(out)
        user, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        raise NetworkError("credential helper docker-credential-%s: unreadable answer for %s"
                           % (name, registry)) from None
    where = "docker-credential-%s" % name
    if user == "<token>":
        return Credential(None, None, secret, where)
    return Credential(user, secret, None, where)


def lookup(registry, repository=None, env=None):
    """The Credential for `registry` (HOST[:PORT]), or None: anonymous."""
    env = os.environ if env is None else env
    user, password = env.get(ENV_USERNAME), env.get(ENV_PASSWORD)
    if user and password:
        hosts = (env.get(ENV_HOSTS) or "").split()
        if not hosts or registry in hosts:
            return Credential(user, password, None, "%s/%s" % (ENV_USERNAME, ENV_PASSWORD))
    if env.get("REGISTRY_AUTH_FILE"):
        path = env["REGISTRY_AUTH_FILE"]
        found = _from_auths((read_json(path) or {}).get("auths"), registry, repository, path)
        if found:
            return found
    path = docker_config_path(env)
    config = read_json(path)
    if config:
        helpers = config.get("credHelpers")
        if isinstance(helpers, dict) and isinstance(helpers.get(server_key(registry)), str):
            return _from_helper(helpers[server_key(registry)], registry, env)
        if isinstance(config.get("credsStore"), str) and config["credsStore"]:
            found = _from_helper(config["credsStore"], registry, env)
            if found:
                return found
        found = _from_auths(config.get("auths"), registry, repository, path)
        if found:
            return found
    for path in podman_auth_paths(env):
        found = _from_auths((read_json(path) or {}).get("auths"), registry, repository, path)
        if found:
            return found
    return None


# -- writing (kipoi store login / logout) ----------------------------------------------------------

def _write_config(path, config):
    """Write `config` to `path` atomically (a temporary file beside it, renamed), mode 0600."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = "%s.tmp-%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(config, f, indent="\t")
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _helper_for(config, registry):
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict) and isinstance(helpers.get(server_key(registry)), str):
        return helpers[server_key(registry)]
    store = config.get("credsStore")
    return store if isinstance(store, str) and store else None


def store(registry, username, password, env=None):
    """Keep `username`/`password` for `registry` where docker would: its credential helper if the
    config names one, else `auths` in $DOCKER_CONFIG/config.json (the rest of the file kept).
    Returns where they went (a path or a helper's name)."""
    env = os.environ if env is None else env
    path = docker_config_path(env)
    config = read_json(path) or {}
    key = server_key(registry)
    helper = _helper_for(config, registry)
    if helper:
        run_helper(helper, "store", json.dumps({"ServerURL": key, "Username": username,
                                                "Secret": password}), env)
        return "docker-credential-" + helper
    auths = config.get("auths")
    if not isinstance(auths, dict):
        auths = config["auths"] = {}
    token = base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")
    auths[key] = {"auth": token}
    _write_config(path, config)
    return path


def erase(registry, env=None):
    """Forget the credentials kept for `registry` (helper and `auths`); True if any were there."""
    env = os.environ if env is None else env
    path = docker_config_path(env)
    config = read_json(path)
    if not config:
        return False
    found = False
    helper = _helper_for(config, registry)
    if helper:
        found = run_helper(helper, "erase", server_key(registry), env) is not None
    auths = config.get("auths")
    if isinstance(auths, dict):
        wanted = _normal_key(server_key(registry))
        for key in [k for k in auths if isinstance(k, str) and _normal_key(k) == wanted]:
            del auths[key]
            found = True
        if found:
            _write_config(path, config)
    return found
