#!/usr/bin/env python3
"""bench/lib/report.py META RUNS RESULTS_DIR [--no-plot]

Turns the runs of bench/run into one table (stdout), RESULTS_DIR/latest.json
and, with gnuplot, RESULTS_DIR/throughput.png (throughput against connections).
Prints, for each target of issue 7, whether this run met it. It reports; it
never fails a build or a test because of a number.
"""
import json
import os
import shutil
import subprocess
import sys

# (label, tresor op, peer server, peer op, peer label)
ROWS = [
    ("GET secret metadata", "get", "nginx", "static", "nginx 200-B file"),
    ("GET secret metadata", "get", "etcd", "range", "etcd range 1 key"),
    ("list a page of 100", "list100", "etcd", "range100", "etcd range limit 100"),
    ("resolve 1 secret", "resolve1", "nginx", "static", "nginx 200-B file"),
    ("resolve 10 secrets", "resolve10", "nginx", "static", "nginx 200-B file"),
    ("create (durable)", "create", "etcd", "put", "etcd put (fsync)"),
    ("90/10 read/write mix", "mix", "etcd", "mix", "etcd 90/10 range/put"),
]


def summarise(run):
    w = run["wrk"]
    secs = w["duration_us"] / 1e6
    n = w["requests"]
    return {
        "req_s": round(n / secs, 1) if secs else 0.0,
        "p50_ms": w["latency_us"]["p50"] / 1000,
        "p99_ms": w["latency_us"]["p99"] / 1000,
        "p999_ms": w["latency_us"]["p999"] / 1000,
        "requests": n,
        "errors": sum(w["errors"].values()),
        "error_detail": w["errors"],
        "cpu_us_per_req": round(run["cpu_s"] * 1e6 / n, 1) if n else None,
        "rss_peak_kb": run["rss_peak_kb"],
        "loadavg_before": run["loadavg_before"],
    }


