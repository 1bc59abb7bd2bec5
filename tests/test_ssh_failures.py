"""ssh remotes that fail: every wait bounded, every error one clear line with ssh's own reason, no
prompt, and nothing we started left running.

Real parts: OpenSSH's sshd and client (tests/fixtures_ssh.py): a closed port, a listener that never
sends the ssh banner, a server whose command never answers after authentication, a host key that
is not known, a key with a passphrase under a pseudo-terminal. `run_traced` lists any process our
command started that outlived it. Wall times are only hang guards, never speed assertions.
"""

import json
import os
import signal
from pathlib import Path

import pytest

from .conftest import BIN, run_kipoi

CONNECT, READ = 2, 4  # KIPOI_CONNECT_TIMEOUT, KIPOI_READ_TIMEOUT for every test here
HANG_GUARD = 60  # a command still running after this long is hung: the failure these tests catch


def _env(kipoi_env, ssh_server, how="GIT_SSH_COMMAND"):
    env = ssh_server.env(kipoi_env, how)
    env.update(KIPOI_CONNECT_TIMEOUT=str(CONNECT), KIPOI_READ_TIMEOUT=str(READ),
               NO_PROXY="127.0.0.1")
    return env


def _add(env, name, kind, url, *options):
    added = run_kipoi("kipoi", "source", "add", name, kind, url, *options, env=env)
    assert added.returncode == 0, added.stderr


def _resolve(run_traced, env, *specs, **kw):
    return run_traced([str(BIN / "kipoi"), "source", "resolve", *specs], env,
                      hang_guard=HANG_GUARD, **kw)


def _one_error(done):
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kipoi: error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize("alias, reason", [
    ("gitbox-closed", "Connection refused"),
    ("gitbox-silent", "Connection timed out during banner exchange"),
])
def test_a_host_that_does_not_answer_ends_within_the_connect_timeout(
        kipoi_env, ssh_server, run_traced, alias, reason):
    env = _env(kipoi_env, ssh_server)
    url = "%s:%s" % (alias, ssh_server.models.bare)
    _add(env, "lab", "git", url)
    done = _resolve(run_traced, env, "lab:Basset")
    assert done.returncode == 1
    line = _one_error(done)
    assert "lab:Basset" in line and "source 'lab'" in line and url in line and reason in line
    assert done.leftovers == []


def test_a_server_that_never_answers_after_authentication_is_ended_by_the_read_timeout(
        kipoi_env, ssh_server, run_traced):
    env = _env(kipoi_env, ssh_server)
    url = "ssh://gitbox-hang%s" % ssh_server.models.bare
    _add(env, "lab", "git", url)
    done = _resolve(run_traced, env, "lab:Basset")
    assert done.returncode == 1
    line = _one_error(done)
    assert "source 'lab'" in line and url in line
    assert "no answer within %d s (the connect and read timeouts" % (CONNECT + READ) in line
    assert done.leftovers == []


def test_git_lfs_authenticate_that_never_answers_leaves_no_ssh_behind(
        kipoi_env, ssh_server, run_traced):
    # git itself reaches the server; its LFS endpoint is an ssh host whose command hangs.
    env = _env(kipoi_env, ssh_server)
    _add(env, "lab", "git-lfs", "gitbox:%s" % ssh_server.lfs.bare,
         "--lfs-url", "gitbox-hang:%s" % ssh_server.lfs.bare)
    done = _resolve(run_traced, env, "lab:rbp_eclip/XRCC6")
    assert done.returncode == 1
    line = _one_error(done)
    assert "model.weights" in line or "rbp_eclip/XRCC6" in line
    assert ("git-lfs-authenticate over ssh to gitbox-hang failed first: no answer within %d s"
            % (CONNECT + READ)) in line
    assert done.leftovers == []


