#!/usr/bin/env python3
"""Server RSS per idle connection: open N loopback connections to a server,
read the server's VmRSS from /proc/PID/status before and after, then send
one PING on each (reading every PONG) and read it again.

usage: idle_rss.py PID PORT [N=10000]

Prints one line: pid port n rss_before_kb rss_idle_kb rss_after_ping_kb
bytes_per_idle_conn bytes_per_conn_after_ping. Bounded: N connections, a
fixed settle time, a 10 s timeout on every socket. Sockets are closed with
SO_LINGER 0 (a reset), so repeated runs leave no TIME_WAIT behind to
exhaust the ephemeral ports."""
import socket, struct, sys, time

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")

def settle(pid, seconds=2.0):
    time.sleep(seconds)
    return rss_kb(pid)

def main():
    pid, port = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    before = settle(pid, 1.0)
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socks.append(s)
        idle = settle(pid)
        # One command each, in batches of 500 so the accept backlog and
        # socket buffers never matter.
        for i in range(0, n, 500):
            batch = socks[i:i + 500]
            for s in batch:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
            for s in batch:
                got = b""
                while len(got) < 7:
                    chunk = s.recv(7 - len(got))
                    if not chunk:
                        raise SystemExit("server closed a connection")
                    got += chunk
                assert got == b"+PONG\r\n", got
        after = settle(pid)
    finally:
        for s in socks:
            s.close()
    per_idle = (idle - before) * 1024 / n
    per_after = (after - before) * 1024 / n
    print(f"{pid} {port} {n} {before} {idle} {after} {per_idle:.0f} {per_after:.0f}")

main()
