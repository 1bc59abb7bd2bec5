"""`kipoi store login/logout`: check a user name and password against a registry as docker login
does (GET /v2/, answering its Basic or Bearer challenge with them), then keep them where docker
would (credentials.store); forget them (credentials.erase)."""

import os

from kipoi_store.dist.oci import credentials
from kipoi_store.dist.oci.transport import Transport
from kipoi_store.errors import NetworkError


def check(registry, username, password, env=None, opts=None):
    """Raise NetworkError unless the registry accepts `username`/`password` (a registry that asks
    for nothing accepts anyone, as docker login finds)."""
    cred = credentials.Credential(username, password, None, "the password given")
    transport = Transport(registry, env=env, opts=opts, lookup=lambda: cred)
    with transport.request("GET", transport.base, scopes=set()) as resp:
        if resp.status_code != 200:
            raise NetworkError("registry %s: login as %s: %s answered %d"
                               % (registry, username, transport.base, resp.status_code))


def login(registry, username, password, env=None, opts=None):
    """Check, then keep the credentials; returns where they went (a file or a helper)."""
    env = os.environ if env is None else env
    check(registry, username, password, env, opts)
    return credentials.store(registry, username, password, env)


def logout(registry, env=None):
    """True when credentials for `registry` were kept and are now gone."""
    return credentials.erase(registry, env)
