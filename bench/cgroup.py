"""A Linux cgroup with a CPU quota, to run the function with the share of a CPU Cloud Run gives it.

cgroup v2: `cpu.max` ("QUOTA PERIOD") in a child of the unified hierarchy with the cpu controller
enabled; cgroup v1: `cpu.cfs_quota_us` / `cpu.cfs_period_us` in the cpu hierarchy. Both need root
(or a delegated, writable hierarchy). The quota covers every process and thread in the group, so a
share of 0.167 lets the server's processes together run 16.7 ms in every 100 ms period.

The group also gets a high scheduling weight (v1 cpu.shares, v2 cpu.weight): on a machine shared
with other jobs, a Cloud Run instance's vCPU share is its own, so the capped server should get its
quota whatever else runs here; the weight does that without letting it exceed the quota.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PERIOD_US = 100_000  # the kernel's default CFS period
WEIGHT_V1 = 65536  # cpu.shares (default 1024, max 262144)
WEIGHT_V2 = 6400  # cpu.weight (default 100, max 10000)


class CgroupUnavailable(RuntimeError):
    """No writable CPU controller here; the message says what was found."""


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, filesystem type, options) of every cgroup mount."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
            found.append((fields[1], fields[2], set(fields[3].split(","))))
    return found


@dataclass
class CpuCap:
    path: Path
    version: int
    share: float = 1.0

    @classmethod
    def create(cls, name: str) -> CpuCap:
        """A new cgroup `name` with a CPU controller: v2 when it has one, else v1."""
        problems = []
        for mount, kind, options in _mounts():
            root = Path(mount)
            if kind == "cgroup2":
                controllers = (root / "cgroup.controllers").read_text().split() if (root / "cgroup.controllers").exists() else []
                if "cpu" not in controllers:
                    problems.append(f"cgroup v2 at {mount} has no cpu controller (it is bound to v1)")
                    continue
                try:
                    if "cpu" not in (root / "cgroup.subtree_control").read_text().split():
                        (root / "cgroup.subtree_control").write_text("+cpu")
                    path = root / name
                    path.mkdir(exist_ok=True)
                    if not (path / "cpu.max").exists():
                        raise OSError("cpu.max missing after enabling the controller")
                    (path / "cpu.weight").write_text(str(WEIGHT_V2))
                    return cls(path, 2)
                except OSError as error:
                    problems.append(f"cgroup v2 at {mount}: {error.strerror or error}")
            elif "cpu" in options:
                try:
                    path = root / name
                    path.mkdir(exist_ok=True)
                    (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                    (path / "cpu.shares").write_text(str(WEIGHT_V1))
                    return cls(path, 1)
                except OSError as error:
                    problems.append(f"cgroup v1 cpu at {mount}: {error.strerror or error}")
        if not problems:
            problems.append("no cgroup filesystem mounted")
        raise CgroupUnavailable("; ".join(problems) + f" (running as uid {os.geteuid()})")

    def set_share(self, share: float | None) -> None:
        """Cap the group at `share` of one CPU; None: no cap (the weight alone)."""
        self.share = share if share is not None else float("inf")
        quota = max(1000, round(share * PERIOD_US)) if share is not None else None
        if self.version == 2:
            (self.path / "cpu.max").write_text(f"{quota if quota else 'max'} {PERIOD_US}")
        else:
            (self.path / "cpu.cfs_quota_us").write_text(str(quota if quota else -1))

    def enter(self) -> None:
        """Move the calling process into the group (for Popen's preexec_fn: its children follow)."""
        self.add(os.getpid())

    def add(self, pid: int) -> None:
        """Move a running process (all its threads) into the group."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def throttled(self) -> tuple[int, float]:
        """(periods in which the group was throttled, seconds it waited), since the group was made."""
        stat = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines() if len(line.split()) == 2)
        if self.version == 2:
            return int(stat.get("nr_throttled", 0)), int(stat.get("throttled_usec", 0)) / 1e6
        return int(stat.get("nr_throttled", 0)), int(stat.get("throttled_time", 0)) / 1e9

    def remove(self) -> None:
        """Delete the group; a process still in it (one just killed, not yet reaped) is moved to the parent first."""
        for _ in range(20):
            try:
                for pid in (self.path / "cgroup.procs").read_text().split():
                    try:
                        (self.path.parent / "cgroup.procs").write_text(pid)
                    except OSError:
                        pass
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)
