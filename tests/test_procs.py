"""procs.meanwhile: work the main thread does while a watched child process (a transfer) runs."""

import sys

from kipoi_store import procs


def _sleeper(seconds):
    return [sys.executable, "-c", "import time; time.sleep(%s)" % seconds]


def test_work_asked_for_runs_once_during_the_next_watched_run():
    done = []

    def work():
        done.append("ran")

    procs.meanwhile(work)
    procs.meanwhile(work)  # asked twice, done once
    procs.run(_sleeper(0), deadline=30)  # no watchdog: a local command is not waited on for long
    assert done == []
    result = procs.run(_sleeper(0.2), idle=30)
    assert result.returncode == 0 and done == ["ran"]
    procs.run(_sleeper(0), idle=30)
    assert done == ["ran"]


def test_work_forgotten_before_a_wait_is_never_done():
    done = []

    def work():
        done.append("ran")

    procs.meanwhile(work)
    procs.forget(work)
    procs.run(_sleeper(0), idle=30)
    assert done == []


def test_slow_work_does_not_count_as_the_child_s_silence():
    def slow():
        import time

        time.sleep(1.5)

    procs.meanwhile(slow)
    # The child is silent for 1.8 s and exits; the watch (1 s of silence) begins after the work,
    # so only the last 0.3 s count against it.
    result = procs.run(_sleeper(1.8), idle=1)
    assert result.stalled is None and result.returncode == 0
