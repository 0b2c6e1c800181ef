#!/usr/bin/env python3
"""metcdctl and `ETCDCTL_API=2 etcdctl` against the same three-member
cluster (etcd 3.4.23 by default, metcd with --server metcd): member list,
cluster-health when healthy and with a member down ("cluster is degraded",
exit 5), and endpoint failover. Only commands that do not change the
cluster's state are compared, so both tools can share it.
Exit 77 (skip) only when etcd or etcdctl is not installed; members that
do not form a cluster fail the test."""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctl_compat import ETCD, ETCDCTL, free_port, note_crash  # noqa: E402


def start_cluster(kind, binary, tmp):
    names = ["m1", "m2", "m3"]
    ports = {n: (free_port(), free_port()) for n in names}
    initial = ",".join("%s=http://127.0.0.1:%d" % (n, ports[n][1]) for n in names)
    procs = {}
    for n in names:
        c, p = ports[n]
        args = [binary, "--name", n, "--data-dir", os.path.join(tmp, n),
                "--listen-client-urls", "http://127.0.0.1:%d" % c,
                "--advertise-client-urls", "http://127.0.0.1:%d" % c,
                "--listen-peer-urls", "http://127.0.0.1:%d" % p,
                "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % p,
                "--initial-cluster", initial, "--initial-cluster-state", "new"]
        if kind == "etcd":
            args.append("--enable-v2=true")
        log = open(os.path.join(tmp, n + ".log"), "wb")
        procs[n] = (subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT), log)
    urls = {n: "http://127.0.0.1:%d" % ports[n][0] for n in names}
    return procs, urls


def cluster_ready(urls, timeout=20):
    """True once every member answers and they agree on a leader."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            leaders = set()
            for u in urls.values():
                with urllib.request.urlopen(u + "/v2/members/leader", timeout=1) as r:
                    leaders.add(json.load(r)["id"])
                with urllib.request.urlopen(u + "/v2/members", timeout=1) as r:
                    if len(json.load(r)["members"]) != 3:
                        raise ValueError("not 3 members")
            if len(leaders) == 1:
                return True
        except Exception:
            pass
        time.sleep(0.2)
    return False


def normalise(result, new_id, new_peer):
    """Masks a new member's ID and URL; sorts lines and lists it reorders."""
    rc, out, err = result
    out = out.replace(new_id, "NEWID").replace(new_peer, "NEWPEER")
    lines = []
    for line in out.splitlines():
        if line.startswith("ETCD_INITIAL_CLUSTER="):
            line = "ETCD_INITIAL_CLUSTER=" + ",".join(sorted(line[21:].strip('"').split(",")))
        lines.append(line)
    if lines and ": name=" in lines[0] or any("[unstarted]" in l for l in lines):
        lines.sort()
    return rc, "\n".join(lines), err.replace(new_id, "NEWID")


