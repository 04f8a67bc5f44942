#!/usr/bin/env python3
"""Failover: SIGKILL the leader of a two-node cluster and time the survivor's takeover.

    bench/failover.py --database postgres://postgres@127.0.0.1:5432/bench_failover [--kills 20]
                      [--bin target/release/pharos] [--failover 7s] [--seed N] [--out FILE]

Two `pharos serve` processes share one (fresh, empty) PostgreSQL database with the default
`[cluster]` settings (failover 10 s): each node has its own listen port and `[cluster] address`
and nothing else (--failover sets `failover` too). Six http monitors watch a local HTTP server in this process: five always
answer 200 (intervals 1, 2, 3, 4 and 5 s), and one, `flip`, at 1 s with thresholds 1 and
flap detection off, answers 200 or 500 as the script says, so its component is either
operational or in a major outage.

Each round: find the leader (`GET /api/v1/cluster` with the admin token), wait a random
2–4 s (so the kill lands at any phase of the lease renewals), SIGKILL it and, at once, flip
the `flip` target. Then, on the survivor only:

- (a) **first check**: poll `GET /api/v1/monitors` (503 while there is no leader) until a
  monitor's `last_check_at` is later than the kill; the figure is the earliest `started_at`
  after the kill among the monitors' recent results (`GET /api/v1/monitors/{id}`), and also
  the time that poll first saw it.
- (b) **page update**: poll `/api/v2/components.json` every 20 ms until the `flip` component
  shows the new status. Reported raw (from the kill) and minus detection: the end of the
  survivor's first check of `flip` that saw the new state (`started_at + duration_ms`), so
  the rest is publication alone.

From the survivor's log (info level) the script also takes when it won the lease ("this node
won the lease") and when its engine ran ("this node leads"), to split (a) into the election
and the engine's start.

Then the killed node is started again (a new node id, as after a crash) and the round ends
once it reports itself a follower of the survivor and the survivor's page shows the target's
state. Prints each round and min / median / p95 / p99 / max; writes the rows as JSON with
--out.

Only standard-library Python; everything on 127.0.0.1; every process is stopped on exit.
The database must be empty (Pharos migrates it) and is left as it is; drop it afterwards.
"""

import argparse
import http.server
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime

ADMIN_TOKEN = "bench-failover-admin-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    """Answers 200 on every path, except /flip: 200 while `healthy`, else 500."""

    def __init__(self):
        self.healthy = True
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                ok = outer.healthy or not self.path.startswith("/flip")
                body = b"OK\n" if ok else b"FAIL\n"
                self.send_response(200 if ok else 500)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def request(url, admin=False, timeout=2.0):
    req = urllib.request.Request(url)
    if admin:
        req.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def try_request(url, admin=False, timeout=2.0):
    try:
        return request(url, admin, timeout)
    except (OSError, urllib.error.URLError, ValueError):
        return None


def wait(what, check, limit=120.0, every=0.05):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (OSError, ValueError, KeyError, TypeError):
            pass
        time.sleep(every)
    raise TimeoutError(f"timed out after {limit:.0f} s waiting for {what}")


def parse_time(s):
    """RFC 3339 in UTC ("2026-12-07T15:40:01.123456789Z") -> unix seconds, to the microsecond."""
    s = s.rstrip("Z").replace("+00:00", "")
    if "." in s:
        head, frac = s.split(".", 1)
        s = head + "." + (frac + "000000")[:6]
    return datetime.fromisoformat(s + "+00:00").timestamp()


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log_times(path, needle):
    """Unix times of the log lines that contain `needle`, in order."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            if needle in line:
                line = ANSI.sub("", line)
                try:
                    out.append(parse_time(line.split()[0]))
                except (ValueError, IndexError):
                    pass
    return out


def percentile(values, p):
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def stats(values):
    return {
        "n": len(values),
        "min": min(values),
        "median": statistics.median(values),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
        "mean": statistics.mean(values),
    }


def config_text(target_port, listen_port, failover=None):
    out = [f"""# Generated by bench/failover.py
[page]
id = "failover"
name = "Failover benchmark"
time_zone = "UTC"

[admin]
tokens = ["{ADMIN_TOKEN}"]

[incidents]
auto_open = false

[cluster]
address = "http://127.0.0.1:{listen_port}"
{f'failover = "{failover}"' if failover else ""}

[[components]]
id = "steady"
name = "Steady"

[[components]]
id = "flip"
name = "Flip"
"""]
    for i, interval in enumerate([1, 2, 3, 4, 5]):
        out.append(f"""[[monitors]]
id = "steady-{i}"
type = "http"
url = "http://127.0.0.1:{target_port}/ok?m={i}"
interval = "{interval}s"
timeout = "1s"
components = ["steady"]
""")
    out.append(f"""[[monitors]]
id = "flip"
type = "http"
url = "http://127.0.0.1:{target_port}/flip"
interval = "1s"
timeout = "1s"
failure_threshold = 1
success_threshold = 1
flap_threshold = 0
conditions = ["[STATUS] == 200"]
on_failure = "major_outage"
components = ["flip"]
""")
    return "\n".join(out)


