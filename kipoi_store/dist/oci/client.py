"""A client for one repository of an OCI registry (the distribution API, /v2/): blobs and manifests.

    repo = Repository("oci://127.0.0.1:5000/lab/models", push=True)
    repo.push_blob(digest, size, lambda: open(path, "rb"))   # "exists", "mounted" or "uploaded"
    repo.put_manifest("v1", manifest_bytes, OCI_MANIFEST)     # -> "sha256:..."
    data, media_type, digest = repo.get_manifest("v1", [OCI_MANIFEST, OCI_INDEX])
    repo.fetch_blob(digest, size, tmp_path)                   # verified, or removed and raised

Every byte read is checked: a blob against its size and sha256 before fetch_blob returns, a manifest
against the digest it was asked for. Errors are KipoiError subclasses naming the registry,
repository and URL (never a secret): NotFoundError, IntegrityError, NetworkError (exit 1); a bad
reference or name is a UsageError (exit 2). Auth, redirects and retries: transport.py.
"""

import hashlib
import json
import os
from urllib.parse import urlencode, urljoin

from kipoi_store.dist.oci import reference
from kipoi_store.dist.oci.auth import scope_for
from kipoi_store.dist.oci.transport import Transport, error_codes
from kipoi_store.dist.oci.upload import Upload
from kipoi_store.errors import IntegrityError, NetworkError, NotFoundError, UsageError
from kipoi_store.net.http import Retry, attempts, network_errors, why
from kipoi_store.net.urls import short_url

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MAX_MANIFEST = 4 << 20  # what registries accept (distribution refuses more)
CHUNK = 1 << 16


