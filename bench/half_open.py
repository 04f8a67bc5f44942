#!/usr/bin/env python3
"""Keeps COUNT connections to 127.0.0.1:PORT open for HOLD seconds, each having sent half a
request (a request line and one header, never the blank line that ends the headers), the way
a slowloris client does: when the server closes one (its header timeout), another takes its
place at once.

    half_open.py --port 18090 --count 3000 --hold 50

Prints `open N in S s` once all are open, then at the end how many the server closed (and
were replaced) and how long the first of them had been open.
"""
import argparse
import resource
import selectors
import socket
import sys
import time

HALF = b"GET / HTTP/1.1\r\nHost: status.example.com\r\nX-Slow: "


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--hold", type=float, default=60)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, a.count + 256)), hard))
    sel = selectors.DefaultSelector()

    def open_one():
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(HALF)
        sel.register(s, selectors.EVENT_READ, time.time())

    t0 = time.time()
    for _ in range(a.count):
        open_one()
    print(f"open {a.count} in {time.time() - t0:.2f} s", flush=True)
    closed, first_lifetime = 0, None
    deadline = time.time() + a.hold
    while time.time() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                continue  # an error page before closing; the close follows
            if first_lifetime is None:
                first_lifetime = time.time() - key.data
            sel.unregister(s)
            s.close()
            closed += 1
            open_one()
    lifetime = f"{first_lifetime:.1f} s" if first_lifetime is not None else "-"
    print(f"closed_by_server {closed} (each replaced); first one lived {lifetime}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
