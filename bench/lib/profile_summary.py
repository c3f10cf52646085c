#!/usr/bin/env python3
"""bench/lib/profile_summary.py DIR - summarises what bench/profile left in DIR:
instructions per request by function (callgrind) and system calls per request
(strace -c -w)."""
import os
import re
import sys

out = sys.argv[1]


def count(name):
    try:
        return int(open(os.path.join(out, name)).read().strip() or 0)
    except (OSError, ValueError):
        return 0


def rows(path):
    total, res = None, []
    for line in open(path):
        m = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(\S.*)$", line)
        if not m:
            continue
        ir, fn = int(m.group(1).replace(",", "")), m.group(3)
        if "PROGRAM TOTALS" in fn:
            total = ir
        elif not fn.startswith("=>") and ":" in fn:
            fn = re.sub(r"\s*\[[^]]*\]$", "", fn)
            fn = re.sub(r"^.*?build-bench-prof/\.\./", "", fn)
            res.append((ir, fn))
    return total or 1, res


for op in ("get", "create", "resolve1"):
    n = max(count(f"callgrind.{op}.requests"), 1)
    total, self_rows = rows(os.path.join(out, f"callgrind.{op}.self.txt"))
    print(f"\n== {op}: {n} requests under callgrind (1 worker, wrk -t1 -c4), "
          f"{total / n:,.0f} instructions per request ==")
    print("   self cost (the event loop's own stack, ~100%, left out):")
    seen = set()
    for ir, fn in sorted(self_rows, reverse=True):
        if ir >= 0.99 * total or fn in seen:
            continue
        seen.add(fn)
        print(f"   {ir / n:9,.0f} Ir/req {100 * ir / total:5.1f}%  {fn[:100]}")
        if len(seen) == 15:
            break
    _, inc = rows(os.path.join(out, f"callgrind.{op}.inclusive.txt"))
    print("   inclusive cost of tresor's own functions:")
    seen = set()
    for ir, fn in sorted(inc, reverse=True):
        if not fn.startswith("src/") or fn in seen or fn.endswith(("worker_main", "handle_request")):
            continue
        seen.add(fn)
        print(f"   {ir / n:9,.0f} Ir/req {100 * ir / total:5.1f}%  {fn[:100]}")
        if len(seen) == 25:
            break

for op in ("get", "create", "resolve1"):
    n = count(f"strace.{op}.requests")
    print(f"\n== {op}: system calls under strace -f -c -w, {n} requests (wrk -t2 -c16, 2 workers) ==")
    print(f"   {'calls/req':>9}  {'µs/call':>8}  {'share of syscall wall time':>26}  syscall")
    try:
        lines = open(os.path.join(out, f"strace.{op}.txt")).read().splitlines()
    except OSError:
        lines = []
    shown = 0
    for line in lines:
        f = line.split()
        if len(f) >= 5 and re.match(r"^[\d.]+$", f[0]) and f[-1] != "total":
            calls = int(f[3])
            print(f"   {calls / max(n, 1):9.2f}  {int(f[2]):8d}  {float(f[0]):25.2f}%  {f[-1]}")
            shown += 1
            if shown == 12:
                break