def test_an_unknown_host_key_is_an_error_that_says_what_to_do(kipoi_env, ssh_server, run_traced):
    env = _env(kipoi_env, ssh_server)
    _add(env, "lab", "git", "gitbox-unknown:%s" % ssh_server.models.bare)
    done = _resolve(run_traced, env, "lab:Basset")
    assert done.returncode == 1
    line = _one_error(done)
    assert "Host key verification failed" in line and "run `ssh gitbox-unknown` once" in line
    assert done.leftovers == []


def test_a_key_with_a_passphrase_never_prompts_on_a_terminal(kipoi_env, ssh_server, run_traced):
    env = _env(kipoi_env, ssh_server)
    _add(env, "lab", "git", "gitbox-locked:%s" % ssh_server.models.bare)
    done = _resolve(run_traced, env, "lab:Basset", pty=True)  # stdin, stdout and stderr a tty
    assert done.returncode == 1, done.stdout
    assert "passphrase for key" not in done.stdout  # never asked
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kipoi: error: "), done.stdout
    assert "Permission denied" in lines[0] and "ssh-add" in lines[0]
    assert done.leftovers == []


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130),
                                       (signal.SIGHUP, 129)])
def test_a_signal_during_a_hung_fetch_ends_everything_we_started(
        kipoi_env, ssh_server, run_traced, sig, code):
    env = _env(kipoi_env, ssh_server)
    env["KIPOI_READ_TIMEOUT"] = "600"  # only the signal ends this one
    _add(env, "lab", "git", "gitbox-hang:%s" % ssh_server.models.bare)
    done = _resolve(run_traced, env, "lab:Basset", signal_after=(2.0, sig))
    assert done.returncode == code, done.stderr
    assert done.leftovers == []


def test_twenty_specs_against_a_silent_host_ask_it_once(kipoi_env, ssh_server, run_traced):
    # Two sources on one silent host, ten specs each, in one --stdin batch.
    env = _env(kipoi_env, ssh_server)
    _add(env, "one", "git", "gitbox-silent:%s" % ssh_server.models.bare)
    _add(env, "two", "git-lfs", "ssh://gitbox-silent%s" % ssh_server.lfs.bare)
    specs = ["%s:model%d" % (source, i) for source in ("one", "two") for i in range(10)]
    before = ssh_server.silent.connections
    done = run_traced([str(BIN / "kipoi"), "source", "resolve", "--stdin", "--json"], env,
                      input="".join(s + "\n" for s in specs), hang_guard=HANG_GUARD)
    assert done.returncode == 1
    assert ssh_server.silent.connections - before == 1  # the host was not tried again
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["spec"] for r in rows] == specs and all(r["exit"] == 1 for r in rows)
    errors = done.stderr.splitlines()
    assert len(errors) == len(specs)
    assert all(line.startswith("kipoi: error: %s: " % spec) for line, spec in zip(errors, specs, strict=True))
    assert all("banner exchange" in r["error"] for r in rows)
    assert done.leftovers == []
    print("\n20 specs, silent ssh host: %.2f s (connect timeout %d s, read timeout %d s)"
          % (done.seconds, CONNECT, READ))


