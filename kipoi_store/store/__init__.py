"""The content-addressed store, in four rooms:

- core/: objects by sha256, snapshots and their manifests, publishing by rename, staging in tmp/,
  read-only snapshot dirs, download locks (the layout every tier and mirror shares);
- user/: per-user records kept outside every store (last use, the stat cache, the md5 index, the
  per-run records), so a store the user cannot write still serves them;
- tiers/: site stores behind the user's (adopting a site model, group-shared stores);
- housekeeping/: verify, gc, ls, rm and info over a store.

Moving content between places (mirrors, bundles, registries) is dist/'s, one layer up.
"""
