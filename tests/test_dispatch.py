"""The front command `kipoi`: matching words to programs, and the real executable as a user runs it."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kipoi_store import __version__
from kipoi_store.cli.dispatch import (
    builtin_module,
    candidates,
    command_words,
    find_program,
    list_commands,
    search_dirs,
)
from kipoi_store.cli.listing import suggestions, summary_from_head

BIN = Path(sys.executable).parent
KIPOI = BIN / "kipoi"


def make_program(directory, name, body="", executable=True, shebang="#!/bin/sh"):
    path = Path(directory) / name
    path.write_text("%s\n%s\n" % (shebang, body))
    path.chmod(0o755 if executable else 0o644)
    return path


def run_kipoi(*args, path_dirs=(), env=None, **kwargs):
    """The real `kipoi`, with PATH = the given dirs plus the system's (for /bin/sh and friends)."""
    full_env = {"PATH": os.pathsep.join([str(d) for d in path_dirs] + ["/usr/bin", "/bin"]),
                "HOME": kwargs.pop("home", "/nonexistent")}
    full_env.update(env or {})
    return subprocess.run([str(KIPOI), *args], env=full_env, capture_output=True, text=True,
                          timeout=60, **kwargs)


# -- matching -------------------------------------------------------------------------------------

def test_candidates_are_longest_first_and_stop_at_the_first_non_word():
    assert candidates(["source", "add", "lab", "/data/x"]) == [
        "kipoi-source-add-lab", "kipoi-source-add", "kipoi-source"]
    assert candidates(["source", "--help", "add"]) == ["kipoi-source"]
    assert candidates(["source", "set-url", "lab"]) == [
        "kipoi-source-set-url-lab", "kipoi-source-set-url", "kipoi-source"]


@pytest.mark.parametrize("word", ["../x", "..", ".", "a/b", "", "-x", "x-", "a--b", "Source",
                                  "_x", "a\0b", "a.b", "é", "a b", "kipoi:rbp_eclip/UPF1"])
def test_a_word_that_is_not_a_command_word_runs_nothing(word):
    assert command_words([word, "list"]) == []
    assert candidates([word]) == []


@settings(max_examples=300)
@given(st.lists(st.one_of(st.text(max_size=12),
                          st.text(alphabet="ab-_./\0:9", max_size=6),
                          st.sampled_from(["..", ".", "/", "-", "--", "source", "a-b"])),
                max_size=12))
def test_matching_never_yields_a_path_for_any_argv(argv):
    names = candidates(argv)
    for name in names:
        assert name.startswith("kipoi-")
        assert "/" not in name and "\0" not in name and ".." not in name
        assert os.path.basename(name) == name and len(name.encode()) <= 255
    # Longest first, each a prefix of the one before, built from whole leading words.
    assert [len(n) for n in names] == sorted((len(n) for n in names), reverse=True)
    words = command_words(argv)
    assert words == argv[:len(words)]
    assert len(names) <= len(words)


@settings(max_examples=40, deadline=None)
@given(words=st.lists(st.sampled_from(["a", "b", "c-d", "x1"]), min_size=1, max_size=4),
       present=st.sets(st.integers(1, 4)),
       in_second_dir=st.sets(st.integers(1, 4)))
def test_the_longest_existing_program_wins(words, present, in_second_dir):
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        for n in present | in_second_dir:
            if n <= len(words):
                make_program(two if n in in_second_dir else one, "kipoi-" + "-".join(words[:n]))
        path, used = find_program(words + ["--flag"], [one, two])
        existing = [n for n in present | in_second_dir if n <= len(words)]
        if not existing:
            assert (path, used) == (None, 0)
        else:
            used_expected = max(existing)
            assert used == used_expected
            assert os.path.basename(path) == "kipoi-" + "-".join(words[:used_expected])


def test_find_program_takes_the_first_executable_file_and_skips_directories(tmp_path):
    first, second, third = (tmp_path / d for d in ("first", "second", "third"))
    for d in (first, second, third):
        d.mkdir()
    (first / "kipoi-x").mkdir()
    make_program(second, "kipoi-x", executable=False)
    make_program(third, "kipoi-x")
    assert find_program(["x"], [str(first), str(second), str(third)]) == (str(third / "kipoi-x"), 1)
    # Only a non-executable file: still found (running it then fails with 126, as in a shell).
    assert find_program(["x"], [str(first), str(second)]) == (str(second / "kipoi-x"), 1)
    assert find_program(["x"], [str(first)]) == (None, 0)