def test_source_fetch_fails_and_says_which_remote_could_not_be_asked(
        kipoi_env, ssh_server, run_traced, tmp_path):
    env = _env(kipoi_env, ssh_server)
    _add(env, "good", "git", "gitbox:%s" % ssh_server.models.bare)
    _add(env, "lab", "git", "gitbox:%s" % ssh_server.lfs.bare)
    first = run_kipoi("kipoi", "source", "fetch", "--json", "good", "lab", env=env)
    assert first.returncode == 0, first.stderr
    commits = {row["source"]: row["commit"] for row in map(json.loads, first.stdout.splitlines())}
    # Now `gitbox` is a closed port for this user (their own ssh config): "lab" has only its cache.
    moved = tmp_path / "ssh_config"
    moved.write_text(ssh_server.config.read_text().replace(
        "Host gitbox\n  Port %d\n" % ssh_server.port, "Host gitbox\n  Port %d\n" % ssh_server.closed_port))
    env["GIT_SSH_COMMAND"] = "ssh -F %s" % moved
    done = run_traced([str(BIN / "kipoi"), "source", "fetch", "--json", "good", "lab"], env,
                      hang_guard=HANG_GUARD)
    assert done.returncode == 1
    rows = {row["source"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert set(rows) == {"good", "lab"}
    for name in ("good", "lab"):
        assert rows[name]["exit"] == 1 and rows[name]["commit"] == commits[name]
        assert "Connection refused" in rows[name]["error"]
    assert "source 'lab'" in rows["lab"]["error"]
    assert done.leftovers == []


def test_credentials_in_urls_are_never_printed(kipoi_env):
    env = dict(kipoi_env)
    secrets = {"ssh": "ssh://user:s3cret@gitbox/srv/models.git",
               "web": "https://user:TOKEN123@git.example.org/lab/models.git"}
    outputs = []
    for name, url in secrets.items():
        added = run_kipoi("kipoi", "source", "add", name, "git", url, env=env)
        assert added.returncode == 0, added.stderr
        outputs.append(added.stderr)
    for args in (["list", "-v"], ["list", "--json"], ["show", "ssh"], ["show", "web", "--json"]):
        shown = run_kipoi("kipoi", "source", *args, env=env)
        assert shown.returncode == 0, shown.stderr
        outputs.append(shown.stdout + shown.stderr)
    text = "\n".join(outputs)
    assert "s3cret" not in text and "TOKEN123" not in text
    assert "ssh://user:***@gitbox" in text and "https://***@git.example.org" in text
    config = Path(env["KIPOI_HOME"]) / "config.yaml"
    assert "s3cret" in config.read_text()  # kept where the user put it: only never shown


def test_a_model_in_the_store_whose_ref_is_due_is_served_after_a_bounded_wait(
        kipoi_env, ssh_server, run_traced, tmp_path):
    env = _env(kipoi_env, ssh_server)
    _add(env, "lab", "git", "gitbox:%s" % ssh_server.models.bare)
    first = run_kipoi("kipoi", "source", "resolve", "lab:Basset", env=env)
    assert first.returncode == 0, first.stderr
    # The same alias now authenticates with the key whose command never answers.
    hung = tmp_path / "ssh_config"
    hung.write_text(ssh_server.config.read_text().replace(
        "Host gitbox\n  Port %d\n  IdentityFile %s/id_ok\n" % (ssh_server.port, ssh_server.root),
        "Host gitbox\n  Port %d\n  IdentityFile %s/id_hang\n" % (ssh_server.port, ssh_server.root)))
    assert hung.read_text() != ssh_server.config.read_text()
    env["GIT_SSH_COMMAND"] = "ssh -F %s" % hung
    done = _resolve(run_traced, env, "--refresh", "lab:Basset")
    assert done.returncode == 0, done.stderr
    assert done.stdout == first.stdout  # the model as it was
    assert "no answer within %d s" % (CONNECT + READ) in done.stderr
    assert "using the cached commit" in done.stderr
    assert done.leftovers == []


def test_git_dies_with_us_even_on_sigkill(kipoi_env, ssh_server, run_traced):
    # No handler sees SIGKILL: the kernel's parent-death signal ends git. Its ssh then sees its
    # input end (a real upload-pack exits on that; this server's command never does) or gives up
    # by its own connect timeout: it is ssh's to end, and it is ended here by the test.
    env = _env(kipoi_env, ssh_server)
    env["KIPOI_READ_TIMEOUT"] = "600"
    _add(env, "lab", "git", "gitbox-hang:%s" % ssh_server.models.bare)
    done = _resolve(run_traced, env, "lab:Basset", signal_after=(2.0, signal.SIGKILL))
    for line in done.leftovers:
        os.kill(int(line.split()[0]), signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    assert not [line for line in done.leftovers if line.split()[1] == "git"], done.leftovers
