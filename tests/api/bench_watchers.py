#!/usr/bin/python3
"""Memory and CPU of idle watchers (not a test: numbers depend on the machine).

Usage: bench_watchers.py PORT PID [N]
Opens N (default 10000, bounded by the open-file limit) HTTP/1.1 long-poll
watches on a running server, then prints the server's RSS growth per watcher
and the CPU ticks it used during 5 idle seconds.
"""
import resource
import socket
import sys
import time

port, pid = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
n = min(int(sys.argv[3]) if len(sys.argv) > 3 else 10000, hard - 100)


def rss_kb():
    with open("/proc/%d/status" % pid) as f:
        return int([l for l in f if l.startswith("VmRSS")][0].split()[1])


def cpu_ticks():
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().split()
    return int(fields[13]) + int(fields[14])


before = rss_kb()
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /v2/keys/benchw/%d?wait=true HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    socks.append(s)
for s in socks:
    s.settimeout(10)
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
time.sleep(1)
after = rss_kb()
c0 = cpu_ticks()
time.sleep(5)
c1 = cpu_ticks()
print("%d watchers: %.0f bytes of RSS each, %d CPU ticks in 5 idle seconds"
      % (n, (after - before) * 1024.0 / n, c1 - c0))
for s in socks:
    s.close()