def run(tool, args):
    env = dict(os.environ, ETCDCTL_API="2")
    for k in ("ETCDCTL_ENDPOINTS", "ETCDCTL_ENDPOINT", "ETCDCTL_PEERS"):
        env.pop(k, None)
    try:
        p = subprocess.run([tool] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=20)
        return p.returncode, p.stdout.decode(), p.stderr.decode()
    except subprocess.TimeoutExpired:
        return "timeout", "", ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", choices=["etcd", "metcd"], default="etcd")
    opts = ap.parse_args()
    ctl = os.environ.get("METCDCTL_BIN", "")
    if not os.access(ETCDCTL, os.X_OK):
        print("SKIP: etcdctl is not installed")
        return 77
    binary = ETCD if opts.server == "etcd" else os.environ.get("METCD_BIN", "")
    if not os.access(binary, os.X_OK):
        # Only etcd, a tool from outside the project, may be missing.
        print("%s: %s is not available" % ("SKIP" if opts.server == "etcd" else "FAIL",
                                           binary or opts.server))
        return 77 if opts.server == "etcd" else 1
    tmp = tempfile.mkdtemp(prefix="ctl-cluster-")
    procs, urls = start_cluster(opts.server, binary, tmp)
    failures = []

    def compare(label, args):
        ref, got = run(ETCDCTL, args), run(ctl, args)
        if ref != got:
            failures.append(label)
            print("MISMATCH %s\n  etcdctl : %r\n  metcdctl: %r" % (label, ref, got))
        else:
            print("ok %s -> %r" % (label, ref))
        return ref

    try:
        if not cluster_ready(urls, timeout=20):
            # A cluster that does not form is a failure, never a skip.
            print("the %s cluster did not form" % opts.server)
            return 1
        ready_at = time.time()
        all_eps = ",".join(urls.values())
        # Sorted member list: the server's order is the same for both tools.
        compare("member list", ["--endpoints", all_eps, "member", "list"])
        compare("cluster-health", ["--endpoints", urls["m2"], "cluster-health"])
        run(ETCDCTL, ["--endpoints", urls["m1"], "set", "/shared", "value"])
        compare("get via m3", ["--endpoints", urls["m3"], "get", "/shared"])
        compare("extended get, quorum", ["--endpoints", urls["m2"], "-o", "extended", "get",
                                         "-q", "/shared"])
        dead = "http://127.0.0.1:%d" % free_port()
        compare("failover past a dead endpoint",
                ["--endpoints", dead + "," + urls["m1"], "get", "/shared"])
        compare("no-sync failover", ["--no-sync", "--endpoints", dead + "," + urls["m3"],
                                     "get", "/shared"])
        # Membership changes. Both tools add and remove the same new member
        # in turn; its ID is random, so it is masked, and the member order
        # (by ID) is normalised.
        members = json.load(urllib.request.urlopen(urls["m1"] + "/v2/members",
                                                   timeout=5))["members"]
        m2 = next(m for m in members if m["name"] == "m2")
        for args in (["member", "add", "m4", "notaurl"],
                     ["member", "add", "m4", "http://127.0.0.1"],
                     ["member", "add", "m4", "http://127.0.0.1:1/path"],
                     ["member", "add", "m4"],
                     ["member", "remove", "feedbeef"],
                     ["member", "remove", "m2"],
                     ["member", "remove"],
                     ["member", "update", m2["id"], "ftp://127.0.0.1:1"],
                     ["member", "update", m2["id"]],
                     ["member", "update", m2["id"], ",".join(m2["peerURLs"])]):
            compare(" ".join(args), ["--endpoints", urls["m1"]] + args)
        # etcd (--strict-reconfig-check) adds a member only once every
        # member has been connected for 5 s.
        time.sleep(max(0.0, ready_at + 6.0 - time.time()))
        phases = []
        for tool in (ETCDCTL, ctl):
            new_peer = "http://127.0.0.1:%d" % free_port()
            # etcd refuses a configuration change (500, "has no leader" for the
            # client) until its peers have been connected for 5 s again after
            # the previous change; both tools are given the same retries.
            for attempt in range(20):
                added = run(tool, ["--endpoints", urls["m1"], "member", "add", "m4", new_peer])
                if added[0] == 0 or "has no leader" not in added[2]:
                    break
                time.sleep(1)
            new_id = added[1].split(" with ID ")[1].split()[0] if " with ID " in added[1] else "?"
            listed = run(tool, ["--endpoints", urls["m2"], "member", "list"])
            removed = run(tool, ["--endpoints", urls["m3"], "member", "remove", new_id])
            phases.append([normalise(r, new_id, new_peer) for r in (added, listed, removed)])
        for label, ref, got in zip(("member add", "member list with m4", "member remove"),
                                   phases[0], phases[1]):
            if ref != got:
                failures.append(label)
                print("MISMATCH %s\n  etcdctl : %r\n  metcdctl: %r" % (label, ref, got))
            else:
                print("ok %s -> %r" % (label, ref))

        # Stop one follower for good: the cluster is degraded.
        leader = json.load(urllib.request.urlopen(urls["m1"] + "/v2/members/leader",
                                                  timeout=5))["id"]
        members = json.load(urllib.request.urlopen(urls["m1"] + "/v2/members",
                                                   timeout=5))["members"]
        victim = next(m["name"] for m in members if m["id"] != leader)
        alive = [n for n in urls if n != victim]
        p, log = procs[victim]
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        ref = compare("cluster-health with %s down" % victim,
                      ["--endpoints", urls[alive[0]], "cluster-health"])
        if ref[0] != 5 or "cluster is degraded" not in ref[1]:
            failures.append("etcdctl did not report a degraded cluster: %r" % (ref,))
        compare("member list with %s down" % victim,
                ["--endpoints", urls[alive[1]], "member", "list"])
        compare("get with %s down" % victim,
                ["--endpoints", urls[alive[1]], "get", "/shared"])
    finally:
        for p, log in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()
            if opts.server == "metcd":
                note_crash(p, "metcd", log.name)
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d cases differ" % len(failures))
        return 1
    print("all cluster cases match etcdctl (%s)" % opts.server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