class Node:
    def __init__(self, name, bin_path, tmp, target_port, database, log_level, failover=None):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config = os.path.join(tmp, f"{name}.toml")
        with open(self.config, "w") as f:
            f.write(config_text(target_port, self.port, failover))
        self.bin = bin_path
        self.database = database
        self.log_path = os.path.join(tmp, f"{name}.log")
        self.log_level = log_level
        self.proc = None
        self.starts = 0

    def start(self):
        env = dict(os.environ, PHAROS_LOG=self.log_level)
        self.starts += 1
        log = open(self.log_path, "a")
        log.write(f"\n===== start {self.starts} at {time.time():.3f}\n")
        log.flush()
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--config", self.config, "--listen", f"127.0.0.1:{self.port}",
             "--database", self.database],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        wait(f"{self.name} to answer /healthz",
             lambda: urllib.request.urlopen(f"{self.base}/healthz", timeout=1).status == 200)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cluster(self):
        return request(f"{self.base}/api/v1/cluster", admin=True)

    def flip_status(self):
        comps = request(f"{self.base}/api/v2/components.json", timeout=1)["components"]
        return next((c["status"] for c in comps if c["id"] == "flip"), None)


def role_of(info, node_id):
    return next((n["role"] for n in info["nodes"] if n["id"] == node_id), None)


