"""`ETCDCTL_API=2 etcdctl` user, role and auth commands against metcd,
compared with the same commands against etcd 3.4.23 (outputs and exit
statuses, the servers' URLs normalised).

Usage: test_auth_etcdctl.py; METCD_BIN names the server. Exit 77 when
etcd or etcdctl is not installed (Makefile TEST_PKGS installs both).
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "diff"))
import servers  # noqa: E402

ETCDCTL = shutil.which("etcdctl")
R = ["--username", "root:rootpw"]
S = ["--username", "svc:s"]
STEPS = [
    ["user", "add", "root:rootpw"],
    ["auth", "enable"],
    ["auth", "enable"],
    R + ["role", "add", "app"],
    R + ["role", "add", "app"],
    R + ["role", "grant", "app", "--path", "/app/*", "--rw"],
    R + ["role", "get", "app"],
    R + ["user", "add", "svc:s"],
    R + ["user", "grant", "svc", "--roles", "app"],
    R + ["user", "grant", "svc", "--roles", "app"],
    R + ["user", "get", "svc"],
    R + ["user", "list"],
    R + ["role", "list"],
    S + ["set", "/app/x", "1"],
    S + ["get", "/app/x"],
    S + ["set", "/other", "1"],
    ["get", "/app/x"],
    ["--username", "svc:wrong", "get", "/app/x"],
    R + ["role", "revoke", "app", "--path", "/app/*", "--write"],
    S + ["set", "/app/x", "2"],
    S + ["user", "list"],
    R + ["user", "revoke", "svc", "--roles", "app"],
    R + ["user", "remove", "svc"],
    R + ["role", "remove", "app"],
    R + ["role", "remove", "root"],
    R + ["user", "remove", "root"],
    S + ["auth", "disable"],
    R + ["auth", "disable"],
    ["auth", "disable"],
    ["user", "remove", "root"],
    ["user", "list"],
]


def run(server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "2"
    out = []
    for step in STEPS:
        # bcrypt and several raft rounds per change: more than etcdctl's 1 s default
        p = subprocess.run([ETCDCTL, "--endpoints", server.url, "--timeout", "20s",
                            "--total-timeout", "30s"] + step, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=40)
        text = (p.stdout + p.stderr).decode("utf-8", "replace").replace(server.url, "<url>")
        out.append("$ etcdctl %s\nrc=%d\n%s" % (" ".join(step), p.returncode, text))
    return out


def main():
    if ETCDCTL is None or not os.path.exists(servers.ETCD_BIN):
        print("SKIP: etcd or etcdctl not installed (apt-get install etcd-server etcd-client)")
        return 77
    mbin = os.environ.get("METCD_BIN") or servers.metcd_bin()
    started = []
    try:
        e = servers.Server("etcd", servers.ETCD_BIN)
        started.append(e)
        e.start()
        m = servers.Server("metcd", mbin)
        started.append(m)
        m.start()
        a, b = run(e), run(m)
    finally:
        for s in started:
            s.stop()
    bad = 0
    for x, y in zip(a, b):
        if x != y:
            bad += 1
            print("DIFF\n--- etcd\n%s--- metcd\n%s" % (x, y))
    print("%d steps, %d differ" % (len(a), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
