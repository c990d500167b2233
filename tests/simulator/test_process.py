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


def _parent_script(log_path, *options: str) -> str:
    """A parent process that starts the simulator (output to `log_path`), prints its pid, idles."""
    return textwrap.dedent(
        f"""
        import subprocess, sys, time
        with open({str(log_path)!r}, "ab") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "simulator", "--http", "--port", "0", "--devices", "1",
                 "--exit-with-parent", *{list(options)!r}],
                cwd={str(REPO_ROOT)!r}, stdout=log, stderr=log,
            )
        print(child.pid, flush=True)
        time.sleep(60)
        """
    )


def _start_parent(log_path, *options: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _parent_script(log_path, *options)],
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, int(proc.stdout.readline())


def _wait_for_log(log_path, text: str, child_pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in (log_path.read_text() if log_path.exists() else ""):
        assert time.monotonic() < deadline, f"{text!r} never logged"
        assert not _gone(child_pid, 0), "the simulator exited early"
        time.sleep(0.05)


def test_follows_a_killed_parent_out(tmp_path):
    log_path = tmp_path / "simulator.log"
    proc, child_pid = _start_parent(log_path, "--quiet")
    _wait_for_log(log_path, "OceanConnect simulator serving", child_pid)
    assert not _gone(child_pid, 0.1)
    proc.kill()
    proc.wait()
    assert _gone(child_pid, 10)


def test_follows_a_parent_killed_during_its_start_up_out(tmp_path):
    log_path = tmp_path / "simulator.log"
    proc, child_pid = _start_parent(log_path, "--quiet", "--startup-delay", "2")
    try:
        _wait_for_log(log_path, "start-up delayed", child_pid)  # before its watcher starts
        proc.kill()
        proc.wait()
        assert _gone(child_pid, 2 + 10), "the simulator outlived the parent that started it"
    finally:
        if not _gone(child_pid, 0):
            os.kill(child_pid, signal.SIGKILL)


def test_a_server_certificate_without_its_key_or_unusable_is_refused_at_start(tmp_path):
    base = [sys.executable, "-m", "simulator", "--port", "0", "--cert-dir", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    alone = subprocess.run(
        [*base, "--server-cert", str(tmp_path / "server.pem")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert alone.returncode == 2
    assert "--server-cert and --server-key go together" in alone.stderr
    missing = subprocess.run(
        [*base, "--server-cert", str(tmp_path / "no.pem"), "--server-key", str(tmp_path / "no")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert "cannot use the TLS certificate files" in missing.stderr
