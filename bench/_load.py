"""HTTP load helpers: a free port, a server in a child process, wrk runs parsed into figures."""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

WRK_DIR = Path(__file__).resolve().parent / "wrk"
_LOGS: dict[int, IO[bytes]] = {}
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_log(proc: subprocess.Popen[bytes], chars: int = 2000) -> str:
    """The last CHARS characters the server wrote (stdout and stderr together)."""
    log = _LOGS.get(proc.pid)
    if log is None or log.closed:
        return ""
    log.flush()
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-chars:]


def _answers(url: str) -> bool:
    """Whether URL gives any HTTP answer (a 4xx or 5xx counts: the server is up)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310 — scheme checked above
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start_server(
    command: list[str],
    ready_url: str,
    env: dict[str, str] | None,
    timeout: float = 30,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start COMMAND; return once READY_URL answers, or kill it and raise with its log's tail."""
    # A file, not a pipe: a full pipe would block the server's logging. Closed by stop_server.
    log = tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    _LOGS[proc.pid] = log
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = server_log(proc)
            stop_server(proc)
            raise RuntimeError(f"{' '.join(command)} exited ({proc.returncode}):\n{tail}")
        if _answers(ready_url):
            return proc
        time.sleep(0.1)
    tail = server_log(proc)
    stop_server(proc)
    raise RuntimeError(f"{' '.join(command)}: no answer at {ready_url} in {timeout:g} s:\n{tail}")


def stop_server(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
    """Stop the server: SIGINT, then SIGKILL after GRACE seconds; close its log."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log = _LOGS.pop(proc.pid, None)
    if log is not None:
        log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by PID and its live descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            continue
    return total / tick


def cpu_jiffies() -> tuple[int, int, int]:
    """(busy, stolen, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields)
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + steal + idle + iowait


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores the whole machine keeps busy over the next SECONDS."""
    busy_before, _, total_before = cpu_jiffies()
    time.sleep(seconds)
    busy_after, _, total_after = cpu_jiffies()
    cores = os.cpu_count() or 1
    return (busy_after - busy_before) / max(total_after - total_before, 1) * cores


def wait_quiet(limit: float = 0.25, max_wait: float = 300) -> float:
    """Wait until other work keeps at most LIMIT cores busy (MAX_WAIT s at most); return it."""
    deadline = time.monotonic() + max_wait
    busy = busy_cores()
    while busy > limit and time.monotonic() < deadline:
        time.sleep(2)
        busy = busy_cores()
    return busy


@dataclass
class LoadResult:
    """What one wrk run measured; latencies in milliseconds."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    connections: int = 0
    threads: int = 0
    wrk_cpu_s: float = 0.0
    output: str = field(default="", repr=False)

    @property
    def errors(self) -> int:
        """Socket errors of every kind (connect, read, write, timeout)."""
        return sum(self.socket_errors.values())

    def line(self) -> str:
        """One printable line: rate, latencies, errors, wrk's own CPU."""
        errors = "" if not self.errors else f", socket errors {self.socket_errors}"
        return (
            f"{self.rps:9,.0f} req/s  p50 {self.p50_ms:6.2f} ms  p90 {self.p90_ms:6.2f} ms  "
            f"p99 {self.p99_ms:6.2f} ms  max {self.max_ms:7.2f} ms  "
            f"({self.requests:,} req in {self.seconds:.2f} s, "
            f"-t{self.threads} -c{self.connections}, non-2xx {self.non_2xx:,}{errors}, "
            f"wrk CPU {self.wrk_cpu_s / self.seconds:.0%})"
        )


def _ms(value: str, unit: str) -> float:
    """A wrk duration (number and unit) in milliseconds."""
    return float(value) * _UNITS[unit]


def parse_wrk(output: str) -> LoadResult:
    """Parse the text wrk --latency prints into a LoadResult."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    rate = re.search(r"Requests/sec:\s*([\d.]+)", output)
    latency = re.search(rf"Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}", output)
    if done is None or rate is None or latency is None:
        raise ValueError(f"unexpected wrk output:\n{output}")
    percentiles = {
        int(match[1]): _ms(match[2], match[3])
        for match in re.finditer(rf"^\s+(\d+)%\s+{_TIME}\s*$", output, re.MULTILINE)
    }
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, socket.groups()), strict=True))
        if socket
        else {}
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return LoadResult(
        requests=int(done[1]),
        seconds=_ms(done[2], done[3]) / 1e3,
        rps=float(rate[1]),
        p50_ms=percentiles.get(50, float("nan")),
        p90_ms=percentiles.get(90, float("nan")),
        p99_ms=percentiles.get(99, float("nan")),
        max_ms=_ms(latency[5], latency[6]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=errors,
        output=output,
    )


def run_wrk(
    url: str,
    script: Path,
    connections: int,
    duration_s: int,
    threads: int = 1,
    *,
    env: dict[str, str] | None = None,
    timeout_s: int | None = None,
    request_timeout_s: int = 10,
) -> LoadResult:
    """Run `wrk --latency -t T -c C -d Ds -s SCRIPT URL`, killed after TIMEOUT_S; parse it.

    ENV is added to this process's environment (the Lua scripts read BENCH_* variables).
    REQUEST_TIMEOUT_S is wrk's --timeout: slower answers count as socket timeouts and are
    left out of the latency figures, so it is well above any latency that matters here.
    """
    command = [
        "wrk", "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{duration_s}s",
        "--timeout", f"{request_timeout_s}s", "-s", str(script), url,
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout_s if timeout_s is not None else duration_s + 30,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr}{completed.stdout}")
    result = parse_wrk(completed.stdout)
    result.connections, result.threads = connections, threads
    result.wrk_cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result
