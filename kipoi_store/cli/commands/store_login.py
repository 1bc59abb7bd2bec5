"""kipoi store login: check a user name and password against a registry and keep them where docker
would, for push and pull (`oci://` references)."""

import sys

from kipoi_store.cli import boundary
from kipoi_store.errors import UsageError

SUMMARY = "Log in to an OCI registry (credentials kept where docker keeps them)"


def parser():
    p = boundary.ArgumentParser(prog="kipoi store login", summary=SUMMARY, epilog=(
        "The password is read from stdin with --password-stdin, else asked for when stdin is a "
        "terminal (never taken from the command line). It is checked against the registry first "
        "(its Basic or token challenge), then kept as docker would: through the credential helper "
        "$DOCKER_CONFIG/config.json names (credHelpers, credsStore), else in its `auths` (mode "
        "0600, the rest of the file kept). docker, podman and skopeo read it there too."))
    p.add_argument("registry", metavar="REGISTRY", help="HOST[:PORT] (or oci://HOST, https://HOST)")
    p.add_argument("-u", "--username", metavar="NAME", help="the user name (asked if missing)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from stdin (its first line)")
    return p


def _ask(prompt, secret):
    if not sys.stdin.isatty():
        return None
    if secret:
        import getpass

        return getpass.getpass(prompt)
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return sys.stdin.readline().rstrip("\n")


def main(argv):
    args = parser().parse_args(argv)
    from kipoi_store.dist.oci.reference import parse_registry

    registry = parse_registry(args.registry)
    username = args.username or _ask("Username: ", secret=False)
    if not username:
        raise UsageError("login to %s: no user name (-u NAME)" % registry)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = _ask("Password: ", secret=True)
        if password is None:
            raise UsageError("login to %s: no password: use --password-stdin when stdin is not a "
                             "terminal" % registry)
    if not password:
        raise UsageError("login to %s: empty password" % registry)
    from kipoi_store.dist.oci.login import login

    where = login(registry, username, password)
    boundary.note("logged in to %s as %s (credentials in %s)" % (registry, username, where))
    return 0
