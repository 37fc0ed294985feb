"""Measuring child processes, describing the machine, and waiting for a quiet one.

:func:`run` starts a command in a fresh process and returns its wall time and its own peak RSS
(``ru_maxrss`` from ``wait4`` on that one child, so contenders never share a high-water mark),
plus how much CPU the rest of the machine used meanwhile (a noise indicator on a shared box).
"""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import psutil


@dataclass
class Measurement:
    wall: float            # seconds, process start to exit
    peak_rss_mb: float     # the child's peak resident set size (MB = 10^6 bytes)
    cpu: float             # the child's user + system CPU seconds
    others_cores: float    # average cores used by every other process during the run
    load1: float           # 1-minute load average when the run started
    returncode: int
    stdout: str
    stderr: str


def run(argv: list[str], cwd: Path | None = None, env: dict | None = None) -> Measurement:
    """Run ``argv`` to completion in a fresh process and measure it (stdout/stderr via temp files)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        load1 = os.getloadavg()[0]
        busy0 = _busy()
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        busy = _busy() - busy0
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return Measurement(wall=wall, peak_rss_mb=usage.ru_maxrss * 1024 / 1e6, cpu=cpu,
                           others_cores=max(busy - cpu, 0.0) / wall if wall else 0.0, load1=load1,
                           returncode=p.returncode, stdout=out.read().decode("utf-8", "replace"),
                           stderr=err.read().decode("utf-8", "replace"))


def _busy() -> float:
    """CPU seconds spent busy by the whole machine since boot (all cores)."""
    t = psutil.cpu_times()  # guest time is already inside user time; steal is other VMs' load
    return sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))


def busy_cores(seconds: float = 3.0) -> float:
    """Average cores in use over the next ``seconds`` (call while idle: it is everyone else)."""
    b0, t0 = _busy(), time.perf_counter()
    time.sleep(seconds)
    return (_busy() - b0) / (time.perf_counter() - t0)


class QuietWaiter:
    """Waits, within a total budget per run, for a quiet machine before a measurement.

    Before the first measurement the test is the 1-minute load average (≤ ``max_load``). Later our
    own runs are inside that average, so the test is how many cores everyone else keeps busy over
    a few seconds while we are idle (≤ ``max_busy``): on a shared box, a neighbour using a whole
    core halves what a two-thread engine gets and the figures mean little.
    """

    def __init__(self, max_load: float, budget: float, log=print, max_busy: float = 0.5):
        self.max_load, self.max_busy, self.budget, self.log = max_load, max_busy, budget, log
        self.waited = 0.0

    def wait(self, first: bool = False) -> float:
        """Return the busyness seen last (load average, or others' busy cores)."""
        limit, what = (self.max_load, "load average") if first else (self.max_busy, "cores busy elsewhere")
        while True:
            now = os.getloadavg()[0] if first else busy_cores()
            if now <= limit or self.waited >= self.budget:
                if now > limit:
                    self.log(f"  machine still busy ({what} {now:.2f} > {limit}) after waiting "
                             f"{self.waited:.0f} s in all; measuring anyway")
                return now
            step = min(15.0, self.budget - self.waited)
            self.log(f"  machine busy ({what} {now:.2f} > {limit}); waiting {step:.0f} s")
            time.sleep(step)
            self.waited += step + (0 if first else 3.0)


def warm(path: Path) -> None:
    """Read a file through so it is in the page cache (the host may evict cold pages between runs)."""
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 24):
            pass


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, str]:
    """CPU, cores, RAM, OS, Python and library versions, date and load average."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))}, Linux {platform.release()}"
    except OSError:
        pass
    libs = []
    for lib in ("duckdb", "polars", "pandas", "pyarrow", "psutil"):
        try:
            libs.append(f"{lib} {metadata.version(lib)}")
        except metadata.PackageNotFoundError:
            pass
    load = os.getloadavg()
    return {
        "cpu": cpu, "cores": str(os.cpu_count()),
        "ram": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "os": os_name, "python": platform.python_version(), "libraries": ", ".join(libs),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load": f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)",
        "python_exe": sys.executable,
    }


def code_version(root: Path) -> str:
    """The commit under test, and whether data/ has uncommitted changes."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    commit = git("log", "-1", "--format=%h %s")
    commit = commit if len(commit) <= 70 else commit[:69] + "…"
    if not commit:
        return "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--", "data")
    return commit + (" + uncommitted changes in data/" if dirty else "")