def main():
    meta_path, runs_path, outdir = sys.argv[1:4]
    plot = "--no-plot" not in sys.argv[4:]
    with open(meta_path) as f:
        meta = json.load(f)
    runs = {}
    with open(runs_path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                runs[(r["server"], r["op"], r["conns"])] = summarise(r)
    conns = sorted({k[2] for k in runs})

    table = []
    for label, op, peer, pop, plabel in ROWS:
        for c in conns:
            t = runs.get(("tresor", op, c))
            p = runs.get((peer, pop, c))
            if not t and not p:
                continue
            table.append({
                "operation": label, "conns": c, "tresor": t, "peer": plabel, "peer_result": p,
                "ratio": round(t["req_s"] / p["req_s"], 3) if t and p and p["req_s"] else None,
            })

    def fmt(v, spec):
        return format(v, spec) if v is not None else "-"

    hdr = (f"{'operation':22} {'conns':>5} {'tresor req/s':>12} {'p50 ms':>7} {'p99 ms':>7} {'CPU µs':>6}"
           f"  {'peer':22} {'peer req/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'CPU µs':>6} {'ratio':>6}")
    lines = [hdr, "-" * len(hdr)]
    for row in table:
        t, p = row["tresor"] or {}, row["peer_result"] or {}
        flag = " !" if (t.get("errors") or p.get("errors")) else ""
        lines.append(
            f"{row['operation']:22} {row['conns']:5d} {fmt(t.get('req_s'), '12.0f')} {fmt(t.get('p50_ms'), '7.2f')}"
            f" {fmt(t.get('p99_ms'), '7.2f')} {fmt(t.get('cpu_us_per_req'), '6.0f')}  {row['peer']:22}"
            f" {fmt(p.get('req_s'), '10.0f')} {fmt(p.get('p50_ms'), '7.2f')} {fmt(p.get('p99_ms'), '7.2f')}"
            f" {fmt(p.get('cpu_us_per_req'), '6.0f')} {fmt(row['ratio'], '6.2f')}{flag}")

    # --- the targets of issue 7 ---
    def get(server, op, c, key):
        r = runs.get((server, op, c))
        return r[key] if r else None

    targets = []

    def ratio_target(name, op, peer, pop, want, at):
        per = {}
        for c in at:
            a, b = get("tresor", op, c, "req_s"), get(peer, pop, c, "req_s")
            per[c] = round(a / b, 3) if a is not None and b else None
        vals = [v for v in per.values() if v is not None]
        met = (all(v >= want for v in vals) if vals else None)
        detail = ", ".join(f"{c}c: {fmt(v, '.2f')}" for c, v in per.items())
        targets.append({"target": name, "want": want, "got": per, "met": met, "detail": detail})

    ratio_target("GET metadata >= 0.5 x nginx req/s", "get", "nginx", "static", 0.5, conns)
    ratio_target("GET metadata >= 4 x etcd range req/s", "get", "etcd", "range", 4.0, conns)
    ratio_target("resolve 1 secret >= 0.4 x nginx req/s", "resolve1", "nginx", "static", 0.4, conns)
    at64 = [64] if 64 in conns else conns[-1:]
    ratio_target(f"durable create >= 2 x etcd put at {at64[0] if at64 else 64} connections",
                 "create", "etcd", "put", 2.0, at64)
    c16 = 16 if 16 in conns else (conns[0] if conns else None)
    p99 = get("tresor", "get", c16, "p99_ms")
    e50 = get("etcd", "range", c16, "p50_ms")
    targets.append({"target": f"p99 of GET at {c16} connections <= etcd range p50", "want": e50, "got": p99,
                    "met": (p99 <= e50) if p99 is not None and e50 is not None else None,
                    "detail": f"{fmt(p99, '.2f')} ms vs {fmt(e50, '.2f')} ms"})
    rss = meta["rss_kb"]
    # VmHWM lags behind VmRSS a little (per-thread counters), so take the largest of all readings
    hwm = max([rss.get("tresor_hwm", 0), rss.get("tresor_idle", 0), rss.get("tresor_after", 0)]
              + [r["rss_peak_kb"] for k, r in runs.items() if k[0] == "tresor"])
    targets.append({"target": "server RSS <= 64 MiB", "want": 64, "got": round(hwm / 1024, 1),
                    "met": hwm <= 64 * 1024,
                    "detail": f"idle {rss['tresor_idle'] / 1024:.1f} MiB, under load (VmHWM) {hwm / 1024:.1f} MiB"})

    lines.append("CPU µs = server CPU time (user+system, all threads and worker processes) per request;"
                 " the load generator runs on the same CPUs.")
    lines.append("")
    lines.append(f"tresor RSS: at start {rss['tresor_start'] / 1024:.1f} MiB, idle with the data set "
                 f"{rss['tresor_idle'] / 1024:.1f} MiB, peak under load (VmHWM) {hwm / 1024:.1f} MiB"
                 + (f"; etcd VmHWM {rss['etcd_hwm'] / 1024:.1f} MiB" if rss.get("etcd_hwm") else ""))
    lines.append("")
    lines.append("targets (issue 7, ratios from this one run):")
    for t in targets:
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[t["met"]]
        lines.append(f"  {verdict:12} {t['target']:48} {t['detail']}")
    errs = [(k, r["error_detail"]) for k, r in runs.items() if r["errors"]]
    if errs:
        lines.append("")
        lines.append("runs with errors (non-2xx answers or socket errors; marked ! above):")
        for k, e in errs:
            lines.append(f"  {k[0]} {k[1]} c{k[2]}: {e}")
    loads = [r["loadavg_before"] for r in runs.values()]
    lines.append("")
    lines.append(f"{meta['host_cpus']} CPUs ({meta['cpu_model']}), wrk {meta['wrk']} -t{meta['threads']}, "
                 f"{meta['warmup_s']} s warm-up + {meta['duration_s']} s per run, {meta['secrets']} secrets; "
                 f"load average before the runs {min(loads, default=0):.2f}..{max(loads, default=0):.2f}; "
                 f"took {meta['elapsed_s']} s")
    fb, fa = meta.get("fsync_before"), meta.get("fsync_after")
    if fb and fa:
        lines.append(f"disk: 4 KiB write + fdatasync p50 {fb['p50_ms']:.2f} ms / p99 {fb['p99_ms']:.2f} ms before "
                     f"the runs, p50 {fa['p50_ms']:.2f} / p99 {fa['p99_ms']:.2f} ms after "
                     f"(one durable writer can do at most ~{1000 / max(fb['p50_ms'], 0.001):.0f} commits/s)")
    text = "\n".join(lines)
    print(text)

    os.makedirs(outdir, exist_ok=True)
    out = {"meta": meta, "table": table, "targets": targets,
           "runs": [{"server": k[0], "op": k[1], "conns": k[2], **v} for k, v in sorted(runs.items())]}
    with open(os.path.join(outdir, "latest.json"), "w") as f:
        json.dump(out, f, indent=1)
    with open(os.path.join(outdir, "latest.txt"), "w") as f:
        f.write(text + "\n")
    # and a copy that the next run does not overwrite, to compare runs later
    stamp = meta["date"].replace("-", "").replace(":", "")
    kind = "quick" if meta.get("quick") else "full"
    with open(os.path.join(outdir, f"run-{stamp}-{kind}.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(f"\nwritten: {outdir}/latest.json, {outdir}/latest.txt, {outdir}/run-{stamp}-{kind}.json", end="")

    if plot and shutil.which("gnuplot") and len(conns) >= 1:
        # peers first (dashed), then tresor (solid)
        series = sorted({(k[0], k[1]) for k in runs}, key=lambda s: (s[0] == "tresor", s))
        dat = os.path.join(outdir, "throughput.dat")
        with open(dat, "w") as f:
            for s in series:
                for c in conns:
                    r = runs.get((s[0], s[1], c))
                    if r:
                        f.write(f"{c} {r['req_s']}\n")
                f.write("\n\n")
        png = os.path.join(outdir, "throughput.png")
        gp = (f'set terminal pngcairo size 1000,650; set output "{png}";'
              'set title "throughput against connections (wrk -t2, loopback)";'
              'set xlabel "connections"; set ylabel "requests/s"; set logscale xy; set grid;'
              f'set xtics ({", ".join(str(c) for c in conns)}); set key outside right;'
              'plot ' + ", ".join(
                  f'"{dat}" index {i} using 1:2 with linespoints lw 2 dt {2 if s[0] != "tresor" else 1} '
                  f'title "{s[0]} {s[1]}"' for i, s in enumerate(series)))
        r = subprocess.run(["gnuplot", "-e", gp], capture_output=True, text=True)
        if r.returncode == 0:
            print(f", {png}", end="")
        else:
            print(f"\n(gnuplot failed: {r.stderr.strip()[-300:]})", end="")
    print()


if __name__ == "__main__":
    main()
