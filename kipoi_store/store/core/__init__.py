"""The store's core: objects, snapshots, manifests, publish, staging, read-only dirs, locks."""
