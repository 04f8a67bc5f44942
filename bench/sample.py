#!/usr/bin/env python3
"""Sample one process for a fixed time and summarise its cost (stdlib only, Linux procfs).

    sample.py --pid PID --seconds 120 --out DIR/name [--tree-root PID]

Every second: the process's VmRSS and its utime+stime, and whether a compiler (rustc, cc1,
ld, ...) is running anywhere on the machine. At both ends: /proc/stat and the CPU ticks of
every process, so the summary can say how much CPU the rest of the machine used meanwhile
("foreign" = machine busy time minus the processes under --tree-root, i.e. the benchmark's
own processes). Writes NAME.json (summary) and NAME.csv (per-second series); prints the
summary JSON. Always ends after --seconds (or early if the process exits).
"""
import argparse
import json
import os
import statistics
import time

TICK = os.sysconf("SC_CLK_TCK")
COMPILERS = {"rustc", "cc1", "cc1plus", "ld", "ld.lld", "rust-lld", "clippy-driver", "cargo", "c++", "cc", "gcc"}


def read(path):
    with open(path) as f:
        return f.read()


def stat_fields(pid):
    s = read(f"/proc/{pid}/stat")
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); ppid=4, utime=14, stime=15
    return int(rest[1]), int(rest[11]) + int(rest[12])


def proc_ticks(pid):
    return stat_fields(pid)[1]


def status_kb(pid, key):
    for line in read(f"/proc/{pid}/status").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def cpu_totals():
    f = [int(x) for x in read("/proc/stat").splitlines()[0].split()[1:]]
    idle = f[3] + f[4]
    total = sum(f[:8])
    return total, total - idle


def all_procs():
    """pid -> (ppid, ticks, comm) for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid, ticks = stat_fields(d)
            comm = read(f"/proc/{d}/comm").strip()
        except (OSError, ValueError, IndexError):
            continue
        out[int(d)] = (ppid, ticks, comm)
    return out


def descendants(procs, root):
    kids = {}
    for pid, (ppid, _, _) in procs.items():
        kids.setdefault(ppid, []).append(pid)
    seen, stack = set(), [root]
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        stack.extend(kids.get(p, []))
    return seen


def compilers_running():
    names = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                c = read(f"/proc/{d}/comm").strip()
            except OSError:
                continue
            if c in COMPILERS:
                names.add(c)
    return sorted(names)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--out", required=True, help="path prefix for .json and .csv")
    ap.add_argument("--tree-root", type=int, default=None, help="root of the benchmark's own process tree")
    a = ap.parse_args()
    pid = a.pid

    load0 = read("/proc/loadavg").split()[:3]
    procs0 = all_procs()
    tot0, busy0 = cpu_totals()
    t0 = time.monotonic()
    wall0 = time.time()
    p0 = proc_ticks(pid)
    rows = []
    compile_secs = 0
    compile_names = set()
    exited = False
    prev_ticks, prev_t = p0, t0
    k = 0
    while True:
        k += 1
        deadline = t0 + k
        if deadline > t0 + a.seconds + 1e-6:
            break
        time.sleep(max(0.0, deadline - time.monotonic()))
        try:
            ticks = proc_ticks(pid)
            rss = status_kb(pid, "VmRSS")
        except OSError:
            exited = True
            break
        now = time.monotonic()
        comps = compilers_running()
        if comps:
            compile_secs += 1
            compile_names.update(comps)
        cpu = 100.0 * (ticks - prev_ticks) / TICK / (now - prev_t)
        rows.append((round(now - t0, 3), rss, round(cpu, 1), "+".join(comps)))
        prev_ticks, prev_t = ticks, now
    t1 = time.monotonic()
    wall1 = time.time()
    try:
        p1 = proc_ticks(pid)
        hwm = status_kb(pid, "VmHWM")
    except OSError:
        p1, hwm = prev_ticks, None
    tot1, busy1 = cpu_totals()
    procs1 = all_procs()
    load1 = read("/proc/loadavg").split()[:3]
    elapsed = t1 - t0

    # The benchmark's own processes: under --tree-root at either end.
    ours_ticks = 0
    if a.tree_root:
        mine = descendants(procs0, a.tree_root) | descendants(procs1, a.tree_root)
        for p in mine:
            if p in procs1:
                before = procs0[p][1] if p in procs0 and procs0[p][2] == procs1[p][2] else 0
                ours_ticks += procs1[p][1] - before
    ncpu = os.cpu_count() or 1
    machine_busy = 100.0 * (busy1 - busy0) / max(1, tot1 - tot0) * ncpu  # % of one core
    rss_mib = [r[1] / 1024 for r in rows if r[1] is not None]
    cpu_series = [r[2] for r in rows]
    buckets = [statistics.mean(cpu_series[i:i + 10]) for i in range(0, len(cpu_series), 10) if cpu_series[i:i + 10]]
    summary = {
        "pid": pid,
        "start_unix": wall0,
        "end_unix": wall1,
        "seconds": round(elapsed, 2),
        "samples": len(rows),
        "exited_early": exited,
        "cpu_pct_avg": round(100.0 * (p1 - p0) / TICK / elapsed, 2),
        "cpu_pct_max_10s": round(max(buckets), 2) if buckets else None,
        "cpu_pct_max_1s": max(cpu_series) if cpu_series else None,
        "rss_mib_avg": round(statistics.mean(rss_mib), 1) if rss_mib else None,
        "rss_mib_median": round(statistics.median(rss_mib), 1) if rss_mib else None,
        "rss_mib_max_sampled": round(max(rss_mib), 1) if rss_mib else None,
        "rss_mib_end": round(rss_mib[-1], 1) if rss_mib else None,
        "vmhwm_mib": round(hwm / 1024, 1) if hwm else None,
        "machine_busy_pct": round(machine_busy, 1),
        "bench_procs_pct": round(100.0 * ours_ticks / TICK / elapsed, 1) if a.tree_root else None,
        "foreign_pct": round(machine_busy - 100.0 * ours_ticks / TICK / elapsed, 1) if a.tree_root else None,
        "compiler_seconds": compile_secs,
        "compilers_seen": sorted(compile_names),
        "loadavg_start": load0,
        "loadavg_end": load1,
    }
    with open(a.out + ".csv", "w") as f:
        f.write("t_s,rss_kib,cpu_pct,compilers\n")
        for r in rows:
            f.write(",".join("" if v is None else str(v) for v in r) + "\n")
    with open(a.out + ".json", "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
