"""How much memory a run may use for its records, and the refusal when they cannot fit."""
from __future__ import annotations


import jax

__all__ = ["available_memory", "check_records_fit"]

_MEMINFO = "/proc/meminfo"
_CGROUP_V2 = "/sys/fs/cgroup"
_CGROUP_V1 = "/sys/fs/cgroup/memory"
_UNLIMITED = 1 << 60   # cgroup v1 writes ~2^63 for "no limit"


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _inactive_file(stat_path: str, key: str) -> int:
    try:
        with open(stat_path) as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _meminfo_available() -> int | None:
    try:
        with open(_MEMINFO) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_headroom() -> int | None:
    """Limit minus usage of this process's memory cgroup (v2, else v1); None if unlimited.

    Usage counts the page cache; its inactive part is reclaimable and is not subtracted.
    """
    for limit_f, usage_f, stat_f, key in (
            (f"{_CGROUP_V2}/memory.max", f"{_CGROUP_V2}/memory.current",
             f"{_CGROUP_V2}/memory.stat", "inactive_file"),
            (f"{_CGROUP_V1}/memory.limit_in_bytes", f"{_CGROUP_V1}/memory.usage_in_bytes",
             f"{_CGROUP_V1}/memory.stat", "total_inactive_file")):
        limit = _read_int(limit_f)
        if limit is None or limit >= _UNLIMITED:
            continue
        usage = _read_int(usage_f) or 0
        return max(0, limit - max(0, usage - _inactive_file(stat_f, key)))
    return None


def _device_headroom() -> int | None:
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        return None
    try:
        stats = dev.memory_stats() or {}
    except Exception:  # noqa: BLE001 - a backend without memory statistics
        return None
    if "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


def available_memory() -> int:
    """Bytes a run's records may take: the least of MemAvailable, the cgroup's headroom
    (cgroup v2 ``memory.max`` or v1 ``memory.limit_in_bytes``) and, on an accelerator,
    the free device memory. Reads a few small files: takes well under a millisecond."""
    found = [x for x in (_meminfo_available(), _cgroup_headroom(), _device_headroom())
             if x is not None]
    return min(found) if found else _UNLIMITED


def check_records_fit(sizes: dict[str, tuple[int, str]], available: int) -> None:
    """Raise ValueError when the records ``{name: (bytes, what)}`` need more than ``available``."""
    need = sum(b for b, _ in sizes.values())
    if need <= available:
        return
    name, (big, what) = max(sizes.items(), key=lambda kv: kv[1][0])
    gb = 1e9
    raise ValueError(
        f"run: the records would need {need / gb:.1f} GB of memory but {available / gb:.1f} GB "
        f"is available; monitor {name!r} alone records {what} = {big / gb:.1f} GB. Ways out: "
        f"record fewer steps (StateMonitor(..., every=10)), fewer neurons "
        f"(StateMonitor(..., indices=[...])), or stream the record to disk "
        f"(StateMonitor(..., path='{name}.h5')), or run shorter pieces (successive runs "
        f"continue the clock).")
