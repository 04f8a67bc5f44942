#!/usr/bin/env python3
"""Time to publication: from the moment a local target stops answering to the moment
/api/v2/summary.json shows the incident.

    bench/publish.py [--outages 20] [--bin target/release/pharos] [--database URL]

One http monitor at a 1 s interval with failure_threshold = 3 watches a local HTTP server. For
each outage the server's listening socket is closed (connection refused, as when a process
dies), summary.json is polled every 10 ms until the incident appears, then the server comes
back and the script waits for the incident to resolve (auto_resolve_after = 1s) before the next
one. Prints each delay, then mean, p50, p99 and max, and Pharos's own
pharos_incident_time_to_publish_seconds (first failing check → page) from /metrics.

Only standard-library Python; everything on 127.0.0.1; every process is stopped on exit.
"""

import argparse
import http.server
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    """A tiny HTTP server that can be stopped (socket closed) and started again."""

    def __init__(self, port):
        self.port = port
        self.server = None
        self.thread = None

    def start(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b'{"status":"UP"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        # A short poll interval, so stop() closes the socket when asked, not on a 0.5 s grid
        # (which would line outages up with the check schedule).
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True
        )
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def get_json(url):
    with urllib.request.urlopen(url, timeout=2) as r:
        return json.load(r)


def get_text(url):
    with urllib.request.urlopen(url, timeout=2) as r:
        return r.read().decode()


def wait(what, check, limit=60.0, every=0.05):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        time.sleep(every)
    sys.exit(f"timed out waiting for {what}")


def percentile(values, p):
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outages", type=int, default=20)
    ap.add_argument("--bin", default=os.path.join(root, "target", "release", "pharos"))
    ap.add_argument("--database", default=None, help="database URL (default: SQLite in a temp dir)")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="pharos-publish-")
    target = Target(free_port())
    target.start()
    port = free_port()
    config = os.path.join(tmp, "pharos.toml")
    with open(config, "w") as f:
        f.write(f"""
[page]
id = "bench"
name = "Bench"

[incidents]
auto_open = true
auto_publish = true
auto_resolve_after = "1s"

[[components]]
id = "api"
name = "API"

[[monitors]]
id = "api-health"
type = "http"
url = "http://127.0.0.1:{target.port}/health"
interval = "1s"
timeout = "1s"
failure_threshold = 3
success_threshold = 1
# Twenty outages in a few minutes would mark the monitor flapping (5 changes in 30 min by
# default), which holds its incident open on purpose; each outage here stands alone.
flap_threshold = 0
components = ["api"]
""")
    env = dict(os.environ, PHAROS_LOG=os.environ.get("PHAROS_LOG", "warn"))
    database = args.database or f"sqlite://{tmp}/pharos.db"
    proc = subprocess.Popen(
        [args.bin, "serve", "--config", config, "--listen", f"127.0.0.1:{port}", "--database", database],
        env=env,
        cwd=tmp,
    )
    base = f"http://127.0.0.1:{port}"
    delays = []
    try:
        wait("Pharos to serve", lambda: get_json(f"{base}/api/v2/status.json"))
        for n in range(1, args.outages + 1):
            wait("a healthy, quiet page", lambda: (
                not get_json(f"{base}/api/v2/incidents/unresolved.json")["incidents"]
                and get_json(f"{base}/api/v2/components.json")["components"][0]["status"] == "operational"
            ))
            # Land the outage at a random phase of the check interval.
            time.sleep(1.0 + random.random())
            target.stop()
            t0 = time.monotonic()
            wait("the incident on summary.json",
                 lambda: get_json(f"{base}/api/v2/summary.json")["incidents"], every=0.01)
            delay = time.monotonic() - t0
            delays.append(delay)
            print(f"outage {n:2}: {delay:.3f} s", flush=True)
            target.start()
            wait("the incident to resolve",
                 lambda: not get_json(f"{base}/api/v2/incidents/unresolved.json")["incidents"])
        metrics = get_text(f"{base}/metrics")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        target.stop()

    own = {}
    for line in metrics.splitlines():
        if line.startswith("pharos_incident_time_to_publish_seconds_sum"):
            own["sum"] = float(line.split()[-1])
        if line.startswith("pharos_incident_time_to_publish_seconds_count"):
            own["count"] = float(line.split()[-1])
    print()
    print(f"outages: {len(delays)}  (interval 1 s, failure_threshold 3, database {database.split(':')[0]})")
    print(f"target stops answering -> incident on summary.json:")
    print(f"  mean {statistics.mean(delays):.3f} s  p50 {percentile(delays, 50):.3f} s  "
          f"p99 {percentile(delays, 99):.3f} s  max {max(delays):.3f} s")
    if own.get("count"):
        print(f"Pharos's own measure, first failing check -> published: mean "
              f"{own['sum'] / own['count']:.3f} s over {int(own['count'])} incidents")


if __name__ == "__main__":
    main()
