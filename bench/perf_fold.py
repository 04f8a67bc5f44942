#!/usr/bin/env python3
"""Fold `perf script` output into stacks and a per-subsystem breakdown (stdlib only).

    perf script -i perf.data | perf_fold.py --folded out.folded > breakdown.txt

The folded file is Brendan Gregg's collapsed format (flamegraph.pl / speedscope / inferno
read it). The breakdown attributes each sample twice: to the subsystem it ran for (the
outermost recognised frame: a monitor's check, the pipeline, the writer, the SQLite worker,
the web server, the runtime's own timer/IO/parking) and to its leaf function.
"""
import argparse
import collections
import re
import sys

# (label, regex on a frame) - first match from the ROOT of the stack wins.
SUBSYSTEMS = [
    ("sqlite worker thread (sqlx)", r"sqlx_sqlite::connection::worker"),
    ("monitor task: check (reqwest/hyper) + judge + metrics", r"pharos_engine::run_monitor"),
    ("pipeline (apply results, rebuild view)", r"pharos_engine::run_pipeline"),
    ("writer task (batch prep, await sqlite)", r"pharos_engine::writer::run"),
    ("web (axum, snapshot)", r"pharos_web|axum::"),
    ("hyper client connection tasks", r"hyper_util::client|hyper::proto::h1::dispatch|hyper::client"),
    ("tokio timer wheel", r"tokio::runtime::time"),
    ("tokio I/O driver (epoll)", r"tokio::runtime::io|mio::"),
    ("tokio worker park/unpark", r"park|Parker|unpark"),
]
# Leaf-side detail worth naming.
DETAILS = [
    ("sqlite3_bind_parameter_name (sqlx binds by name: O(params^2))", r"^sqlite3_bind_parameter_name$|sqlite3VListNumToName"),
    ("other SQLite engine code", r"^sqlite3|^pager|^btree|^vdbe"),
    ("malloc/free", r"malloc|free|_int_|realloc|cfree"),
    ("kernel: context switch", r"finish_task_switch|__schedule|schedule"),
    ("kernel: other", r"\[k\]"),
]


def frames_of(sample):
    out = []
    for line in sample:
        line = line.strip()
        m = re.match(r"[0-9a-f]+\s+(.+?)\s+\((.*)\)$", line)
        if not m:
            continue
        sym = m.group(1)
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        if "kernel.kallsyms" in m.group(2) or m.group(2).startswith("[kernel"):
            sym = sym + " [k]"
        out.append(sym)
    return out  # leaf first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folded", help="write collapsed stacks here")
    a = ap.parse_args()
    folded = collections.Counter()
    subsys = collections.Counter()
    leaf = collections.Counter()
    detail = collections.Counter()
    comm = collections.Counter()
    total = 0
    sample, head = [], None

    def flush():
        nonlocal total
        if head is None:
            return
        fr = frames_of(sample)
        name = head.split()[0] if head.split() else "?"
        total += 1
        comm[name] += 1
        root_first = list(reversed(fr))
        folded[";".join([name] + [f.replace(";", ":") for f in root_first])] += 1
        label = "other / unattributed"
        for lab, rx in SUBSYSTEMS:
            if any(re.search(rx, f) for f in root_first):
                label = lab
                break
        subsys[label] += 1
        lf = fr[0] if fr else "?"
        leaf[lf] += 1
        for lab, rx in DETAILS:
            if re.search(rx, lf):
                detail[lab] += 1
                break
        else:
            detail["other user code"] += 1

    for line in sys.stdin:
        if not line.strip():
            flush()
            sample, head = [], None
        elif head is None and not line.startswith((" ", "\t")):
            head = line
        else:
            sample.append(line)
    flush()
    if a.folded:
        with open(a.folded, "w") as f:
            for k, v in folded.most_common():
                f.write(f"{k} {v}\n")
    if not total:
        print("no samples")
        return
    pc = lambda n: f"{100.0 * n / total:5.1f} %"
    print(f"{total} samples\n\nby thread:")
    for k, v in comm.most_common():
        print(f"  {pc(v)}  {k}")
    print("\nby subsystem (outermost recognised frame):")
    for k, v in subsys.most_common():
        print(f"  {pc(v)}  {k}")
    print("\nby kind of leaf:")
    for k, v in detail.most_common():
        print(f"  {pc(v)}  {k}")
    print("\ntop leaf functions:")
    for k, v in leaf.most_common(25):
        print(f"  {pc(v)}  {k[:160]}")


if __name__ == "__main__":
    main()
