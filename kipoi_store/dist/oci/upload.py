"""One blob upload (client.Repository.push_blob), the ways the distribution API allows:

  - a cross-repository mount (`POST uploads/?mount=DIGEST&from=OTHER`: 201, no bytes sent; a
    registry that cannot mount answers 202 with an upload to use instead);
  - POST then PUT with the body, for small blobs (the single `POST ?digest=` with a body is not used:
    distribution 2.8 answers 202 and ignores the body);
  - POST, one streamed PATCH, then PUT `?digest=`, for larger ones;
  - chunks (PATCH with Content-Range, each to the Location the last one returned) once a registry
    refuses a request as too large (413), halving down to MIN_CHUNK, or from the start when the
    Repository has a chunk_size or the registry names an `OCI-Chunk-Min-Length`.

A 5xx, 429 or broken connection starts the upload over (a stream cannot be sent twice); a
registry that computes another digest (400 DIGEST_INVALID) means our bytes are not what they were
said to be: IntegrityError.
"""

from urllib.parse import urlencode, urljoin

from kipoi_store.dist.oci.auth import scope_for
from kipoi_store.errors import IntegrityError, NetworkError
from kipoi_store.net.http import Retry, attempts
from kipoi_store.dist.oci.transport import error_codes
from kipoi_store.net.urls import short_url

MONOLITHIC_MAX = 1 << 20  # blobs up to this size go up in one PUT; larger ones are streamed
DEFAULT_CHUNK = 8 << 20  # chunk size once a registry refused a request as too large (413)
MIN_CHUNK = 256 << 10


class _TooLarge(Exception):
    pass


class Upload:
    def __init__(self, repo, digest, size, open_fn):
        self.repo, self.digest, self.size, self.open_fn = repo, digest, size, open_fn
        self.chunk = repo.chunk_size

    def run(self, mount_from=None):
        mount = mount_from if mount_from and mount_from != self.repo.name else None
        for attempt in attempts(self.repo.transport.opts):
            try:
                return self._once(mount)
            except _TooLarge:
                smaller = (self.chunk // 2) if self.chunk else DEFAULT_CHUNK
                if self.chunk and smaller < MIN_CHUNK:
                    raise NetworkError("registry %s: blob %s: every request refused as too large "
                                       "(413), even %d-byte chunks"
                                       % (self.repo.where, self.digest, self.chunk)) from None
                self.chunk = smaller
                attempt.again()
            except Retry as e:
                attempt.retry(e)

    def _request(self, method, url, extra=(), **kwargs):
        return self.repo.transport.request(
            method, url, scopes={scope_for(self.repo.name, True), *extra}, retry=False, **kwargs)

    def _once(self, mount):
        repo = self.repo
        if mount:
            query = urlencode({"mount": self.digest, "from": mount})
            resp = self._request("POST", repo.base + "blobs/uploads/?" + query,
                                 extra=(scope_for(mount),), headers={"Content-Length": "0"})
            with resp:
                if resp.status_code == 201:
                    return "mounted"
                location = self._location(resp)
        else:
            resp = self._request("POST", repo.base + "blobs/uploads/",
                                 headers={"Content-Length": "0"})
            with resp:
                location = self._location(resp)
        small = self.size is not None and self.size <= MONOLITHIC_MAX
        if self.chunk:
            location = self._chunks(location)
            self._finish(location, None)
        elif small:
            with self.open_fn() as f:
                self._finish(location, f.read())
        else:
            with self.open_fn() as f:
                resp = self._request("PATCH", location, data=f,
                                     headers={"Content-Type": "application/octet-stream"})
                with resp:
                    self._check(resp, (202,), "upload")
                    location = urljoin(location, resp.headers.get("Location") or location)
            self._finish(location, None)
        return "uploaded"

    def _location(self, resp):
        if resp.status_code != 202 or not resp.headers.get("Location"):
            self._check(resp, (202,), "start upload")
            raise NetworkError("registry %s: start upload of blob %s: no Location in the answer"
                               % (self.repo.where, self.digest))
        minimum = resp.headers.get("OCI-Chunk-Min-Length", "")
        if minimum.isdigit() and self.size and self.size > int(minimum) > 0:
            self.chunk = max(self.chunk or 0, int(minimum))
        return urljoin(resp.url or self.repo.base, resp.headers["Location"])

    def _chunks(self, location):
        start = 0
        with self.open_fn() as f:
            while True:
                data = f.read(self.chunk)
                if not data:
                    return location
                end = start + len(data) - 1
                resp = self._request("PATCH", location, data=data, headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": "%d-%d" % (start, end),
                    "Content-Length": str(len(data))})
                with resp:
                    self._check(resp, (202,), "upload chunk at byte %d" % start)
                    location = urljoin(location, resp.headers.get("Location") or location)
                start = end + 1

    def _finish(self, location, body):
        sep = "&" if "?" in location else "?"
        url = location + sep + urlencode({"digest": self.digest})
        headers = {"Content-Type": "application/octet-stream"}
        if body is None:
            headers["Content-Length"] = "0"
        resp = self._request("PUT", url, data=body if body is not None else b"", headers=headers)
        with resp:
            self._check(resp, (201,), "finish upload")

    def _check(self, resp, ok, what):
        if resp.status_code in ok:
            return
        if resp.status_code == 413:
            resp.close()
            raise _TooLarge()
        codes = error_codes(resp)
        if resp.status_code == 400 and "DIGEST_INVALID" in codes:
            raise IntegrityError("registry %s: blob %s: the registry found other bytes than the "
                                 "digest says (DIGEST_INVALID): the local copy is damaged"
                                 % (self.repo.where, self.digest))
        if resp.status_code == 400 and "SIZE_INVALID" in codes:
            raise IntegrityError("registry %s: blob %s: the registry found another size than %s"
                                 % (self.repo.where, self.digest, self.size))
        raise self.repo._fail(resp, "%s of blob %s" % (what, self.digest),
                              url=short_url(resp.url or ""))
