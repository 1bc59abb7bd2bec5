"""OCI registries: the registry client, and models <-> OCI artifacts (artifact.py), pushed
(push.py) and pulled (pull.py)."""
