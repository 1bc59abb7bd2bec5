"""Which ssh we run for a remote: the one git would (GIT_SSH_COMMAND, core.sshCommand, GIT_SSH, in
git's order), with a connect timeout and batch mode added only where the user set neither.

Real parts: the real `ssh -G` reads the user's ssh config; the real `git config` reads
core.sshCommand. No connection is made here.
"""

import pytest

from kipoi_store.git import ssh
from kipoi_store.net import limits


@pytest.fixture
def user(tmp_path, monkeypatch):
    """A user with their own HOME and global git config, and none of git's ssh variables set."""
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv(limits.ENV_CONNECT, "7")
    for name in ("GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT"):
        monkeypatch.delenv(name, raising=False)
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text("Host patient\n  ConnectTimeout 60\n  BatchMode yes\nHost *\n  Port 22\n")

    class User:
        config = ssh_config
        home = tmp_path

        @staticmethod
        def git_config(text):
            gitconfig.write_text(text)

    return User


def test_plain_ssh_gets_a_connect_timeout_and_batch_mode(user):
    command = ssh.command_for(ssh.Host("example.org"))
    assert command.shell == "ssh" and command.variant == "ssh"
    assert command.added == ("-o", "ConnectTimeout=7", "-o", "BatchMode=yes")


def test_what_the_users_ssh_config_sets_for_the_host_wins(user, monkeypatch):
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -F %s" % user.config)
    assert ssh.command_for(ssh.Host("patient")).added == ()
    assert ssh.command_for(ssh.Host("other")).added == ("-o", "ConnectTimeout=7", "-o",
                                                        "BatchMode=yes")


def test_what_the_users_command_line_sets_wins(user, monkeypatch):
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -o ConnectTimeout=30 -oBatchMode=no")
    command = ssh.command_for(ssh.Host("example.org"))
    assert command.added == ()
    assert command.full == "ssh -o ConnectTimeout=30 -oBatchMode=no"


def test_gits_order_GIT_SSH_COMMAND_then_core_sshCommand_then_GIT_SSH(user, monkeypatch):
    monkeypatch.setenv("GIT_SSH", "/usr/bin/ssh")
    assert ssh.command_for(ssh.Host("h")).shell == "/usr/bin/ssh"
    user.git_config('[core]\n\tsshCommand = "ssh -F %s"\n' % user.config)
    assert ssh.command_for(ssh.Host("h")).shell == "ssh -F %s" % user.config
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -4")
    assert ssh.command_for(ssh.Host("h")).shell == "ssh -4"


def test_other_variants_get_nothing_added_and_their_own_port_option(user, monkeypatch, tmp_path):
    plink = tmp_path / "plink"
    plink.write_text("#!/bin/sh\nexit 1\n")
    plink.chmod(0o755)
    monkeypatch.setenv("GIT_SSH", str(plink))
    command = ssh.command_for(ssh.Host("h", "git", 2222))
    assert command.variant == "plink" and command.added == ()
    assert command.argv(ssh.Host("h", "git", 2222), "cmd")[-4:] == ["-P", "2222", "git@h", "cmd"]
    monkeypatch.setenv("GIT_SSH_VARIANT", "simple")
    assert ssh.command_for(ssh.Host("h")).argv(ssh.Host("h", None, 2222), "cmd")[-2:] == ["h", "cmd"]


def test_the_environment_makes_git_run_the_same_ssh(user):
    command = ssh.command_for(ssh.Host("example.org", None, 2222))
    assert command.environment() == {
        "GIT_SSH_COMMAND": "ssh -o ConnectTimeout=7 -o BatchMode=yes", "GIT_SSH_VARIANT": "ssh"}
    assert command.argv(ssh.Host("example.org", "git", 2222), "git-lfs-authenticate /r.git download") == [
        "sh", "-c", 'ssh -o ConnectTimeout=7 -o BatchMode=yes "$@"', "git-ssh",
        "-p", "2222", "git@example.org", "git-lfs-authenticate /r.git download"]


@pytest.mark.parametrize("url, host, path", [
    ("gitbox:srv/models.git", ssh.Host("gitbox"), "srv/models.git"),
    ("git@github.com:kipoi/models.git", ssh.Host("github.com", "git"), "kipoi/models.git"),
    ("ssh://git@host:2222/abs/repo.git", ssh.Host("host", "git", 2222), "/abs/repo.git"),
    ("ssh://gitbox/~user/repo", ssh.Host("gitbox"), "/~user/repo"),
])
def test_ssh_remotes_are_recognised(url, host, path):
    assert ssh.remote(url) == (host, path)


@pytest.mark.parametrize("url", ["https://host/r.git", "/srv/r.git", "file:///srv/r.git", "./a:b"])
def test_other_remotes_are_not_ssh(url):
    assert ssh.remote(url) is None


@pytest.mark.parametrize("stderr, reason, silent", [
    ("ssh: connect to host 127.0.0.1 port 9: Connection refused\r\n"
     "fatal: Could not read from remote repository.\n\nPlease make sure you have the correct "
     "access rights\nand the repository exists.\n",
     "ssh: connect to host 127.0.0.1 port 9: Connection refused", True),
    ("Connection timed out during banner exchange\r\nConnection to 127.0.0.1 port 5 timed out\r\n",
     "Connection to 127.0.0.1 port 5 timed out", True),
    ("Host key verification failed.\r\n", "Host key verification failed.", False),
])
def test_ssh_reason_is_its_last_meaningful_line(stderr, reason, silent):
    assert ssh.reason(stderr) == reason
    assert ssh.no_answer(reason) is silent
