"""Registry references, pure: `oci://HOST[:PORT]/REPO/PATH[:TAG][@sha256:HEX]` parsed and formatted.

    ref = parse("oci://ghcr.io/kipoi/models:v0.4")
    ref.registry, ref.repository, ref.tag, ref.digest   # "ghcr.io", "kipoi/models", "v0.4", None
    format(ref) == "oci://ghcr.io/kipoi/models:v0.4"
    parse(format(ref)) == ref

The grammar is the OCI distribution spec's: a repository is lowercase path components
(`[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*`) joined by `/`, a tag `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`,
a digest `sha256:` and 64 lowercase hex digits (or `sha512:` and 128). A bad one is a UsageError
(exit 2) naming the reference and what is wrong with it.

How a registry is reached (`api_base`): over https, except a registry on this machine (`localhost`,
127.0.0.0/8, `::1`: docker's rule) and the ones listed in KIPOI_INSECURE_REGISTRIES (space-separated
`HOST[:PORT]`, as docker's `insecure-registries`), which are spoken to over plain http. `docker.io`
(Docker Hub's name in references) is served by `registry-1.docker.io`.
"""

import ipaddress
import re
from dataclasses import dataclass
from typing import Optional

from kipoi_store.errors import UsageError

SCHEME = "oci://"
ENV_INSECURE = "KIPOI_INSECURE_REGISTRIES"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(r"%s(?:/%s)*\Z" % (_COMPONENT, _COMPONENT))
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z")
DIGEST_RE = re.compile(r"(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})\Z")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
HOST_RE = re.compile(r"(?:%s(?:\.%s)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?\Z" % (_LABEL, _LABEL))
MAX_NAME = 255  # distribution refuses longer repository names


@dataclass(frozen=True)
class Reference:
    registry: str  # HOST[:PORT] as written (lowercased host)
    repository: str  # "lab/models"
    tag: Optional[str] = None
    digest: Optional[str] = None  # "sha256:<hex>"

    @property
    def ref(self):
        """What a manifest URL names: the digest when there is one, else the tag (None: neither)."""
        return self.digest or self.tag

    def with_ref(self, tag=None, digest=None):
        return Reference(self.registry, self.repository, tag, digest)

    def format(self):
        return format(self)

    def __str__(self):
        return format(self)


def format(ref):
    """The canonical text of `ref`: parse(format(ref)) == ref."""
    text = "%s%s/%s" % (SCHEME, ref.registry, ref.repository)
    if ref.tag:
        text += ":" + ref.tag
    if ref.digest:
        text += "@" + ref.digest
    return text


def is_reference(text):
    return isinstance(text, str) and text.startswith(SCHEME)


def parse(text):
    """A Reference from `oci://HOST[:PORT]/REPO[:TAG][@DIGEST]`; UsageError when malformed."""
    if not is_reference(text):
        raise UsageError("registry reference %r: it must start with %s" % (text, SCHEME))
    rest = text[len(SCHEME):]
    registry, slash, path = rest.partition("/")
    registry = check_registry(registry, text)
    if not slash or not path:
        raise UsageError("registry reference %r: no repository after the registry" % text)
    digest = None
    if "@" in path:
        path, _, digest = path.partition("@")
        check_digest(digest, "registry reference %r" % text)
    tag = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _, tag = path.rpartition(":")
        check_tag(tag, text)
    check_repository(path, text, registry)
    return Reference(registry, path, tag, digest)


def check_registry(registry, text=None):
    """`registry` (HOST[:PORT]) with its host lowercased; UsageError when it is not a host name."""
    where = "registry reference %r" % text if text else "registry %r" % registry
    if not registry:
        raise UsageError("%s: no registry host" % where)
    if not HOST_RE.match(registry):
        raise UsageError("%s: %r is not a registry host (HOST or HOST:PORT)" % (where, registry))
    host, port = split_host(registry)
    if port is not None and not 0 < port < 65536:
        raise UsageError("%s: port %d is out of range" % (where, port))
    return registry.lower()


def check_repository(name, text=None, registry=""):
    where = "registry reference %r" % text if text else "repository %r" % name
    if not name:
        raise UsageError("%s: empty repository name" % where)
    if not REPOSITORY_RE.match(name):
        raise UsageError("%s: bad repository name %r (lowercase letters, digits and . _ - "
                         "between them, components separated by /)" % (where, name))
    if len(registry) + 1 + len(name) > MAX_NAME:
        raise UsageError("%s: repository name longer than %d characters" % (where, MAX_NAME))
    return name


def check_tag(tag, text=None):
    if not TAG_RE.match(tag or ""):
        where = "registry reference %r" % text if text else "tag %r" % tag
        raise UsageError("%s: bad tag %r (up to 128 of A-Z a-z 0-9 _ . -, not starting with . "
                         "or -)" % (where, tag))
    return tag


def check_digest(digest, where=None):
    if not DIGEST_RE.match(digest or ""):
        raise UsageError("%s: bad digest %r (sha256: and 64 lowercase hex digits)"
                         % (where or "digest", digest))
    return digest


def is_digest(ref):
    return bool(DIGEST_RE.match(ref or ""))


def split_host(registry):
    """(host, port or None) of `HOST[:PORT]`; an IPv6 host keeps no brackets."""
    if registry.startswith("["):
        host, _, rest = registry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    host, colon, port = registry.partition(":")
    return host, int(port) if colon and port.isdigit() else None


def is_loopback(registry):
    host, _ = split_host(registry)
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http(registry, env):
    """True when `registry` is spoken to over plain http: on this machine, or listed in
    KIPOI_INSECURE_REGISTRIES (as HOST:PORT, or HOST for any port)."""
    if is_loopback(registry):
        return True
    listed = (env.get(ENV_INSECURE) or "").split()
    host, _ = split_host(registry)
    return registry in listed or host in listed


def api_host(registry):
    return DOCKER_HUB_API if registry in (DOCKER_HUB, "index.docker.io") else registry


def api_base(registry, env):
    """`http(s)://HOST[:PORT]/v2/`, the registry API's root."""
    scheme = "http" if plain_http(registry, env) else "https"
    return "%s://%s/v2/" % (scheme, api_host(registry))


def parse_registry(text):
    """A registry named on a command line (`kipoi store login REGISTRY`): `HOST[:PORT]`, or as
    docker accepts it, `https://HOST[/...]` or `oci://HOST[/...]`; returns `HOST[:PORT]`."""
    value = text
    for prefix in ("https://", "http://", SCHEME):
        if value.startswith(prefix):
            value = value[len(prefix):]
            break
    value = value.split("/", 1)[0]
    if value == "index.docker.io":
        value = DOCKER_HUB
    return check_registry(value, None if value == text else text)
