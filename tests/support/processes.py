"""Start and stop the real local processes tests talk to."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, *, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s: {last_error}")


def wait_until(predicate, *, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    """Polls `predicate` until it returns something truthy, and returns that; fails the test with
    `message` and the last value after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}; last value: {value!r}")
        time.sleep(interval)
    return value


def stop(process: subprocess.Popen, *, timeout: float = 10.0, group: bool = False) -> None:
    """Stops `process`; with `group`, every process of its session too (it was started with
    start_new_session): a wrapper such as faketime leaves its child behind otherwise."""

    def send(signal_number):
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal_number)
            else:
                process.send_signal(signal_number)

    if process.poll() is not None and not group:
        return
    send(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
        if group:
            send(signal.SIGKILL)
        return
    send(signal.SIGKILL)
    process.wait(timeout=timeout)


class Started:
    """Context-manager protocol for the helpers that start a real process: `with X(...) as x:`
    calls start() and, on the way out, stop()."""

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()  # a process that started but never became ready must not outlive the test
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
