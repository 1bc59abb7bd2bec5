"""Real git remotes for tests: `git http-backend` behind a tiny HTTP server, and kipoi-shaped repos.

    server = GitHTTPServer(root).start()        # serves every bare repo under `root`
    repo = build_kipoi_repo(root / "models.git") # real commits, a tag, symlinks, a model group
    url = server.url + "/models.git"             # smart HTTP, protocol v2, filters allowed
    ...
    server.count(repo="models.git", service="git-upload-pack", method="POST")  # round trips made
    server.stop()

The server runs `git http-backend` as a CGI program for each request (as Apache or nginx would),
streaming request and response bodies, and logs every request so tests can assert that no network
was used, or that blobs arrived in one batch.
"""

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import unquote
from serving import Served, serve_in_thread, shut

CHUNK = 1 << 16


@dataclass(frozen=True)
class Request:
    method: str
    path: str        # URL path, e.g. "/models.git/git-upload-pack"
    query: str
    status: int
    git_protocol: str

    @property
    def repo(self):
        return self.path.lstrip("/").split("/", 1)[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"   # one request per connection: bodies end when the connection does
    server_version = "kipoi-test-git"

    def log_message(self, format, *args):  # keep pytest output clean; the log is self.server.log
        pass

    def do_GET(self):
        self._cgi()

    def do_POST(self):
        self._cgi()

    def _cgi(self):
        owner = self.server.owner
        path, _, query = self.path.partition("?")
        if owner.fail_status:
            self._log(path, query, owner.fail_status)
            self.send_error(owner.fail_status)
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(owner.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_ADDR": self.client_address[0],
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.0",
            # The server's own config only: a developer's ~/.gitconfig must not change what is served.
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(owner.root),
            "GIT_CONFIG_GLOBAL": "/dev/null",
        }
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = int(self.headers.get("Content-Length") or 0)
        if length and not chunked:
            env["CONTENT_LENGTH"] = str(length)
        proc = subprocess.Popen(["git", "http-backend"], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        feeder = threading.Thread(target=self._feed, args=(proc.stdin, length, chunked), daemon=True)
        feeder.start()
        status, headers = 200, []
        for raw in iter(proc.stdout.readline, b""):
            line = raw.rstrip(b"\r\n").decode("latin-1")
            if not line:
                break
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers.append((name.strip(), value.strip()))
        self._log(path, query, status)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        while True:
            data = proc.stdout.read1(CHUNK) if hasattr(proc.stdout, "read1") else proc.stdout.read(CHUNK)
            if not data:
                break
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                break
        feeder.join()
        proc.stdout.close()
        proc.wait()

    def _feed(self, stdin, length, chunked):
        """Copy the request body to the CGI's stdin (decoding chunked transfer, as a web server does)."""
        try:
            if chunked:
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline().strip():  # trailers
                            pass
                        break
                    self._copy(stdin, size)
                    self.rfile.readline()  # CRLF after each chunk
            elif length:
                self._copy(stdin, length)
        except (BrokenPipeError, ConnectionResetError, ValueError):
            pass
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _copy(self, stdin, size):
        while size:
            data = self.rfile.read(min(CHUNK, size))
            if not data:
                raise ConnectionResetError("request body ended early")
            size -= len(data)
            stdin.write(data)

    def _log(self, path, query, status):
        owner = self.server.owner
        with owner.lock:
            owner.log.append(Request(self.command, path, query, status,
                                     self.headers.get("Git-Protocol", "")))


class GitHTTPServer(Served):
    """Smart-HTTP git server for the bare repositories under `root`, on 127.0.0.1 (a free port)."""

    def __init__(self, root):
        self.root = Path(root)
        self.log: List[Request] = []
        self.lock = threading.Lock()
        self.fail_status = 0   # set to e.g. 503 to make every request fail (a broken network)
        self._httpd = None
        self._thread = None
        self._port = None

    def start(self):
        self.root.mkdir(parents=True, exist_ok=True)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self
        self._port = self._httpd.server_address[1]  # still known after stop(): a port now closed
        self._thread = serve_in_thread(self._httpd)
        return self

    @property
    def port(self):
        return self._port

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def repo_url(self, name):
        return "%s/%s" % (self.url, name)

    def stop(self):
        if self._httpd is not None:
            shut(self._httpd)
            self._thread.join()
            self._httpd = None

    # -- the request log ----------------------------------------------------------------------
    def requests(self, repo=None, service=None, method=None):
        """Logged requests, optionally only those to one repo, git service or HTTP method."""
        with self.lock:
            log = list(self.log)
        return [r for r in log
                if (repo is None or r.repo == repo)
                and (service is None or service in r.path or service in r.query)
                and (method is None or r.method == method)]

    def count(self, repo=None, service=None, method=None):
        return len(self.requests(repo, service, method))

    def clear(self):
        with self.lock:
            self.log.clear()


# -- building repositories with the real git CLI ---------------------------------------------------

def git_env(home=None, when=0):
    """An environment for building fixtures: no user or system config, fixed identity and dates.

    Fixed dates make commit ids reproducible: the same fixture is the same commits every run.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    stamp = "%d +0000" % (1500000000 + when * 60)
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", GIT_TERMINAL_PROMPT="0",
               GIT_AUTHOR_NAME="Kipoi Test", GIT_AUTHOR_EMAIL="test@example.org",
               GIT_COMMITTER_NAME="Kipoi Test", GIT_COMMITTER_EMAIL="test@example.org",
               GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp, LC_ALL="C")
    if home is not None:
        env["HOME"] = str(home)
    return env


def git(cwd, *args, when=0, input=None):
    """Run git in `cwd` for a fixture; return stdout as text (stripped)."""
    out = subprocess.run(["git", *args], cwd=str(cwd), env=git_env(when=when), input=input,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if out.returncode != 0:
        raise RuntimeError("git %s failed: %s" % (" ".join(args), out.stderr.decode(errors="replace")))
    return out.stdout.decode().strip()


def serve_config(bare, allow_filter=True):
    """Configure a bare repo as the servers the tests need: filters and fetching by object id."""
    git(bare, "config", "uploadpack.allowFilter", "true" if allow_filter else "false")
    git(bare, "config", "uploadpack.allowAnySHA1InWant", "true")
    git(bare, "config", "http.receivepack", "true")


def write(root, files):
    """Write files: {path: bytes|str}, a `("link", target)` tuple for a symlink, `("exec", data)`
    for an executable file, or None to delete."""
    for path, content in files.items():
        full = Path(root) / path
        if content is None:
            if full.is_symlink() or full.is_file():
                full.unlink()
            elif full.is_dir():
                shutil.rmtree(full)
            continue
        full.parent.mkdir(parents=True, exist_ok=True)
        if full.is_symlink() or full.exists():
            full.unlink()
        if isinstance(content, tuple) and content[0] == "link":
            os.symlink(content[1], full)
            continue
        executable = isinstance(content, tuple) and content[0] == "exec"
        data = content[1] if executable else content
        full.write_bytes(data.encode() if isinstance(data, str) else data)
        if executable:
            full.chmod(0o755)


@dataclass
class FixtureRepo:
    """A built repository: the bare copy a server exports and what the tests need to know of it."""
    bare: Path                      # the bare repository (what servers serve)
    work: Path                      # the work tree it was built in
    commits: List[str]              # oldest first
    tags: Dict[str, str] = field(default_factory=dict)   # tag name -> commit it points to
    branches: Dict[str, str] = field(default_factory=dict)
    lfs_objects: Dict[str, bytes] = field(default_factory=dict)  # sha256 -> content
    http_url: Optional[str] = None
    name: Optional[str] = None      # its name under the server's root ("models.git")

    @property
    def head(self):
        return self.branches["main"]

    @property
    def file_url(self):
        return self.bare.resolve().as_uri()


MODEL_YAML = """\
defined_as: model.py::Model
args:
  weights: model.weights
  arch: ../model_architecture.py
default_dataloader: ..
info:
  doc: {doc}
"""

# The history: commit 1 the first models, tag v0.1 (annotated), commit 2 adds a model and changes
# weights, commit 3 retires rbp_eclip/UPF1 (as kipoi/models did) and adds an executable script.
HISTORY = [
    ("first models", {
        "README.md": "# test models\n",
        "shared/utils.py": "def helper():\n    return 1\n",
        "rbp_eclip/model_architecture.py": "ARCH = 'cnn'\n",
        "rbp_eclip/dataloader.yaml": "defined_as: dataloader.py::Loader\n",
        "rbp_eclip/dataloader.py": ("link", "template/dataloader.py"),
        "rbp_eclip/template/dataloader.py": "class Loader:\n    pass\n",
        "rbp_eclip/UPF1/model.yaml": MODEL_YAML.format(doc="UPF1 v1"),
        "rbp_eclip/UPF1/model.weights": b"UPF1 weights v1\n",
        "rbp_eclip/UPF1/utils.py": ("link", "../../shared/utils.py"),
        "CpGenie/model-template.yaml": "defined_as: model.py::Model\nargs:\n  weights: {{ model }}.h5\n",
        "CpGenie/models.tsv": "model\tcell\nA549\tlung\nGM12878\tblood\n",
        "CpGenie/model.py": "class Model:\n    pass\n",
        "Basset/model.yaml": "defined_as: model.py::Model\n",
        "Basset/model.py": "class Model:\n    pass\n",
    }),
    ("add XRCC6, new UPF1 weights", {
        "rbp_eclip/XRCC6/model.yaml": MODEL_YAML.format(doc="XRCC6"),
        "rbp_eclip/XRCC6/model.weights": b"XRCC6 weights\n",
        "rbp_eclip/UPF1/model.weights": b"UPF1 weights v2\n",
        "rbp_eclip/UPF1/model.yaml": MODEL_YAML.format(doc="UPF1 v2"),
    }),
    ("retire UPF1, add a runner", {
        "rbp_eclip/UPF1": None,
        "Basset/run.sh": ("exec", "#!/bin/sh\necho run\n"),
    }),
]


def build_kipoi_repo(bare, lfs=False, lfs_url="http://127.0.0.1:9/placeholder/info/lfs",
                     allow_filter=True, history=HISTORY, work=None, push_lfs=False):
    """Build a kipoi-shaped repository with the real git CLI (and `git lfs` when `lfs`).

    Returns a FixtureRepo. With `lfs`, `*.h5` and `*.weights` files are LFS objects: their pointers
    are committed and their bytes are copied into `<bare>/lfs/objects` (where git-lfs keeps them,
    so a `file://` remote has them) and listed in `lfs_objects`; `lfs.url` is a placeholder unless
    given. `push_lfs`: the real `git lfs push --all` also uploads them to the LFS server at `lfs_url`.
    """
    bare = Path(bare)
    if work is None:
        work = bare.parent / (bare.name[:-4] if bare.name.endswith(".git") else bare.name + ".work")
    work = Path(work)
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "core.symlinks", "true")
    if lfs:
        git(work, "config", "lfs.url", lfs_url)
        git(work, "config", "filter.lfs.clean", "git-lfs clean -- %f")
        git(work, "config", "filter.lfs.smudge", "git-lfs smudge -- %f")
        git(work, "config", "filter.lfs.process", "git-lfs filter-process")
        git(work, "config", "filter.lfs.required", "true")
        write(work, {".gitattributes": "*.h5 filter=lfs diff=lfs merge=lfs -text\n"
                                       "*.weights filter=lfs diff=lfs merge=lfs -text\n",
                     ".lfsconfig": "[lfs]\n\turl = %s\n" % lfs_url})
    commits, tags = [], {}
    for when, (message, files) in enumerate(history, start=1):
        write(work, files)
        git(work, "add", "-A", when=when)
        git(work, "commit", "-q", "-m", message, when=when)
        commits.append(git(work, "rev-parse", "HEAD"))
        if when == 1:
            git(work, "tag", "-a", "v0.1", "-m", "first release", when=when)
            tags["v0.1"] = commits[-1]
        if when == 2:
            git(work, "tag", "v0.2")  # lightweight
            tags["v0.2"] = commits[-1]
    git(work, "branch", "old", commits[0])
    if bare.exists():
        shutil.rmtree(bare)
    git(work.parent, "clone", "-q", "--bare", str(work), str(bare))
    git(bare, "remote", "remove", "origin")
    serve_config(bare, allow_filter=allow_filter)
    lfs_objects = {}
    if lfs:
        src = work / ".git" / "lfs" / "objects"
        if src.is_dir():
            shutil.copytree(src, bare / "lfs" / "objects")
            for f in src.rglob("*"):
                if f.is_file():
                    lfs_objects[f.name] = f.read_bytes()
    if push_lfs:
        git(work, "lfs", "push", "--all", str(bare))
    return FixtureRepo(bare=bare, work=work, commits=commits, tags=tags,
                       branches={"main": commits[-1], "old": commits[0]}, lfs_objects=lfs_objects)


def add_commit(repo, files, message="more", when=10):
    """Commit `files` on main in the fixture's work tree and push it to its bare repo."""
    write(repo.work, files)
    git(repo.work, "add", "-A", when=when)
    git(repo.work, "commit", "-q", "-m", message, when=when)
    commit = git(repo.work, "rev-parse", "HEAD")
    git(repo.work, "push", "-q", str(repo.bare), "main:main")
    repo.commits.append(commit)
    repo.branches["main"] = commit
    return commit


def count_objects(git_dir, kind=None):
    """How many objects a repository holds locally (optionally of one type: 'blob', 'tree'...)."""
    out = subprocess.run(["git", "--git-dir=%s" % git_dir, "-c", "remote.origin.promisor=false",
                          "cat-file", "--batch-check=%(objecttype)", "--batch-all-objects"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=git_env(), check=True)
    types = out.stdout.decode().split()
    return len(types) if kind is None else types.count(kind)


def missing_objects(git_dir, commit):
    """Object ids reachable from `commit` that the repository does not have (partial clone)."""
    out = subprocess.run(["git", "--git-dir=%s" % git_dir, "-c", "remote.origin.promisor=false",
                          "rev-list", "--objects", "--missing=print", "--no-object-names", commit],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=git_env(), check=True)
    return {oid[1:] for oid in out.stdout.decode().split() if oid.startswith("?")}
