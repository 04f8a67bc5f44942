#!/usr/bin/env python3
"""Does a probe's long poll hold up result intake? (the check behind a finding of issue 15)

    bench/probe_lock_check.py [--bin target/release/pharos] [--monitors 10000]

Starts `pharos serve` (SQLite in a temp dir) with bench/probe_path.py's configuration of
--monitors http monitors checked from three locations, and no load. Asks once for the
assignment of location `load-1` in full (prints its time and size), then times a POST of one
result for that location 20 times alone, and 10 times sent 2 ms after a long-poll
`GET /api/v1/probe/monitors` with the current version (which the server answers only after
20 s, or at a change). Prints both lists of POST times in ms.

Only standard-library Python; everything on 127.0.0.1; the server is stopped on exit.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probe_path as pp  # noqa: E402


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(here), "target"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(target_dir, "release", "pharos"))
    ap.add_argument("--monitors", type=int, default=10000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="pharos-probe-lock-")
    with open(f"{tmp}/pharos.toml", "w") as f:
        f.write(pp.config_text(args.monitors, 3, 30))
    port = pp.free_port()
    srv = subprocess.Popen([args.bin, "serve", "--config", f"{tmp}/pharos.toml", "--listen", f"127.0.0.1:{port}",
                            "--database", f"sqlite://{tmp}/pharos.db"], stdout=open(f"{tmp}/pharos.log", "w"),
                           stderr=subprocess.STDOUT, env=dict(os.environ, PHAROS_LOG="warn"))
    try:
        pp.wait("Pharos to answer /healthz",
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).status == 200)
        token = pp.load_token(1)

        def get(version=None):
            q = "location=load-1&probe=lock-check" + (f"&version={version}" if version else "")
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/probe/monitors?{q}",
                                         headers={"Authorization": f"Bearer {token}"})
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    body = r.read()
                    return time.monotonic() - t0, len(body), json.loads(body)["version"]
            except (OSError, urllib.error.HTTPError):
                return None

        dt, size, version = get()
        print(f"full assignment of load-1: {dt * 1000:.0f} ms, {size:,} bytes")
        probe = pp.Probe(port, "load-1", token, "lock-check")

        def post():
            t0 = time.monotonic()
            status, answer = probe.post([{"monitor_id": "m00000", "started_at": pp.iso(time.time()),
                                          "duration_ms": 3, "outcome": "up", "status_code": 200, "error": None}])
            if status != 200:
                raise RuntimeError(f"the server answered {status} {answer}")
            return (time.monotonic() - t0) * 1000

        alone = []
        for _ in range(20):
            alone.append(post())
            time.sleep(0.1)
        after_poll = []
        for _ in range(10):
            threading.Thread(target=get, args=(version,), daemon=True).start()
            time.sleep(0.002)
            after_poll.append(post())
            time.sleep(0.5)
        print("POST alone, ms:", sorted(round(x, 1) for x in alone))
        print("POST 2 ms after a long-poll GET with the current version, ms:", sorted(round(x, 1) for x in after_poll))
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=15)
        except subprocess.TimeoutExpired:
            srv.kill()


if __name__ == "__main__":
    main()
