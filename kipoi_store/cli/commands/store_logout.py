"""kipoi store logout: forget the credentials kept for a registry (where docker keeps them)."""

from kipoi_store.cli import boundary

SUMMARY = "Log out of an OCI registry (forget its credentials)"


def parser():
    p = boundary.ArgumentParser(prog="kipoi store logout", summary=SUMMARY, epilog=(
        "Removes the registry's entry from $DOCKER_CONFIG/config.json `auths` (the rest of the "
        "file kept) and erases it from the credential helper the file names. Exit 1 when no "
        "credentials were kept for it."))
    p.add_argument("registry", metavar="REGISTRY", help="HOST[:PORT] (or oci://HOST, https://HOST)")
    return p


def main(argv):
    args = parser().parse_args(argv)
    from kipoi_store.dist.oci.login import logout
    from kipoi_store.dist.oci.reference import parse_registry

    registry = parse_registry(args.registry)
    if not logout(registry):
        boundary.error_line("not logged in to %s" % registry)
        return 1
    boundary.note("logged out of %s" % registry)
    return 0