def test_search_order_exec_path_then_env_then_own_dir_then_absolute_path_entries(tmp_path):
    argv0 = str(tmp_path / "own" / "kipoi")
    env = {"KIPOI_EXEC_PATH": "/e1" + os.pathsep + "rel" + os.pathsep + "/e2",
           "PATH": os.pathsep.join(["/p1", "", ".", "bin", "/p2", "/p1"])}
    own = str(tmp_path / "own")
    assert search_dirs([], env, argv0) == ["/e1", "/e2", own, "/p1", "/p2"]
    assert search_dirs(["/opt/x"], env, argv0) == ["/opt/x", own, "/p1", "/p2"]


def test_the_real_directory_of_a_symlinked_kipoi_is_searched_too(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    (tmp_path / "real" / "kipoi").write_text("")
    os.symlink(tmp_path / "real" / "kipoi", tmp_path / "links" / "kipoi")
    dirs = search_dirs([], {"PATH": ""}, str(tmp_path / "links" / "kipoi"))
    assert dirs == [str(tmp_path / "links"), str(tmp_path / "real")]


def test_list_commands_first_directory_wins_and_ignores_non_commands(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    make_program(one, "kipoi-source-add")
    make_program(two, "kipoi-source-add")
    make_program(two, "kipoi-store-gc")
    make_program(two, "kipoi-store-gc~")
    make_program(two, "kipoi-store-gc.py")
    make_program(two, "kipoi-notes", executable=False)
    (two / "kipoi-dir").mkdir()
    assert list_commands([str(one), str(two)]) == {
        "source-add": str(one / "kipoi-source-add"), "store-gc": str(two / "kipoi-store-gc")}


def test_suggestions_compare_whole_command_words():
    commands = {"source-add": "", "source-set-url": "", "store-gc": ""}
    assert suggestions(commands, [], "sorce") == ["source", "store"]
    assert suggestions(commands, [], "source-ad")[0] == "source add"
    assert suggestions(commands, ["source"], "set-ur") == ["source set-url"]
    assert suggestions(commands, [], "zzzzzz") == []


def test_summary_comes_from_a_comment_in_the_first_kib():
    assert summary_from_head(b"#!/usr/bin/env python3\n# kipoi-summary: Add a source\n") == \
        "Add a source"
    assert summary_from_head(b"#!/bin/sh\n#kipoi-summary:  tabs\tand\x1bescapes \n") == \
        "tabs and escapes"
    assert summary_from_head(b"#!/bin/sh\n" + b"#" * 1100 + b"\n# kipoi-summary: late\n") is None
    assert summary_from_head(b"echo '# kipoi-summary: not a comment'\n") is None


# -- the real executable --------------------------------------------------------------------------

ECHO = 'echo "args:$*"; echo "stdin:$(cat)"; echo "to stderr" >&2; exit 7'


def test_a_third_party_program_on_path_becomes_a_command(tmp_path):
    make_program(tmp_path, "kipoi-source-foo", ECHO)
    r = run_kipoi("source", "foo", "--x", "a b", "kipoi:m/1", path_dirs=[tmp_path], input="hello")
    assert r.returncode == 7
    assert r.stdout == "args:--x a b kipoi:m/1\nstdin:hello\n"
    assert r.stderr == "to stderr\n"


def test_arguments_after_the_matched_words_pass_through_unchanged(tmp_path):
    make_program(tmp_path, "kipoi-zzq", 'for a in "$@"; do printf "[%s]" "$a"; done')
    r = run_kipoi("zzq", "", "--", "-h", "x y", path_dirs=[tmp_path])
    assert (r.returncode, r.stdout) == (0, "[][--][-h][x y]")


def test_the_process_is_replaced_so_a_signal_death_passes_through(tmp_path):
    make_program(tmp_path, "kipoi-zzq-die", "kill -TERM $$")
    r = run_kipoi("zzq", "die", path_dirs=[tmp_path])
    assert r.returncode == -signal.SIGTERM


def test_a_candidate_that_is_not_executable_exits_126(tmp_path):
    make_program(tmp_path, "kipoi-zzq-foo", "echo ran", executable=False)
    make_program(tmp_path, "kipoi-zzq", "echo shorter ran")
    r = run_kipoi("zzq", "foo", path_dirs=[tmp_path])
    assert r.returncode == 126
    assert r.stdout == ""
    assert "cannot run '%s'" % (tmp_path / "kipoi-zzq-foo") in r.stderr
    assert "not executable" in r.stderr


def test_a_missing_interpreter_exits_127(tmp_path):
    make_program(tmp_path, "kipoi-zzq", "", shebang="#!/nonexistent/interpreter")
    r = run_kipoi("zzq", path_dirs=[tmp_path])
    assert r.returncode == 127
    assert "kipoi: error: cannot run" in r.stderr and "interpreter" in r.stderr


def test_exec_path_option_beats_env_which_beats_path(tmp_path):
    dirs = {}
    for name in ("opt", "env", "path"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
        make_program(dirs[name], "kipoi-zzq", "echo %s" % name)
    env = {"KIPOI_EXEC_PATH": str(dirs["env"])}
    assert run_kipoi("zzq", path_dirs=[dirs["path"]]).stdout == "path\n"
    assert run_kipoi("zzq", path_dirs=[dirs["path"]], env=env).stdout == "env\n"
    for option in (["--exec-path", str(dirs["opt"])], ["--exec-path=%s" % dirs["opt"]]):
        r = run_kipoi(*option, "zzq", path_dirs=[dirs["path"]], env=env)
        assert r.stdout == "opt\n"


def test_exec_path_env_may_hold_several_directories(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    make_program(two, "kipoi-zzq-b", "echo two-b")
    make_program(one, "kipoi-zzq", "echo one")
    r = run_kipoi("zzq", "b", env={"KIPOI_EXEC_PATH": "%s%s%s" % (one, os.pathsep, two)})
    assert r.stdout == "two-b\n"


def test_the_exec_path_reaches_nested_kipoi_calls(tmp_path):
    make_program(tmp_path, "kipoi-zzq-outer", '"%s" zzq inner' % KIPOI)
    make_program(tmp_path, "kipoi-zzq-inner", "echo inner")
    r = run_kipoi("--exec-path", str(tmp_path), "zzq", "outer")
    assert (r.returncode, r.stdout) == (0, "inner\n")


def test_programs_in_the_current_directory_never_run(tmp_path):
    marker = tmp_path / "ran"
    make_program(tmp_path, "kipoi-zzq", "touch %s" % marker)
    r = run_kipoi("zzq", env={"PATH": ".:/usr/bin:/bin:", "KIPOI_EXEC_PATH": "."}, cwd=tmp_path)
    assert r.returncode == 1
    assert "'zzq' is not a kipoi command" in r.stderr
    assert not marker.exists()


def test_a_path_like_word_runs_nothing(tmp_path):
    # A naive join would run DIR/kipoi-../x.
    (tmp_path / "kipoi-..").mkdir()
    marker = tmp_path / "ran"
    make_program(tmp_path / "kipoi-..", "x", "touch %s" % marker)
    r = run_kipoi("../x", path_dirs=[tmp_path])
    assert r.returncode == 1
    assert r.stderr.startswith("kipoi: '../x' is not a kipoi command. See 'kipoi --help'.")
    assert not marker.exists()


def test_an_unknown_command_suggests_the_closest(tmp_path):
    make_program(tmp_path, "kipoi-source-foo")
    r = run_kipoi("sorce", "foo", path_dirs=[tmp_path])
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("kipoi: 'sorce' is not a kipoi command. See 'kipoi --help'.\n")
    assert "The most similar commands are\n\tsource\n" in r.stderr
    # A first word that is not ours would have gone to kipoi itself, were it installed (here it is not).
    assert r.stderr.endswith("when the kipoi package is installed (it is not here: "
                             "pip install kipoi==0.8.6 six).\n")
    r = run_kipoi("source", "fo", path_dirs=[tmp_path])
    assert r.returncode == 1
    assert "'source fo' is not a kipoi command. See 'kipoi source --help'." in r.stderr
    assert "kipoi's own command line" not in r.stderr
    assert "\tsource foo\n" in r.stderr


def test_help_lists_every_command_with_its_summary(tmp_path):
    make_program(tmp_path, "kipoi-zzq-commented", "# kipoi-summary: Found in a comment")
    make_program(tmp_path, "kipoi-zzq-asked",
                 '[ "$1" = --summary ] && { echo "Answered when asked"; echo more; }')
    make_program(tmp_path, "kipoi-zzq-silent", "exit 3")
    make_program(tmp_path, "kipoi-zzr", "# kipoi-summary: Another group")
    for args in ([], ["--help"], ["-h"], ["help"]):
        r = run_kipoi(*args, path_dirs=[tmp_path])
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("usage: kipoi")
        lines = r.stdout.splitlines()
        assert [ln.split() for ln in lines if "zzq" in ln] == [
            ["zzq", "asked", "Answered", "when", "asked"],
            ["zzq", "commented", "Found", "in", "a", "comment"],
            ["zzq", "silent"]]
        # Grouped: a blank line between the zzq group and the next one.
        zzr = next(i for i, ln in enumerate(lines) if ln.split()[:1] == ["zzr"])
        assert lines[zzr - 1] == "" and "zzq silent" in lines[zzr - 2]
        # ... and it says where the other words go.
        assert "goes to kipoi's own command line\n(kipoi predict" in r.stdout


def test_a_program_that_hangs_on_summary_does_not_hang_the_listing(tmp_path):
    make_program(tmp_path, "kipoi-zzq-slow", "sleep 30")
    r = run_kipoi("--exec-path", str(tmp_path), "zzq", path_dirs=[tmp_path])
    assert r.returncode == 0
    assert "   zzq slow\n" in r.stdout


def test_a_group_lists_its_commands(tmp_path):
    make_program(tmp_path, "kipoi-zzq-b", "# kipoi-summary: B")
    make_program(tmp_path, "kipoi-zzq-a", "# kipoi-summary: A")
    make_program(tmp_path, "kipoi-zzr-c")
    for args in (["zzq"], ["zzq", "--help"], ["help", "zzq"]):
        r = run_kipoi(*args, path_dirs=[tmp_path])
        assert r.returncode == 0
        assert [ln.split() for ln in r.stdout.splitlines() if ln.startswith("   ")] == [
            ["zzq", "a", "A"], ["zzq", "b", "B"]]
    r = run_kipoi("zzq", "--bogus", path_dirs=[tmp_path])
    assert r.returncode == 1 and "'zzq' needs a command" in r.stderr


def test_kipoi_source_lists_the_installed_source_commands():
    installed = sorted(p.name[len("kipoi-source-"):] for p in BIN.glob("kipoi-source-*")
                       if os.access(p, os.X_OK))
    r = run_kipoi("source")
    assert r.returncode == 0
    listed = [ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("   source ")]
    assert listed == installed


def test_help_for_one_command_runs_it_with_help(tmp_path):
    make_program(tmp_path, "kipoi-zzq-foo", 'echo "help for: $*"')
    r = run_kipoi("help", "zzq", "foo", path_dirs=[tmp_path])
    assert (r.returncode, r.stdout) == (0, "help for: --help\n")
    r = run_kipoi("help", "zzq", "foo", "extra", path_dirs=[tmp_path])
    assert r.returncode == 1 and "'zzq foo extra' is not a kipoi command" in r.stderr


def test_version_and_exec_path():
    r = run_kipoi("--version")
    assert (r.returncode, r.stdout) == (0, "kipoi_store %s\n" % __version__)
    r = run_kipoi("--exec-path")
    assert (r.returncode, r.stdout) == (0, "%s\n" % BIN)


def test_an_unknown_option_of_kipoi_itself_is_a_usage_error():
    r = run_kipoi("--frobnicate", "source")
    assert r.returncode == 2
    assert r.stderr == "kipoi: error: unknown option '--frobnicate' (see 'kipoi --help')\n"


# -- our own commands run in the front command's process -----------------------------------------

LAUNCHER = ("#!{python}\n# kipoi-summary: {summary}\nfrom kipoi_store.cli.boundary import run\n"
            "from kipoi_store.cli.commands.{module} import main\nrun(main)\n")


def launcher(directory, name, python=sys.executable, module="source_list", summary="List sources",
             extra=""):
    path = Path(directory) / name
    path.write_text(LAUNCHER.format(python=python, module=module, summary=summary) + extra)
    path.chmod(0o755)
    return str(path)


def test_our_launchers_run_in_process_and_nothing_else_does(tmp_path):
    ours = launcher(tmp_path, "kipoi-source-list")
    assert builtin_module(ours) == "kipoi_store.cli.commands.source_list"
    # The installed launchers are of that form, for the interpreter they name.
    installed = BIN / "kipoi-source-resolve"
    python = installed.read_text().splitlines()[0][2:]
    assert builtin_module(str(installed), python) == "kipoi_store.cli.commands.source_resolve"
    # For another interpreter, edited, with another body, or a third party's: exec'd as they are.
    assert builtin_module(launcher(tmp_path, "a", python="/usr/bin/python3.9")) is None
    assert builtin_module(launcher(tmp_path, "b", extra="print('more')\n")) is None
    assert builtin_module(launcher(tmp_path, "c", module="os; import sys")) is None
    assert builtin_module(str(make_program(tmp_path, "kipoi-zzq", ECHO))) is None
    assert builtin_module(str(tmp_path / "missing")) is None


def test_a_launcher_for_another_python_is_still_execd(tmp_path):
    # Same launcher, a shebang naming a wrapper around this Python: it must really run (exec).
    wrapper = make_program(tmp_path, "py", 'echo "wrapped" >&2; exec %s "$@"' % sys.executable)
    launcher(tmp_path, "kipoi-zzq-list", python=str(wrapper))
    r = run_kipoi("zzq", "list", "--help", path_dirs=[tmp_path])
    assert r.returncode == 0 and r.stderr == "wrapped\n" and r.stdout.startswith("usage: kipoi source list")


def test_our_command_in_process_keeps_exit_codes_and_errors(tmp_path):
    r = run_kipoi("source", "resolve", "nosuch:Model", home=str(tmp_path))
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith("kipoi: error: ") and "nosuch" in r.stderr and "Traceback" not in r.stderr
    r = run_kipoi("source", "resolve", home=str(tmp_path))
    assert r.returncode == 2 and "no spec given" in r.stderr
