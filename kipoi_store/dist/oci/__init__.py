"""OCI registries as places store content travels to and from: references (reference.py, pure),
credentials where docker and podman keep them (credentials.py), the registry auth flows (auth.py),
one registry's HTTP (transport.py), and a repository's blobs and manifests (client.py, upload.py).
"""
