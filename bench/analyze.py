#!/usr/bin/env python3
"""Turn the raw files of bench/run.sh into figures (stdlib only).

    analyze.py wrk FILE                       one wrk --latency output -> JSON
    analyze.py hist START END [--metric NAME] delta of a Prometheus histogram -> JSON
    analyze.py gaps LOG --from T0 --to T1 [--interval 30]
                                              per-monitor gaps from the target's access log
    analyze.py collect-page DIR / collect-scale DIR
                                              gather one benchmark's raw files into page.json /
                                              scale.json (run.sh calls these)
    analyze.py report RESULTS_DIR             markdown summary of a whole run
    analyze.py report-compressed DIR          markdown summary of `run.sh compressed`

The access log format is  '$msec $request_uri $status'  (see run.sh); the monitor is the
m= query parameter.
"""
import argparse
import glob
import json
import math
import os
import re
import sys
from urllib.parse import parse_qs, urlsplit

# ---------------------------------------------------------------- wrk

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
UNIT_B = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNIT_MS[m.group(2)] if m else None


def parse_wrk(path):
    t = open(path).read()
    out = {"file": os.path.basename(path)}
    m = re.search(r"Running .* @ (\S+)", t)
    out["url"] = m.group(1) if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", t, re.M)
        out[f"p{pct}_ms"] = ms(m.group(1)) if m else None
    m = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", t)
    out["max_ms"] = ms(m.group(3)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", t)
    if m:
        out["requests"] = int(m.group(1))
        out["bytes_read"] = float(m.group(4)) * UNIT_B[m.group(5)]
        out["bytes_per_request"] = round(out["bytes_read"] / max(1, out["requests"]))
    m = re.search(r"Requests/sec:\s+([\d.]+)", t)
    out["rps"] = float(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    out["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    out["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return out


# ---------------------------------------------------------------- Prometheus text

def parse_prom(path):
    """name -> list of (labels dict, value)."""
    series = {}
    for line in open(path):
        if not line.strip() or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        try:
            v = float(m.group(3))
        except ValueError:
            continue
        series.setdefault(m.group(1), []).append((labels, v))
    return series


def hist_delta(start, end, metric="pharos_check_start_delay_seconds"):
    a, b = parse_prom(start), parse_prom(end)

    def buckets(s):
        return {l["le"]: v for l, v in s.get(metric + "_bucket", [])}

    ba, bb = buckets(a), buckets(b)
    d = {le: bb[le] - ba.get(le, 0.0) for le in bb}
    total = d.get("+Inf", 0.0)
    fr = {le: (v / total if total else None) for le, v in d.items()}
    checks_a = sum(v for _, v in a.get("pharos_checks_total", []))
    checks_b = sum(v for _, v in b.get("pharos_checks_total", []))
    outcomes = {}
    for l, v in b.get("pharos_checks_total", []):
        outcomes[l.get("outcome")] = outcomes.get(l.get("outcome"), 0) + v
    for l, v in a.get("pharos_checks_total", []):
        outcomes[l.get("outcome")] = outcomes.get(l.get("outcome"), 0) - v
    sum_a = sum(v for _, v in a.get(metric + "_sum", []))
    sum_b = sum(v for _, v in b.get(metric + "_sum", []))
    return {
        "metric": metric,
        "count": total,
        "bucket_delta": d,
        "fraction_le": fr,
        "on_time_1s": fr.get("1.0"),
        "mean_delay_s": (sum_b - sum_a) / total if total else None,
        "checks_total_delta": checks_b - checks_a,
        "outcome_delta": outcomes,
        "store_write_errors_end": sum(v for _, v in b.get("pharos_store_write_errors_total", [])),
    }


# ---------------------------------------------------------------- access log

def read_log(path):
    """monitor -> sorted list of unix times."""
    hits = {}
    for line in open(path, errors="replace"):
        parts = line.split()
        if len(parts) < 2:
            continue
        try:
            t = float(parts[0])
        except ValueError:
            continue
        m = parse_qs(urlsplit(parts[1]).query).get("m")
        if not m:
            continue
        hits.setdefault(m[0], []).append(t)
    for v in hits.values():
        v.sort()
    return hits


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def gap_stats(hits, t0, t1, interval, expect_monitors=None):
    """Checks whose hit lies in [t0, t1]: rate, and the gap to the previous check of the
    same monitor (the previous one may lie before t0)."""
    in_window = 0
    gaps = []
    silent = 0
    for mon, ts in hits.items():
        n = 0
        for i, t in enumerate(ts):
            if t0 <= t <= t1:
                n += 1
                if i > 0:
                    gaps.append(t - ts[i - 1])
        in_window += n
        if n == 0:
            silent += 1
    if expect_monitors is not None:
        silent += max(0, expect_monitors - len(hits))
    gaps.sort()
    within = sum(1 for g in gaps if abs(g - interval) <= 1.0)
    return {
        "window_s": round(t1 - t0, 2),
        "monitors_seen": len(hits),
        "monitors_silent_in_window": silent,
        "checks": in_window,
        "checks_per_s": round(in_window / (t1 - t0), 2) if t1 > t0 else None,
        "gaps": len(gaps),
        "gap_min_s": round(gaps[0], 3) if gaps else None,
        "gap_p1_s": round(pct(gaps, 1), 3) if gaps else None,
        "gap_p50_s": round(pct(gaps, 50), 3) if gaps else None,
        "gap_p99_s": round(pct(gaps, 99), 3) if gaps else None,
        "gap_max_s": round(gaps[-1], 3) if gaps else None,
        "within_1s_of_interval": round(within / len(gaps), 5) if gaps else None,
    }


def gaps_overlapping(hits, a, b, log_end):
    """Largest gap between consecutive checks of one monitor whose span overlaps [a, b];
    a monitor with no check after its last one before b counts up to log_end."""
    worst, worst_mon, open_ = 0.0, None, 0
    for mon, ts in hits.items():
        for i in range(1, len(ts)):
            if ts[i] >= a and ts[i - 1] <= b:
                g = ts[i] - ts[i - 1]
                if g > worst:
                    worst, worst_mon = g, mon
        if ts and ts[-1] <= b:
            open_ += 1
            g = log_end - ts[-1]
            if g > worst:
                worst, worst_mon = g, mon
    return {"max_gap_s": round(worst, 3), "monitor": worst_mon, "open_at_end": open_}


# ---------------------------------------------------------------- report

def jload(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def f(v, nd=1, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float) and nd == 0:
        return f"{v:,.0f}{unit}"
    return f"{v:,.{nd}f}{unit}"


def report_compressed(d):
    """Pharos vs nginx with Accept-Encoding, per route and coding, every round; then the page
    under half-open connections."""
    kv = dict(l.strip().split("=", 1) for l in open(os.path.join(d, "run.kv")) if "=" in l)
    out = ["| route | Accept-Encoding | round | Pharos req/s | Pharos p50 / p99 ms | Pharos B/req "
           "| nginx req/s | nginx p50 / p99 ms | nginx B/req | Pharos / nginx |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for key, route in (("root", "/"), ("summary", "/api/v2/summary.json")):
        for enc, accept in (("gzip-br", "gzip, br"), ("gzip", "gzip")):
            for f in sorted(glob.glob(os.path.join(d, f"wrk-pharos-{key}-{enc}-r*.txt"))):
                rnd = re.search(r"-r(\d+)\.txt$", f).group(1)
                p = parse_wrk(f)
                n = parse_wrk(f.replace("wrk-pharos-", "wrk-nginx-"))
                ratio = p["rps"] / n["rps"] * 100 if p.get("rps") and n.get("rps") else float("nan")
                out.append(
                    f"| `{route}` | {accept} | {rnd} | {p['rps']:,.0f} | {p['p50_ms']:.2f} / {p['p99_ms']:.2f} "
                    f"| {p.get('bytes_per_request', 0):,} | {n['rps']:,.0f} | {n['p50_ms']:.2f} / {n['p99_ms']:.2f} "
                    f"| {n.get('bytes_per_request', 0):,} | {ratio:.0f} % |")
    body = (f"Bodies: `/` {int(kv['root_identity']):,} B as HTML, {int(kv['root_gzip']):,} B gzip, "
            f"{int(kv['root_br']):,} B brotli; `/api/v2/summary.json` {int(kv['summary_identity']):,} B, "
            f"{int(kv['summary_gzip']):,} B gzip, {int(kv['summary_br']):,} B brotli.")
    lines = [body, ""] + out
    half = os.path.join(d, "wrk-pharos-root-halfopen.txt")
    if os.path.exists(half):
        h = parse_wrk(half)
        held = open(os.path.join(d, "half-open.txt")).read().strip().replace("\n", "; ")
        lines += ["", f"With half-open connections held throughout ({held}): `/` with gzip, br: "
                  f"{h['rps']:,.0f} req/s, p50 / p99 {h['p50_ms']:.2f} / {h['p99_ms']:.2f} ms, "
                  f"{h['non2xx']} non-2xx, {h['socket_errors']} socket errors."]
    return "\n".join(lines)


def report(d):
    out = []
    meta = jload(os.path.join(d, "meta.json")) or {}
    out.append(f"## Pharos benchmark run {os.path.basename(os.path.normpath(d))}")
    out.append("")
    if meta:
        out.append(f"- Machine: {meta.get('cpu_model')} @ {meta.get('cpu_mhz')} MHz × {meta.get('cpus')} CPUs"
                   f"{' (VM)' if meta.get('hypervisor') else ''}, {meta.get('mem_total')} RAM, {meta.get('os')}; "
                   f"kernel {meta.get('kernel')}; pharos {meta.get('pharos_version')} at commit {meta.get('commit')}"
                   f"{' (+uncommitted changes)' if meta.get('dirty') else ''}")
        out.append(f"- Tools: {meta.get('wrk_version')}; {meta.get('nginx_version')}; date {meta.get('date')}")
        out.append("")

    # ---- page
    page = jload(os.path.join(d, "page", "page.json"))
    if page:
        out.append("### Status page throughput (`wrk -t2 -c64 -d15s --latency`, Pharos vs nginx serving the same bytes)")
        out.append("")
        out.append("| route | round | body bytes | Pharos req/s | p50 / p99 ms | Pharos CPU % | nginx req/s | p50 / p99 ms | Pharos / nginx | load avg before |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        for r in page["rows"]:
            p, n = r["pharos"], r["nginx"]
            ratio = p["rps"] / n["rps"] if p.get("rps") and n.get("rps") else None
            out.append(f"| `{r['route']}` | {r['round']} | {r['body_bytes']:,} | {f(p.get('rps'), 0)} | "
                       f"{f(p.get('p50_ms'), 2)} / {f(p.get('p99_ms'), 2)} | {f(r.get('pharos_cpu_pct'), 0)} | "
                       f"{f(n.get('rps'), 0)} | {f(n.get('p50_ms'), 2)} / {f(n.get('p99_ms'), 2)} | "
                       f"{f(100 * ratio if ratio else None, 0, ' %')} | {' '.join(r.get('loadavg_before', []))} |")
        errs = [(r["route"], r["round"], w, r[w]["non2xx"], r[w]["socket_errors"]) for r in page["rows"]
                for w in ("pharos", "nginx") if r[w].get("non2xx") or r[w].get("socket_errors")]
        out.append("")
        for e in errs:
            out.append(f"- **errors**: {e[0]} round {e[1]} {e[2]}: {e[3]} non-2xx, {e[4]} socket errors")
        mism = [r for r in page["rows"] if r["pharos"].get("bytes_per_request") and r["nginx"].get("bytes_per_request")
                and abs(r["pharos"]["bytes_per_request"] - r["nginx"]["bytes_per_request"]) > 0.05 * r["nginx"]["bytes_per_request"]]
        for r in mism:
            out.append(f"- note: `{r['route']}` bytes/response differ: Pharos {r['pharos']['bytes_per_request']:,} vs nginx {r['nginx']['bytes_per_request']:,}")
        # verdict over the median of rounds
        out.append("")
        for route in sorted({r["route"] for r in page["rows"]}):
            rs = [r for r in page["rows"] if r["route"] == route]
            ratios = sorted(r["pharos"]["rps"] / r["nginx"]["rps"] for r in rs if r["pharos"].get("rps") and r["nginx"].get("rps"))
            p99s = sorted(r["pharos"]["p99_ms"] for r in rs if r["pharos"].get("p99_ms") is not None)
            if ratios:
                med = ratios[len(ratios) // 2] if len(ratios) % 2 else (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2
                ok1 = med >= 0.70
                ok2 = p99s and max(p99s) < 5.0
                out.append(f"- `{route}`: Pharos/nginx median ratio {100 * med:.0f} % (target ≥ 70 %: **{'met' if ok1 else 'NOT met'}**); "
                           f"worst Pharos p99 {max(p99s):.2f} ms (target < 5 ms: **{'met' if ok2 else 'NOT met'}**)")
        s = page.get("settle")
        if s:
            out.append(f"- Pharos during the page runs: RSS before {f(s.get('rss_before_mib'))} MiB, after {f(s.get('rss_after_mib'))} MiB; "
                       f"page config {page.get('config')}")
        out.append("")

    # ---- scale
    scales = sorted(glob.glob(os.path.join(d, "scale-*", "scale.json")), key=lambda p: int(p.split("scale-")[1].split("/")[0]))
    if scales:
        out.append("### Scale: http monitors at a 30 s interval against a local nginx target")
        out.append("")
        out.append("| monitors | window s | CPU % of one core (avg / max 10 s) | RSS MiB avg / peak sampled / VmHWM | checks/s got (log / Pharos) / expected | started ≤ 1 s late (histogram) | ≤ 0.1 s late | gap p50 / p99 / max s | gaps within 30 ± 1 s | silent monitors | machine: other CPU %, compiler s, load avg |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        verdicts = []
        for p in scales:
            s = jload(p)
            w, h, g = s["window"], s["hist"], s["gaps"]
            exp = s["monitors"] / s["interval_s"]
            out.append(
                f"| {s['monitors']:,} | {w['seconds']:.0f} | {f(w['cpu_pct_avg'], 2)} / {f(w['cpu_pct_max_10s'], 1)} | "
                f"{f(w['rss_mib_avg'])} / {f(w['rss_mib_max_sampled'])} / {f(w['vmhwm_mib'])} | "
                f"{f(g['checks_per_s'], 1)} / {f(h['checks_total_delta'] / w['seconds'] if w['seconds'] else None, 1)} / {exp:,.1f} | "
                f"{f(100 * h['on_time_1s'] if h.get('on_time_1s') is not None else None, 3, ' %')} | "
                f"{f(100 * h['fraction_le'].get('0.1') if h['fraction_le'].get('0.1') is not None else None, 2, ' %')} | "
                f"{f(g['gap_p50_s'], 2)} / {f(g['gap_p99_s'], 2)} / {f(g['gap_max_s'], 2)} | "
                f"{f(100 * g['within_1s_of_interval'] if g.get('within_1s_of_interval') is not None else None, 2, ' %')} | "
                f"{g['monitors_silent_in_window']} | {f(w.get('foreign_pct'), 1)}, {w.get('compiler_seconds')}, "
                f"{' '.join(w['loadavg_start'])} → {' '.join(w['loadavg_end'])} |")
            if s["monitors"] >= 10000:
                verdicts.append(f"- 10,000 monitors: CPU {w['cpu_pct_avg']:.1f} % of one core (target < 20 %: **{'met' if w['cpu_pct_avg'] < 20 else 'NOT met'}**); "
                                f"RSS peak {max(x for x in (w['rss_mib_max_sampled'], w['vmhwm_mib']) if x):.0f} MiB (target < 200 MiB: **{'met' if max(x for x in (w['rss_mib_max_sampled'], w['vmhwm_mib']) if x) < 200 else 'NOT met'}**); "
                                f"{100 * (h['on_time_1s'] or 0):.2f} % of checks started within 1 s (target ≥ 99 %: **{'met' if (h['on_time_1s'] or 0) >= 0.99 else 'NOT met'}**)")
            extra = []
            if s.get("startup_s") is not None:
                extra.append(f"ready (/healthz) {s['startup_s']:.1f} s after launch")
            if s.get("shutdown_s") is not None:
                extra.append(f"SIGTERM → exit {s['shutdown_s']:.1f} s (code {s.get('exit_code')})")
            if s.get("metrics_bytes"):
                extra.append(f"/metrics {s['metrics_bytes'] / 1048576:.1f} MiB, fetched in {s['metrics_fetch_s'] * 1000:.0f} ms")
            if s.get("db_bytes") is not None:
                extra.append(f"database {s['db_bytes'] / 1048576:.1f} MiB at the end")
            if h.get("outcome_delta"):
                extra.append("outcomes in window " + ", ".join(f"{k}={int(v)}" for k, v in sorted(h["outcome_delta"].items())))
            if h.get("store_write_errors_end"):
                extra.append(f"**store write errors: {int(h['store_write_errors_end'])}**")
            if extra:
                verdicts.append(f"- {s['monitors']:,}: " + "; ".join(extra))
        out.append("")
        out += verdicts
        out.append("")
        loads = [(jload(p), p) for p in scales]
        rows = [(s, u) for s, _ in loads for u in (s.get("under_load") or [])]
        if rows:
            out.append("### Page under wrk load while the monitors keep probing")
            out.append("")
            out.append("| monitors | route | body bytes | Pharos req/s | p50 / p99 ms | Pharos CPU % | nginx req/s (same bytes) | p50 / p99 ms | Pharos / nginx | largest check gap overlapping the Pharos wrk run (s) | RSS after wrk MiB |")
            out.append("|---|---|---|---|---|---|---|---|---|---|---|")
            for s, u in rows:
                wk, ng = u["wrk"], u.get("nginx") or {}
                ratio = wk["rps"] / ng["rps"] if wk.get("rps") and ng.get("rps") else None
                out.append(f"| {s['monitors']:,} | `{u['route']}` | {u.get('body_bytes', 0):,} | {f(wk.get('rps'), 0)} | "
                           f"{f(wk.get('p50_ms'), 2)} / {f(wk.get('p99_ms'), 2)} | {f(u.get('pharos_cpu_pct'), 0)} | "
                           f"{f(ng.get('rps'), 0)} | {f(ng.get('p50_ms'), 2)} / {f(ng.get('p99_ms'), 2)} | "
                           f"{f(100 * ratio if ratio else None, 0, ' %')} | "
                           f"{f(u['gap']['max_gap_s'], 2)} | {f(u.get('rss_after_mib'))} |")
            out.append("")
    return "\n".join(out)



# ---------------------------------------------------------------- collect (called by run.sh)

def read_kv(path):
    kv = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                kv[k] = v
    return kv


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


ROUTES = {"root": "/", "summary": "/api/v2/summary.json"}


def collect_page(d):
    kv = read_kv(os.path.join(d, "run.kv"))
    rows = []
    for path in sorted(glob.glob(os.path.join(d, "wrk-pharos-*-r*.txt"))):
        m = re.search(r"wrk-pharos-(\w+)-r(\d+)\.txt$", path)
        key, rnd = m.group(1), int(m.group(2))
        npath = os.path.join(d, f"wrk-nginx-{key}-r{rnd}.txt")
        cpu = jload(os.path.join(d, f"cpu-pharos-{key}-r{rnd}.json")) or {}
        load = open(os.path.join(d, f"load-{key}-r{rnd}.txt")).read().split()[:3] if os.path.exists(os.path.join(d, f"load-{key}-r{rnd}.txt")) else []
        rows.append({
            "route": ROUTES.get(key, key), "round": rnd,
            "body_bytes": int(num(kv.get(f"body_{key}")) or 0),
            "pharos": parse_wrk(path),
            "nginx": parse_wrk(npath) if os.path.exists(npath) else {},
            "pharos_cpu_pct": cpu.get("cpu_pct_avg"),
            "machine_busy_pct": cpu.get("machine_busy_pct"),
            "compiler_seconds": cpu.get("compiler_seconds"),
            "loadavg_before": load,
        })
    rows.sort(key=lambda r: (r["route"], r["round"]))
    out = {"config": kv.get("config"), "rows": rows,
           "settle": {"rss_before_mib": num(kv.get("rss_before_mib")), "rss_after_mib": num(kv.get("rss_after_mib"))}}
    with open(os.path.join(d, "page.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    return out


def collect_scale(d):
    kv = read_kv(os.path.join(d, "run.kv"))
    n = int(kv["monitors"])
    interval = float(kv.get("interval_s", 30))
    t0, t1 = float(kv["t0"]), float(kv["t1"])
    hits = read_log(os.path.join(d, "access.log"))
    out = {
        "monitors": n, "interval_s": interval,
        "startup_s": num(kv.get("startup_s")), "shutdown_s": num(kv.get("shutdown_s")),
        "metrics_fetch_s": num(kv.get("metrics_fetch_s")), "metrics_bytes": num(kv.get("metrics_bytes")),
        "exit_code": kv.get("exit_code"), "db_bytes": num(kv.get("db_bytes")),
        "window": jload(os.path.join(d, "window.json")),
        "hist": hist_delta(os.path.join(d, "metrics-start.txt"), os.path.join(d, "metrics-end.txt")),
        "gaps": gap_stats(hits, t0, t1, interval, n),
        "under_load": [],
    }
    log_end = num(kv.get("ul_log_end"))
    for key, route in ROUTES.items():
        wp = os.path.join(d, f"wrk-ul-{key}.txt")
        if not os.path.exists(wp) or log_end is None:
            continue
        a, b = float(kv[f"ul_{key}_start"]), float(kv[f"ul_{key}_end"])
        cpu = jload(os.path.join(d, f"cpu-ul-{key}.json")) or {}
        out["under_load"].append({
            "route": route, "body_bytes": int(num(kv.get(f"body_{key}")) or 0),
            "wrk": parse_wrk(wp), "pharos_cpu_pct": cpu.get("cpu_pct_avg"),
            "rss_after_mib": num(kv.get(f"rss_after_{key}_mib")),
            "gap": gaps_overlapping(hits, a, b, log_end),
            "nginx": parse_wrk(os.path.join(d, f"wrk-ul-nginx-{key}.txt")) if os.path.exists(os.path.join(d, f"wrk-ul-nginx-{key}.txt")) else {},
        })
    with open(os.path.join(d, "scale.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wrk"); w.add_argument("file")
    h = sub.add_parser("hist"); h.add_argument("start"); h.add_argument("end")
    h.add_argument("--metric", default="pharos_check_start_delay_seconds")
    g = sub.add_parser("gaps"); g.add_argument("log"); g.add_argument("--from", dest="t0", type=float, required=True)
    g.add_argument("--to", dest="t1", type=float, required=True); g.add_argument("--interval", type=float, default=30.0)
    g.add_argument("--monitors", type=int, default=None)
    o = sub.add_parser("overlap"); o.add_argument("log"); o.add_argument("--from", dest="t0", type=float, required=True)
    o.add_argument("--to", dest="t1", type=float, required=True); o.add_argument("--log-end", type=float, required=True)
    r = sub.add_parser("report"); r.add_argument("dir")
    cp = sub.add_parser("collect-page"); cp.add_argument("dir")
    cs = sub.add_parser("collect-scale"); cs.add_argument("dir")
    rc = sub.add_parser("report-compressed"); rc.add_argument("dir")
    a = ap.parse_args()
    if a.cmd == "wrk":
        print(json.dumps(parse_wrk(a.file)))
    elif a.cmd == "hist":
        print(json.dumps(hist_delta(a.start, a.end, a.metric)))
    elif a.cmd == "gaps":
        print(json.dumps(gap_stats(read_log(a.log), a.t0, a.t1, a.interval, a.monitors)))
    elif a.cmd == "overlap":
        print(json.dumps(gaps_overlapping(read_log(a.log), a.t0, a.t1, a.log_end)))
    elif a.cmd == "collect-page":
        collect_page(a.dir)
    elif a.cmd == "collect-scale":
        collect_scale(a.dir)
    elif a.cmd == "report":
        print(report(a.dir))
    elif a.cmd == "report-compressed":
        print(report_compressed(a.dir))


if __name__ == "__main__":
    sys.exit(main())
