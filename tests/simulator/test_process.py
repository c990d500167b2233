"""The simulator process: start-up banner, clean shutdown, no orphans."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from tests.support.simulator import REPO_ROOT, start_simulator


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # reap it if it is our child or a zombie of init
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_banner_and_clean_sigterm():
    with start_simulator("--devices", "5") as private:
        private.process.send_signal(signal.SIGTERM)
        assert private.process.wait(timeout=10) == 0
        log = private.log()
    assert f"serving {private.url} (plain HTTP)" in log
    assert "for tests and demos only" in log
    assert "5 demo devices (seed 42)" in log
    assert "simulator: stopped" in log


def test_follows_a_killed_parent_out(tmp_path):
    parent = textwrap.dedent(
        f"""
        import subprocess, sys, time
        child = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--http", "--port", "0", "--devices", "1",
             "--quiet", "--exit-with-parent"],
            cwd={str(REPO_ROOT)!r}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        print(child.pid, flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    child_pid = int(proc.stdout.readline())
    time.sleep(0.5)
    assert not _gone(child_pid, 0.1)
    proc.kill()
    proc.wait()
    assert _gone(child_pid, 10)
