"""CPU spent by the processes of a benchmark run (psutil): per named group of processes, and Postgres as a
whole."""

from __future__ import annotations

from collections.abc import Callable

import psutil
import psycopg


class CpuMeter:
    """CPU seconds spent by named groups of processes between `start()` and `stop()`. A group is a function
    listing its pids, asked at both ends: a process that appears in between counts from zero."""

    def __init__(self) -> None:
        self.groups: dict[str, Callable[[], list[int]]] = {}
        self.spent: dict[str, float] = {}
        self._before: dict[int, float] = {}

    def add(self, name: str, pids: Callable[[], list[int]]) -> None:
        self.groups[name] = pids

    @staticmethod
    def _seconds(pid: int) -> float:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            return 0.0
        return float(times.user + times.system)

    def start(self) -> None:
        self._before = {pid: self._seconds(pid) for pids in self.groups.values() for pid in pids()}

    def stop(self) -> None:
        self.spent = {
            name: sum(self._seconds(pid) - self._before.get(pid, 0.0) for pid in pids())
            for name, pids in self.groups.items()
        }


def backend_pids(url: str) -> list[int]:
    """Postgres backends of the benchmark's database (the services' pools keep theirs for the whole run)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(row[0]) for row in rows]


def postgres_cpu_seconds(url: str) -> Callable[[], float]:
    """CPU seconds Postgres has spent so far: the postmaster, its reaped children (backends that exited) and
    its living children. Monotonic, so the difference over a measurement is what the measurement cost, even
    when procrastinate's pool connects and disconnects inside it. Needs the server's processes to be ours
    (the embedded one); else it reads nothing."""
    with psycopg.connect(url) as conn:
        (backend,) = conn.execute("SELECT pg_backend_pid()").fetchone() or (0,)
    try:
        postmaster = psutil.Process(int(backend)).parent()
    except psutil.Error:
        postmaster = None

    def seconds() -> float:
        if postmaster is None:
            return float("nan")
        try:
            own = postmaster.cpu_times()
            living = [child.cpu_times() for child in postmaster.children()]
        except psutil.Error:
            return float("nan")
        reaped = own.children_user + own.children_system
        return own.user + own.system + reaped + sum(t.user + t.system for t in living)

    return seconds
