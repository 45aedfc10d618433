"""Run by tests/test_distributed.py: join ``P`` processes and report, as one JSON line, what
happened (the device count, or the error's type and message)."""
from __future__ import annotations

import argparse
import json
import time

from brainsim import sharding


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--coordinator")
    p.add_argument("--processes", type=int)
    p.add_argument("--process-id", type=int)
    p.add_argument("--timeout", type=float, default=5.)
    a = p.parse_args()
    t0 = time.monotonic()
    try:
        sharding.initialize(a.coordinator, a.processes, a.process_id, timeout=a.timeout)
    except (RuntimeError, ValueError) as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e),
                          "seconds": time.monotonic() - t0}), flush=True)
        return
    import jax
    print(json.dumps({"devices": len(jax.devices()), "processes": jax.process_count(),
                      "seconds": time.monotonic() - t0}), flush=True)


if __name__ == "__main__":
    main()