class Repository:
    def __init__(self, ref, name=None, *, push=False, env=None, opts=None, session=None,
                 chunk_size=None):
        """`ref`: a Reference or `oci://...` text, or a registry (HOST[:PORT]) with `name`."""
        if name is None:
            ref = ref if isinstance(ref, reference.Reference) else reference.parse(ref)
            registry, name = ref.registry, ref.repository
        else:
            registry = reference.check_registry(ref)
            reference.check_repository(name, registry=registry)
        self.registry, self.name, self.push = registry, name, push
        self.transport = Transport(registry, name, env=env, opts=opts, session=session)
        self.base = self.transport.base + name + "/"
        self.chunk_size = chunk_size  # None: stream a large blob in one PATCH

    def __repr__(self):
        return "Repository(%r)" % self.where

    @property
    def where(self):
        return "%s/%s" % (self.registry, self.name)

    def _scopes(self, write=False, extra=()):
        return {scope_for(self.name, self.push or write), *extra}

    def _request(self, method, path, write=False, extra=(), **kwargs):
        url = path if "://" in path else self.base + path
        return self.transport.request(method, url, scopes=self._scopes(write, extra), **kwargs)

    def _fail(self, resp, what, url=None):
        """NotFoundError for 404, else NetworkError, naming the registry's error code if it sent one."""
        code = resp.status_code
        detail = error_codes(resp)
        message = "registry %s: %s: %s answered %d%s" % (
            self.where, what, short_url(url or resp.url or ""), code,
            " (%s)" % detail if detail else "")
        resp.close()
        if code == 404:
            return NotFoundError(message)
        return NetworkError(message)

    # -- blobs -------------------------------------------------------------------------------

    def blob_size(self, digest):
        """The size of blob `digest` in this repository, or None when it is not there."""
        reference.check_digest(digest)
        with self._request("HEAD", "blobs/" + digest) as resp:
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                raise self._fail(resp, "blob %s" % digest)
            length = resp.headers.get("Content-Length")
            return int(length) if length and length.isdigit() else None

    def fetch_blob(self, digest, size, dest_path, progress=None):
        """GET blob `digest` into `dest_path`, resuming with Range from the bytes already there;
        returns when it holds exactly `size` bytes (None: what the registry says) hashing to
        `digest`. On a mismatch the file is removed and IntegrityError raised; after a network
        failure the partial file stays, for the next call to resume (an empty one is removed).
        `progress(n)`: n bytes arrived (negative when the server made the download start over)."""
        reference.check_digest(digest)
        algorithm, _, expected = digest.partition(":")
        hasher = hashlib.new(algorithm)
        have = 0
        try:
            with open(dest_path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    hasher.update(chunk)
                    have += len(chunk)
        except FileNotFoundError:
            pass
        if size is not None and have > size:
            hasher, have = hashlib.new(algorithm), 0
        state = {"have": have, "hasher": hasher, "total": size}
        with open(dest_path, "r+b" if have else "wb") as f:
            f.truncate(have)
            f.seek(have)
            try:
                for attempt in attempts(self.transport.opts):
                    before = state["have"]
                    try:
                        self._get_blob(digest, size, f, state, progress)
                        break
                    except Retry as e:
                        if state["have"] > before:
                            attempt.progressed()
                        attempt.retry(e)
            except IntegrityError:
                _remove(dest_path)
                raise
            except BaseException:
                if not state["have"]:
                    _remove(dest_path)  # nothing to resume from: leave no empty file behind
                raise
        total = state["total"]
        got = state["hasher"].hexdigest()
        if (total is not None and state["have"] != total) or got != expected:
            _remove(dest_path)
            raise IntegrityError("registry %s: blob %s: wrong content (%d bytes, sha256 %s)"
                                 % (self.where, digest, state["have"], got[:12]))

    def _get_blob(self, digest, size, f, state, progress):
        have = state["have"]
        if size is not None and have == size:
            return
        headers = {"Range": "bytes=%d-" % have} if have else {}
        resp = self._request("GET", "blobs/" + digest, headers=headers, stream=True, retry=False)
        with resp:
            if resp.status_code == 206 and have:
                start = _range_start(resp.headers.get("Content-Range"))
                if start != have:
                    _restart(f, state, progress)
                    raise Retry("registry %s: blob %s: unexpected range" % (self.where, digest), 0)
                total = _digits((resp.headers.get("Content-Range") or "").rpartition("/")[2])
            elif resp.status_code == 200:
                if have:
                    _restart(f, state, progress)
                total = _digits(resp.headers.get("Content-Length"))
            elif resp.status_code == 416 and have:
                _restart(f, state, progress)
                raise Retry("registry %s: blob %s: range refused" % (self.where, digest), 0)
            else:
                raise self._fail(resp, "blob %s" % digest)
            if size is None and total is not None:
                state["total"] = total
            limit = state["total"]
            try:
                for chunk in resp.iter_content(CHUNK):
                    if limit is not None and state["have"] + len(chunk) > limit:
                        raise IntegrityError("registry %s: blob %s: wrong size (more than the %d "
                                             "bytes expected)" % (self.where, digest, limit))
                    f.write(chunk)
                    state["hasher"].update(chunk)
                    state["have"] += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
            except network_errors() as e:
                raise Retry("registry %s: blob %s broke off at byte %d: %s"
                            % (self.where, digest, state["have"], why(e))) from None
            if limit is not None and state["have"] < limit:
                if _digits(resp.headers.get("Content-Length")) is not None and \
                        state["have"] - have == _digits(resp.headers.get("Content-Length")):
                    raise IntegrityError("registry %s: blob %s: wrong size (%d bytes, expected %d)"
                                         % (self.where, digest, state["have"], limit))
                raise Retry("registry %s: blob %s ended early at byte %d"
                            % (self.where, digest, state["have"]))

    def push_blob(self, digest, size, open_fn, mount_from=None):
        """Make blob `digest` (`size` bytes; `open_fn()` opens them for reading, once per try) be
        in this repository: "exists" when it already was, "mounted" from repository `mount_from`
        of the same registry, else "uploaded" (POST then PUT; larger blobs streamed in a PATCH,
        or in chunks once the registry refuses a request as too large)."""
        reference.check_digest(digest)
        if self.blob_size(digest) is not None:
            return "exists"
        return Upload(self, digest, size, open_fn).run(mount_from)

    # -- manifests -----------------------------------------------------------------------------

    def get_manifest(self, ref, accept=(OCI_MANIFEST, OCI_INDEX)):
        """(bytes, media type, digest) of the manifest at tag or digest `ref`; NotFoundError when
        there is none; IntegrityError when it is over MAX_MANIFEST or does not match `ref`."""
        ref = _check_ref(ref)
        accept = [accept] if isinstance(accept, str) else list(accept)
        with self._request("GET", "manifests/" + ref, headers={"Accept": ", ".join(accept)},
                           stream=True) as resp:
            if resp.status_code != 200:
                raise self._fail(resp, "manifest %s" % ref)
            length = _digits(resp.headers.get("Content-Length"))
            if length is not None and length > MAX_MANIFEST:
                raise IntegrityError("registry %s: manifest %s is %d bytes, over the %d limit"
                                     % (self.where, ref, length, MAX_MANIFEST))
            data = b""
            try:
                for chunk in resp.iter_content(CHUNK):
                    data += chunk
                    if len(data) > MAX_MANIFEST:
                        raise IntegrityError("registry %s: manifest %s is over the %d-byte limit"
                                             % (self.where, ref, MAX_MANIFEST))
            except network_errors() as e:
                raise NetworkError("registry %s: manifest %s: %s" % (self.where, ref, why(e))) \
                    from None
            media_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
            said = resp.headers.get("Docker-Content-Digest")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.is_digest(ref):
            if hashlib.new(ref.split(":")[0], data).hexdigest() != ref.split(":")[1]:
                raise IntegrityError("registry %s: manifest %s: wrong content (its digest differs)"
                                     % (self.where, ref))
            digest = ref
        elif said and said.startswith("sha256:") and said != digest:
            raise IntegrityError("registry %s: manifest %s: wrong content (the registry says %s, "
                                 "the bytes are %s)" % (self.where, ref, said, digest))
        if not media_type or media_type in ("application/json", "application/octet-stream"):
            try:
                media_type = json.loads(data).get("mediaType") or media_type
            except (ValueError, AttributeError):
                pass
        return data, media_type, digest

    def manifest_digest(self, ref, accept=(OCI_MANIFEST, OCI_INDEX)):
        """The digest of the manifest at `ref` (HEAD), or None when there is none."""
        ref = _check_ref(ref)
        accept = [accept] if isinstance(accept, str) else list(accept)
        with self._request("HEAD", "manifests/" + ref,
                           headers={"Accept": ", ".join(accept)}) as resp:
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                raise self._fail(resp, "manifest %s" % ref)
            said = resp.headers.get("Docker-Content-Digest")
        if said and reference.is_digest(said):
            return said
        return self.get_manifest(ref, accept)[2]

    def put_manifest(self, ref, data, media_type):
        """Store manifest `data` under tag or digest `ref`; returns its digest."""
        ref = _check_ref(ref)
        if len(data) > MAX_MANIFEST:
            raise UsageError("manifest for %s:%s is %d bytes, over the %d registries accept"
                             % (self.where, ref, len(data), MAX_MANIFEST))
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.is_digest(ref) and ref != digest:
            raise IntegrityError("manifest for %s: its bytes are %s, not %s"
                                 % (self.where, digest, ref))
        with self._request("PUT", "manifests/" + ref, write=True, data=bytes(data),
                           headers={"Content-Type": media_type}) as resp:
            if resp.status_code not in (200, 201):
                raise self._fail(resp, "put manifest %s" % ref)
        return digest

    def delete_manifest(self, digest):
        """Remove the manifest `digest` (and every tag on it); False when it was not there."""
        reference.check_digest(digest)
        with self._request("DELETE", "manifests/" + digest, write=True) as resp:
            if resp.status_code == 404:
                return False
            if resp.status_code not in (200, 202):
                raise self._fail(resp, "delete manifest %s" % digest)
        return True

    def tags(self):
        """Every tag of the repository, sorted; [] when the repository does not exist."""
        found = []
        url = self.base + "tags/list?" + urlencode({"n": 1000})
        seen = set()
        while url and url not in seen:
            seen.add(url)
            with self._request("GET", url) as resp:
                if resp.status_code == 404:
                    return []
                if resp.status_code != 200:
                    raise self._fail(resp, "tags")
                try:
                    found += json.loads(resp.content[:MAX_MANIFEST]).get("tags") or []
                except (ValueError, AttributeError):
                    raise NetworkError("registry %s: tags: not a tag list" % self.where) from None
                url = _next_link(resp.headers.get("Link"), url)
        return sorted(set(t for t in found if isinstance(t, str)))


def _check_ref(ref):
    if reference.is_digest(ref):
        return ref
    if isinstance(ref, str) and ref.startswith(("sha256:", "sha512:")):
        return reference.check_digest(ref)
    return reference.check_tag(ref)


def _next_link(value, current):
    # Link: </v2/name/tags/list?n=1000&last=x>; rel="next"
    if not value or 'rel="next"' not in value:
        return None
    target = value.split(";", 1)[0].strip().strip("<>")
    return urljoin(current, target) if target else None


def _range_start(value):
    try:
        unit, _, rest = (value or "").partition(" ")
        return int(rest.split("-", 1)[0]) if unit.strip().lower() == "bytes" else None
    except ValueError:
        return None


def _digits(value):
    return int(value) if value and str(value).isdigit() else None


def _restart(f, state, progress):
    if progress is not None and state["have"]:
        progress(-state["have"])
    f.seek(0)
    f.truncate()
    state["hasher"] = hashlib.new(state["hasher"].name)
    state["have"] = 0


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


__all__ = ["Repository", "OCI_MANIFEST", "OCI_INDEX", "MAX_MANIFEST"]