def one_round(n, nodes, target, rng):
    # Who leads, as both nodes see it.
    def leader_known():
        infos = [nd.cluster() for nd in nodes]
        leaders = {i["leader"] for i in infos}
        if len(leaders) != 1 or None in leaders:
            return None
        leader_id = leaders.pop()
        for nd, info in zip(nodes, infos):
            if info["node"] == leader_id:
                return nd, leader_id
        return None

    leader, leader_id = wait("one leader that both nodes agree on", leader_known)
    survivor = next(nd for nd in nodes if nd is not leader)
    expected_now = "operational" if target.healthy else "major_outage"
    wait("the survivor's page to show the target's state",
         lambda: survivor.flip_status() == expected_now)
    time.sleep(2.0 + 2.0 * rng.random())

    leader.kill()
    t_kill = time.time()
    m_kill = time.monotonic()
    target.healthy = not target.healthy
    want = "operational" if target.healthy else "major_outage"
    want_outcome = "up" if target.healthy else "down"

    seen_check = None  # monotonic time a poll first saw a post-kill check
    seen_page = None
    deadline = m_kill + 120
    last_monitors = 0.0
    while (seen_check is None or seen_page is None) and time.monotonic() < deadline:
        now = time.monotonic()
        if seen_page is None:
            try:
                if survivor.flip_status() == want:
                    seen_page = time.monotonic()
            except (OSError, ValueError, KeyError, StopIteration):
                pass
        if seen_check is None and now - last_monitors >= 0.05:
            last_monitors = now
            ms = try_request(f"{survivor.base}/api/v1/monitors", admin=True, timeout=1)
            if isinstance(ms, dict):
                ms = ms.get("monitors", [])
            if ms:
                if any(m.get("last_check_at") and parse_time(m["last_check_at"]) > t_kill for m in ms):
                    seen_check = time.monotonic()
        time.sleep(0.02)
    if seen_check is None or seen_page is None:
        raise TimeoutError(f"round {n}: no takeover within 120 s (check {seen_check}, page {seen_page})")

    # Exact times from the survivor's own results.
    first_start = None
    flip_detected = None
    for mid in ["flip"] + [f"steady-{i}" for i in range(5)]:
        detail = request(f"{survivor.base}/api/v1/monitors/{mid}", admin=True)
        for r in detail.get("recent_results", []):
            started = parse_time(r["started_at"])
            if started <= t_kill:
                continue
            first_start = started if first_start is None else min(first_start, started)
            if mid == "flip" and r["outcome"] == want_outcome:
                end = started + r["duration_ms"] / 1000.0
                flip_detected = end if flip_detected is None else min(flip_detected, end)

    row = {
        "round": n,
        "killed": leader.name,
        "killed_node": leader_id,
        "survivor": survivor.name,
        "flip_to": want,
        "first_check_s": round(first_start - t_kill, 3),
        "first_check_seen_s": round(seen_check - m_kill, 3),
        "page_s": round(seen_page - m_kill, 3),
        "flip_detected_s": round(flip_detected - t_kill, 3) if flip_detected else None,
    }
    row["page_minus_detection_s"] = (
        round(row["page_s"] - row["flip_detected_s"], 3) if flip_detected else None
    )
    # The survivor's own log: when it won the lease and when its engine ran.
    for key, needle in (("lease_won_s", "this node won the lease"), ("leads_s", "this node leads")):
        row[key] = None
        for t in log_times(survivor.log_path, needle):
            if t > t_kill:
                row[key] = round(t - t_kill, 3)
                break

    # Bring the killed node back; the round ends once it follows the survivor.
    survivor_id = survivor.cluster()["node"]
    leader.start()
    wait(f"{leader.name} to follow {survivor.name}",
         lambda: (lambda i: i["leader"] == survivor_id and role_of(i, i["node"]) == "follower")(leader.cluster()))
    return row


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--bin", default=os.path.join(target_dir, "release", "pharos"))
    ap.add_argument("--database", required=True, help="an empty PostgreSQL database's URL")
    ap.add_argument("--out", default=None, help="write the rows and the summary here as JSON")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--failover", default=None, help='[cluster] failover, e.g. "7s" (default: left out, so 10 s)')
    ap.add_argument("--log-level", default=os.environ.get("PHAROS_LOG", "info"))
    args = ap.parse_args()
    if not args.database.startswith("postgres"):
        sys.exit("--database must be a PostgreSQL URL: a cluster needs PostgreSQL")
    rng = random.Random(args.seed)

    tmp = tempfile.mkdtemp(prefix="pharos-failover-")
    print(f"logs and configs in {tmp}", flush=True)
    target = Target()
    nodes = [Node(name, args.bin, tmp, target.port, args.database, args.log_level, args.failover)
             for name in ("a", "b")]
    rows = []
    try:
        nodes[0].start()
        # Let the first node win the first lease before the second one starts.
        wait("node a to lead", lambda: nodes[0].cluster()["leader"] == nodes[0].cluster()["node"])
        nodes[1].start()
        wait("the flip component to be operational on both nodes",
             lambda: all(nd.flip_status() == "operational" for nd in nodes))
        for n in range(1, args.kills + 1):
            row = one_round(n, nodes, target, rng)
            rows.append(row)
            print(f"kill {n:2} ({row['killed']}, flip → {row['flip_to']}): lease won {row['lease_won_s']} s, "
                  f"leads {row['leads_s']} s, first check "
                  f"{row['first_check_s']:.3f} s (seen {row['first_check_seen_s']:.3f}), page "
                  f"{row['page_s']:.3f} s (detected {row['flip_detected_s']}, page − detection "
                  f"{row['page_minus_detection_s']})", flush=True)
    finally:
        for nd in nodes:
            nd.stop()
        target.stop()

    summary = {}
    keys = ["lease_won_s", "leads_s", "first_check_s", "first_check_seen_s", "page_s", "flip_detected_s",
            "page_minus_detection_s"]
    for key in keys:
        values = [r[key] for r in rows if r[key] is not None]
        if values:
            summary[key] = {k: round(v, 3) for k, v in stats(values).items()}
    print()
    print(f"{len(rows)} kills, failover {args.failover or 'default (10 s)'}, two nodes, PostgreSQL")
    names = {
        "lease_won_s": "kill → survivor wins the lease (its log)",
        "leads_s": "kill → survivor's engine runs (its log)",
        "first_check_s": "kill → survivor's first check starts",
        "first_check_seen_s": "kill → that check seen on the survivor's API",
        "page_s": "kill → survivor's page shows the flip (raw)",
        "flip_detected_s": "kill → survivor's first check that saw the flip ends",
        "page_minus_detection_s": "page − detection (publication alone)",
    }
    for key, s in summary.items():
        print(f"  {names[key]:52} min {s['min']:6.3f}  median {s['median']:6.3f}  p95 {s['p95']:6.3f}  "
              f"p99 {s['p99']:6.3f}  max {s['max']:6.3f}  (mean {s['mean']:.3f}, n {s['n']})")
    for key in ["first_check_s", "page_s"]:
        if key in summary:
            print(f"  p99 {names[key]} ≤ 10 s: {'yes' if summary[key]['p99'] <= 10 else 'NO'}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"rows": rows, "summary": summary, "logs": tmp}, f, indent=1)


if __name__ == "__main__":
    main()
