#!/usr/bin/python3
"""Fault tests of a 3- or 5-member cluster: kill -9, SIGSTOP/SIGCONT and
network partitions under client load, with a linearizability check.

    /usr/bin/python3 tests/cluster/test_faults.py [options] [case ...]

    --impl etcd|metcd   what to run (default: $CLUSTER_IMPL, else metcd from
                        $METCD_BIN); etcd is /usr/bin/etcd (or $ETCD_BIN)
    --members N         cluster size for the cases that do not fix it (3)
    --seconds S         length of each linearizability run (40)
    --seed S            seed of the first linearizability run (default: time)
    --runs R            linearizability runs, seeds S, S+1, ... (1)
    --local-reads       linearizable reads without quorum=true: stale reads
                        are allowed by etcd there, and the checker must say so

Cases (all by default): harness, kill_leader, kill_leader_5, stop_leader, partition,
linearizable, clients, membership, snapshot_catch_up. Each case starts its own cluster, bounds every wait
and its request count, prints the figures it measured as `figure` lines, and
fails (exit 1) when the cluster misbehaves or cannot be started; nothing is
skipped. python3-etcd (the `clients` case) is Debian's, so run this with
/usr/bin/python3.
"""
import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster, ClusterError, http_request  # noqa: E402
import linearizability as L  # noqa: E402

ARGS = None
FIGURES = []
NEW_LEADER_BOUND = 10.0       # seconds; two election timeouts are 2 s here


def figure(case, **values):
    line = "figure %s: %s" % (case, " ".join("%s=%s" % kv for kv in values.items()))
    FIGURES.append(line)
    print(line, flush=True)


def check(cond, msg, cluster=None):
    if not cond:
        raise AssertionError(msg + ("\n" + cluster.logs() if cluster else ""))


def new_cluster(size=None, **kw):
    return Cluster(size or ARGS.members, impl=ARGS.impl, **kw)


# ---- client load ---------------------------------------------------------

class Writers:
    """Client threads writing unique keys under prefix, each request to the
    next member of targets() in turn. Records every acknowledged write with
    the index it was acknowledged with. Bounded by max_ops per thread and by
    stop()."""

    def __init__(self, cluster, prefix, threads=4, timeout=3.0, max_ops=3000,
                 targets=None, pause=0.002):
        self.cluster = cluster
        self.prefix = prefix
        self.timeout = timeout
        self.max_ops = max_ops
        self.targets = targets or cluster.members
        self.pause = pause
        self.acked = []          # (key, value, index, invoke, complete, member)
        self.errors = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self, i):
        members = list(self.targets)
        for n in range(self.max_ops):
            if self.done.is_set():
                return
            m = members[(i + n) % len(members)]
            key = "%s/w%d-%d" % (self.prefix, i, n)
            value = "v%d-%d" % (i, n)
            t0 = time.monotonic()
            try:
                status, _, body = http_request(m.url("/v2/keys" + key), "PUT",
                                               {"value": value}, timeout=self.timeout)
                t1 = time.monotonic()
                if status in (200, 201):
                    node = body["node"]
                    check(node["value"] == value, "write answered %r" % body)
                    with self.lock:
                        self.acked.append((key, value, node["modifiedIndex"], t0, t1, m.name))
                else:
                    self._error("http %s" % status)
            except OSError as e:
                self._error(type(e).__name__)
                time.sleep(0.05)
            time.sleep(self.pause)

    def _error(self, what):
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(timeout=self.timeout + 5.0)
        check(not any(t.is_alive() for t in self.threads), "writer threads did not stop")


def listing(member, prefix, quorum=True, timeout=10.0):
    """{key: (value, modifiedIndex)} of every key under prefix (recursive)."""
    params = {"recursive": "true"}
    if quorum:
        params["quorum"] = "true"
    status, _, body = member.get("/v2/keys" + prefix, params, timeout=timeout)
    if status == 404:
        return {}
    check(status == 200, "listing %s on %s: %s %r" % (prefix, member.name, status, body))
    out = {}

    def walk(node):
        if node.get("dir"):
            for child in node.get("nodes", []):
                walk(child)
        else:
            out[node["key"]] = (node.get("value"), node["modifiedIndex"])
    walk(body["node"])
    return out


def assert_acked_present(cluster, member, writers, case):
    """Every acknowledged write is readable, with the value and the index it
    was acknowledged with."""
    have = listing(member, writers.prefix)
    lost = [(k, v, i) for (k, v, i, _, _, _) in writers.acked if have.get(k) != (v, i)]
    check(not lost, "%s: %d of %d acknowledged writes lost or changed, first: %r (read %r)"
          % (case, len(lost), len(writers.acked), lost[:5],
             [have.get(k) for k, _, _ in lost[:5]]), cluster)
    return len(writers.acked)


def wait_for(pred, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))


def same_keys_after(lead, member, prefix, what, timeout=60.0):
    """Waits (bounded) until member's own store (no quorum) lists the same
    keys under prefix as lead's does now; returns the seconds it took."""
    t0 = time.monotonic()
    leader_view = listing(lead, prefix)

    def caught_up():
        try:
            return listing(member, prefix, quorum=False) == leader_view
        except (OSError, AssertionError):
            return False
    wait_for(caught_up, timeout, what)
    return time.monotonic() - t0


def put(member, key, value, timeout=5.0, **params):
    params["value"] = value
    return http_request(member.url("/v2/keys" + key), "PUT", params, timeout=timeout)


def put_until_ok(member, key, value, timeout=20.0):
    """Retries (bounded) until the write is acknowledged; returns the node."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            status, _, body = put(member, key, value, timeout=5.0)
            if status in (200, 201):
                return body["node"]
            last = (status, body)
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise AssertionError("write of %s on %s not acknowledged within %.0fs: %r"
                         % (key, member.name, timeout, last))


# ---- a member far behind catches up by snapshot ------------------------

def snapshot_catch_up():
    """A follower is paused while more entries are committed than the
    leader keeps behind its newest snapshot (etcd keeps 5,000): when it
    resumes, the leader must send it a snapshot, and it must end with every
    acknowledged write, its own store equal to the leader's."""
    case = "snapshot_catch_up"
    with new_cluster(3, snapshot_count=500) as c:
        lead = c.start()
        follower = [m for m in c.members if m is not lead][0]
        c.stop(follower)
        w = Writers(c, "/snap", threads=6, max_ops=1300, pause=0.0,
                    targets=[lead]).start()
        deadline = time.monotonic() + 90.0
        while any(t.is_alive() for t in w.threads) and time.monotonic() < deadline:
            time.sleep(0.2)
        w.stop()
        acked = len(w.acked)
        check(acked >= 6000, "%s: only %d writes acknowledged while the follower was paused"
              % (case, acked), c)
        c.cont(follower)
        # Plain reads on the follower: its own store, not the leader's.
        took = same_keys_after(lead, follower, "/snap", "the paused follower to catch up")
        n = assert_acked_present(c, follower, w, case)
        if c.impl == "metcd":
            log = open(follower.log_path, errors="replace").read()
            check("applied incoming snapshot" in log,
                  "%s: the follower caught up without a snapshot" % case, c)
        figure(case, acked_while_paused=acked, caught_up_s="%.2f" % took, checked=n)


# ---- (a) kill -9 the leader under load ----------------------------------

def kill_leader(size=None):
    case = "kill_leader_%d" % (size or ARGS.members)
    with new_cluster(size) as c:
        lead = c.start()
        w = Writers(c, "/kill", threads=4).start()
        time.sleep(2.0)
        before = len(w.acked)
        probe = {}

        def prober():
            # Short writes to the survivors, one after the other, until one
            # is acknowledged: the failover time a client sees.
            survivors = c.others(lead)
            for n in range(400):
                if time.monotonic() - t_kill > 2 * NEW_LEADER_BOUND:
                    return
                try:
                    status, _, _ = put(survivors[n % len(survivors)], "/kill/probe", str(n),
                                       timeout=0.5)
                    if status in (200, 201):
                        probe["t"] = time.monotonic()
                        return
                except OSError:
                    pass
                time.sleep(0.01)
        t_kill = time.monotonic()
        c.kill(lead)
        pt = threading.Thread(target=prober, daemon=True)
        pt.start()
        new = c.leader(NEW_LEADER_BOUND, among=c.others(lead), exclude=[lead])
        t_leader = time.monotonic() - t_kill
        pt.join(timeout=2 * NEW_LEADER_BOUND + 1.0)
        check("t" in probe, "no write acknowledged within %.0fs of the kill"
              % (2 * NEW_LEADER_BOUND), c)
        t_write = probe["t"] - t_kill
        check(t_write < NEW_LEADER_BOUND, "first write acknowledged %.2fs after the kill"
              % t_write, c)
        time.sleep(2.0)
        w.stop()
        check(t_leader < NEW_LEADER_BOUND, "new leader after %.2fs" % t_leader, c)
        n = assert_acked_present(c, new, w, case)
        c.restart(lead)
        t0 = time.monotonic()
        c.wait_converged(timeout=30.0)
        t_catch = time.monotonic() - t0
        # The restarted member answers exactly as the leader does.
        leader_now = c.leader(NEW_LEADER_BOUND)
        check(listing(lead, "/kill", quorum=False) == listing(leader_now, "/kill", quorum=False),
              "restarted member differs from the leader", c)
        assert_acked_present(c, lead, w, case)
        figure(case, members=c.size, election_timeout_s=c.election_timeout(),
               new_leader_s="%.2f" % t_leader, first_write_after_kill_s="%.2f" % t_write,
               acked_writes=n, acked_before_kill=before, write_errors=sum(w.errors.values()),
               catch_up_s="%.2f" % t_catch)


def kill_leader_5():
    kill_leader(5)


# ---- (b) SIGSTOP the leader past the election timeout, then SIGCONT -------

def stop_leader():
    case = "stop_leader"
    with new_cluster() as c:
        old = c.start()
        put_until_ok(old, "/stop/x", "before")
        w = Writers(c, "/stop/load", threads=3, targets=c.others(old)).start()
        time.sleep(1.0)
        t_stop = time.monotonic()
        c.stop(old)
        new = c.leader(NEW_LEADER_BOUND, among=c.others(old), exclude=[old])
        t_leader = time.monotonic() - t_stop
        # Past the election timeout for sure, then a write the old leader missed.
        time.sleep(max(0.0, 2 * c.election_timeout() - (time.monotonic() - t_stop)))
        node = put_until_ok(new, "/stop/x", "after")
        # Readers hammer the old leader with quorum reads from the moment it
        # resumes: "before" would be a stale read.
        answers = []
        alock = threading.Lock()
        done = threading.Event()

        def reader(i):
            for _ in range(200):
                if done.is_set():
                    return
                t0 = time.monotonic()
                try:
                    status, _, body = old.get("/v2/keys/stop/x", {"quorum": "true"}, timeout=15.0)
                    value = body["node"]["value"] if status == 200 else None
                    res = (status, value, body.get("errorCode") if status != 200 else None)
                except OSError as e:
                    res = ("error", type(e).__name__, None)
                with alock:
                    answers.append(res + (time.monotonic() - t0,))
                time.sleep(0.02)
        # The first reads are sent while it is still paused (the kernel queues
        # them), so they are the first thing it handles when it resumes.
        readers = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(3)]
        for t in readers:
            t.start()
        time.sleep(0.3)
        c.cont(old)
        t_cont = time.monotonic()
        stepped = wait_for(lambda: _state(c, old) == "StateFollower", 15.0,
                           "the old leader to step down")
        t_down = time.monotonic() - t_cont
        time.sleep(3.0)
        done.set()
        for t in readers:
            t.join(timeout=20.0)
        w.stop()
        stale = [a for a in answers if a[1] == "before"]
        check(not stale, "stale quorum reads on the old leader: %r" % stale[:5], c)
        fresh = [a for a in answers if a[1] == "after"]
        check(fresh, "no quorum read on the resumed member succeeded: %r" % answers[:10], c)
        leader_now = c.leader(NEW_LEADER_BOUND)
        n = assert_acked_present(c, leader_now, w, case)
        c.wait_converged(timeout=30.0)
        status, _, body = old.get("/v2/keys/stop/x", {"quorum": "true"}, timeout=10.0)
        check(status == 200 and body["node"]["modifiedIndex"] >= node["modifiedIndex"],
              "old leader reads %s %r" % (status, body), c)
        slow = [a for a in answers if a[0] != 200]
        figure(case, members=c.size, new_leader_s="%.2f" % t_leader, stepped_down=bool(stepped),
               step_down_after_cont_s="%.2f" % t_down, quorum_reads=len(answers),
               fresh=len(fresh), stale=len(stale), not_answered=len(slow),
               slowest_read_s="%.2f" % max(a[3] for a in answers), acked_writes=n)


def _state(c, m):
    try:
        return c.stats_self(m, timeout=2.0).get("state")
    except OSError:
        return None


# ---- (c) a partition made with the relay --------------------------------

def partition():
    case = "partition"
    with new_cluster() as c:
        c.start()
        put_until_ok(c.members[0], "/part/base", "0")
        old = c.leader(NEW_LEADER_BOUND)
        others = c.others(old)
        # The leader, plus one follower in a 5-member cluster, is the minority.
        minority = [old] + others[:(c.size - 1) // 2 - 1]
        majority = [m for m in c.members if m not in minority]
        c.relay.partition([m.name for m in minority], [m.name for m in majority])
        t_cut = time.monotonic()
        new = c.leader(NEW_LEADER_BOUND, among=majority, exclude=minority)
        t_leader = time.monotonic() - t_cut
        # Requests on the minority, in parallel with writes on the majority.
        results = []
        rlock = threading.Lock()

        def minority_request(m, i):
            t0 = time.monotonic()
            try:
                if i % 2 == 0:
                    status, _, body = put(m, "/part/minority-%s-%d" % (m.name, i), "x",
                                          timeout=20.0)
                else:
                    status, _, body = m.get("/v2/keys/part/base", {"quorum": "true"},
                                            timeout=20.0)
                res = (m.name, i, status, body)
            except OSError as e:
                res = (m.name, i, "error", type(e).__name__)
            with rlock:
                results.append(res + (time.monotonic() - t0,))
        threads = [threading.Thread(target=minority_request, args=(m, i), daemon=True)
                   for m in minority for i in range(4)]
        for t in threads:
            t.start()
        w = Writers(c, "/part/major", threads=3, targets=majority, max_ops=500).start()
        time.sleep(4.0)
        w.stop()
        for t in threads:
            t.join(timeout=25.0)
        check(len(results) == len(threads), "minority requests still open", c)
        committed = [r for r in results if r[2] in (200, 201)]
        check(not committed, "the minority answered as if committed: %r" % committed, c)
        check(len(w.acked) > 20, "the majority made no progress: %d writes, errors %r"
              % (len(w.acked), w.errors), c)
        ready_after = sorted(r[4] for r in results)
        # Still partitioned: the majority holds none of the minority's writes.
        during = listing(new, "/part", quorum=True)
        check(not [k for k in during if "/minority-" in k],
              "a write sent to the minority was committed during the partition: %r"
              % sorted(during), c)
        c.relay.heal_all()
        t_heal = time.monotonic()
        final = c.leader(NEW_LEADER_BOUND)
        c.wait_converged(timeout=30.0)
        t_conv = time.monotonic() - t_heal
        n = assert_acked_present(c, final, w, case)
        # A write that timed out has an unknown outcome: it may still be
        # applied once the partition heals (seen with etcd 3.4, 5 members).
        # Count them; every member holds the same (wait_converged above).
        surfaced = sorted(k for k in listing(final, "/part", quorum=True) if "/minority-" in k)
        figure(case, members=c.size, minority=",".join(m.name for m in minority),
               new_leader_s="%.2f" % t_leader, majority_acked=n,
               minority_requests=len(results),
               minority_answers=",".join(sorted({str(r[2]) for r in results})),
               minority_answer_s="%.1f-%.1f" % (ready_after[0], ready_after[-1]),
               converged_after_heal_s="%.2f" % t_conv,
               timed_out_writes_applied_after_heal=len(surfaced),
               relay=json.dumps({k: v for k, v in c.relay.stats().items()
                                 if k != "open_by_pair"}).replace(" ", ""))


# ---- (d) linearizability under faults -------------------------------------

def kv_op(m, kind, key, value=None, prev=None, timeout=10.0):
    """One v2 request; returns (outcome, result, note) for the checker."""
    path = m.url("/v2/keys" + key)
    try:
        if kind == L.READ:
            params = {} if (ARGS and ARGS.local_reads) else {"quorum": "true"}
            status, _, body = http_request(path, "GET", params, timeout=timeout)
        elif kind == L.WRITE:
            status, _, body = http_request(path, "PUT", {"value": value}, timeout=timeout)
        elif kind == L.CAS:
            status, _, body = http_request(path, "PUT", {"value": value, "prevValue": prev},
                                           timeout=timeout)
        elif kind == L.CREATE:
            status, _, body = http_request(path, "PUT", {"value": value, "prevExist": "false"},
                                           timeout=timeout)
        else:
            status, _, body = http_request(path, "DELETE", timeout=timeout)
    except ConnectionRefusedError:
        return "dropped", None, m.name + " refused"
    except OSError as e:
        return L.INFO, None, "%s %s" % (m.name, type(e).__name__)
    note = m.name
    if status in (200, 201):
        if kind == L.READ:
            return L.OK, body["node"].get("value"), note
        return L.OK, None, note + " @%s" % body["node"]["modifiedIndex"]
    code = body.get("errorCode") if isinstance(body, dict) else None
    if kind == L.READ and code == 100:
        return L.OK, None, note
    if (kind, code) in L.DEFINITE_FAILURES:
        return L.FAIL, code, note
    return L.INFO, None, "%s http %s %s" % (m.name, status, code)


class Nemesis:
    """Injects one fault at a time, chosen by a seeded generator: kill -9 (then
    restart), SIGSTOP (then SIGCONT) of the leader or of a random member, or a
    partition that isolates the leader or a random minority. Waits for an
    agreed leader after each repair; every wait is bounded."""

    KINDS = ("kill_leader", "kill_random", "stop_leader", "stop_random",
             "isolate_leader", "partition_random")

    def __init__(self, cluster, rng, deadline):
        self.c = cluster
        self.rng = rng
        self.deadline = deadline
        self.log = []
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        try:
            time.sleep(2.0)
            for _ in range(1000):
                if time.monotonic() + 6.0 > self.deadline:
                    break
                self._one(self.rng.choice(self.KINDS))
                time.sleep(self.rng.uniform(1.0, 3.0))
        except Exception as e:  # reported by the case
            self.error = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
        finally:
            self.repair()

    def _one(self, kind):
        c = self.c
        try:
            lead = c.leader(NEW_LEADER_BOUND)
        except ClusterError:
            lead = None
        victim = lead if (kind.endswith("leader") and lead) else self.rng.choice(c.members)
        hold = self.rng.uniform(1.0, 4.0)
        t0 = time.monotonic()
        if kind.startswith("kill"):
            c.kill(victim)
            time.sleep(hold)
            c.restart(victim, wait=False)
        elif kind.startswith("stop"):
            c.stop(victim)
            time.sleep(hold)
            c.cont(victim)
        elif kind == "isolate_leader":
            c.relay.isolate(victim.name)
            time.sleep(hold)
            c.relay.heal_all()
        else:
            k = self.rng.randint(1, (c.size - 1) // 2)
            side = self.rng.sample([m.name for m in c.members], k)
            c.relay.partition(side, [m.name for m in c.members if m.name not in side])
            time.sleep(hold)
            c.relay.heal_all()
            victim = None
        for m in c.members:
            if m.alive() and not m.stopped:
                c.wait_healthy(m, 30.0)
        c.leader(20.0)
        self.log.append("%s %s %.1fs (recovered after %.1fs)" % (
            kind, victim.name if victim else ",".join(side), hold, time.monotonic() - t0))

    def repair(self):
        c = self.c
        if c.relay:
            c.relay.heal_all()
        for m in c.members:
            if m.stopped:
                c.cont(m)
            if not m.alive():
                c.restart(m, wait=False)


def linearizable_run(seed, seconds):
    case = "linearizable"
    rng = random.Random(seed)
    keys = ["/lin/k%d" % i for i in range(5)]
    history = L.History()
    with new_cluster() as c:
        c.start()
        t_end = time.monotonic() + seconds
        nemesis = Nemesis(c, random.Random(rng.random()), t_end).start()
        seeds = [rng.random() for _ in range(5)]

        def client(i):
            crng = random.Random(seeds[i])
            name = "c%d" % i
            seen = {}
            for n in range(int(seconds * 300)):
                if time.monotonic() >= t_end:
                    return
                key = crng.choice(keys)
                kind = crng.choices([L.READ, L.WRITE, L.CAS, L.CREATE, L.DELETE],
                                    [40, 20, 25, 5, 10])[0]
                value = "%s-%d" % (name, n)
                prev = seen.get(key) if crng.random() < 0.8 else None
                if kind == L.CAS and prev is None:
                    prev = "%s-%d" % (name, crng.randrange(max(1, n)))
                m = crng.choice(c.members)
                op = history.invoke(name, key, kind, value=value if kind in (
                    L.WRITE, L.CAS, L.CREATE) else None, prev=prev if kind == L.CAS else None)
                outcome, result, note = kv_op(m, kind, key, op.value, op.prev)
                if outcome in (L.OK, L.FAIL):
                    history.complete(op, outcome, result, note)
                    if kind == L.READ:
                        seen[key] = result
                    elif outcome == L.OK and kind != L.DELETE:
                        seen[key] = op.value
                elif outcome == L.INFO:
                    history.info(op, note)
                else:
                    history.forget(op)
                    time.sleep(0.05)
                time.sleep(crng.uniform(0.0, 0.01))

        clients = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(5)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(timeout=seconds + 30.0)
        check(not any(t.is_alive() for t in clients), "clients did not finish", c)
        nemesis.thread.join(timeout=60.0)
        check(not nemesis.thread.is_alive(), "the fault injector did not finish", c)
        check(nemesis.error is None, "fault injection failed: %s" % nemesis.error, c)
        # Everything healed: a final quorum read of every key from every member.
        for m in c.members:
            c.wait_healthy(m, 30.0)
        c.leader(NEW_LEADER_BOUND)
        c.wait_converged(timeout=30.0)
        for m in c.members:
            for key in keys:
                op = history.invoke("final", key, L.READ)
                outcome, result, note = kv_op(m, L.READ, key)
                check(outcome == L.OK, "final read of %s on %s: %s %s" % (key, m.name,
                                                                         outcome, note), c)
                history.complete(op, outcome, result, note)
        t0 = time.monotonic()
        result = L.check([o for o in history.ops if o.outcome in (L.OK, L.FAIL, L.INFO)])
        t_check = time.monotonic() - t0
        counts = {"ops": len(history.ops)}
        for o in history.ops:
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
        ok_writes = sum(1 for o in history.ops if o.outcome == L.OK and o.kind != L.READ)
        if not result.ok:
            path = os.path.join(os.environ.get("CLUSTER_KEEP_DIR") or tempfile.gettempdir(),
                                "history-%s-seed%s.jsonl" % (c.impl, seed))
            history.save(path)
            raise AssertionError("seed %s: NOT linearizable (history saved in %s)\n%s\n"
                                 "faults: %s" % (seed, path, result.report(),
                                                 "; ".join(nemesis.log)))
        check(counts.get(L.OK, 0) > 100 and ok_writes > 20,
              "too few completed operations to mean anything: %r" % counts, c)
        figure(case, seed=seed, seconds=seconds, members=c.size, verdict="linearizable",
               faults=len(nemesis.log), check_s="%.2f" % t_check,
               **{k: v for k, v in counts.items()})
        print("  faults: " + "; ".join(nemesis.log), flush=True)


def linearizable():
    seed = ARGS.seed if ARGS.seed is not None else int(time.time()) % 100000
    failures = []
    for r in range(ARGS.runs):
        try:
            linearizable_run(seed + r, ARGS.seconds)
        except Exception as e:
            print("seed %d FAILED: %s" % (seed + r, e), flush=True)
            failures.append(seed + r)
    check(not failures, "linearizability runs failed for seeds %r" % failures)


# ---- etcdctl v2 and python3-etcd against the cluster ----------------------

def etcdctl(c, *args, endpoints=None, timeout=30.0):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
    env["ETCDCTL_API"] = "2"
    eps = ",".join(m.client_url for m in (endpoints or c.members))
    p = subprocess.run([os.environ.get("ETCDCTL_BIN", "/usr/bin/etcdctl"), "--endpoints", eps]
                       + list(args), env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def clients():
    case = "clients"
    try:
        import etcd
    except ImportError:
        raise AssertionError("python3-etcd is not importable by %s (Debian's python3-etcd: "
                             "run this with /usr/bin/python3)" % sys.executable)
    with new_cluster() as c:
        lead = c.start()
        # etcdctl member list: every member, etcd's IDs, one leader.
        rc, out, err = etcdctl(c, "member", "list")
        check(rc == 0, "member list: %d %s %s" % (rc, out, err), c)
        rows = [l for l in out.splitlines() if l.strip()]
        check(len(rows) == c.size, "member list rows: %r" % rows)
        ids = {r.split(":")[0] for r in rows}
        check(ids == {m.id_hex for m in c.members}, "member list ids %r" % ids)
        leaders = [r for r in rows if "isLeader=true" in r]
        check(len(leaders) == 1 and leaders[0].startswith(lead.id_hex + ":"),
              "isLeader in %r (leader %s)" % (rows, lead.id_hex))
        for m in c.members:
            row = [r for r in rows if r.startswith(m.id_hex + ":")][0]
            check("name=%s " % m.name in row and m.advertised_peer_url in row
                  and m.client_url in row, "member row %r" % row)
        # cluster-health: healthy, then degraded with a member down.
        rc, out, err = etcdctl(c, "cluster-health")
        check(rc == 0 and "cluster is healthy" in out and out.count("is healthy") == c.size + 1,
              "cluster-health: %d %s %s" % (rc, out, err), c)
        follower = c.others(lead)[0]
        c.kill(follower)
        rc, out2, err2 = etcdctl(c, "cluster-health")
        check("cluster is degraded" in out2 and
              ("member %s is unreachable" % follower.id_hex) in out2,
              "cluster-health with %s down: %d %s %s" % (follower.name, rc, out2, err2), c)
        rc_degraded = rc
        c.restart(follower)
        c.leader(NEW_LEADER_BOUND)
        # etcdctl set/get with the first endpoint dead.
        c.kill(follower)
        rc, out3, err3 = etcdctl(c, "set", "/ctl/k", "v1",
                                 endpoints=[follower] + c.others(follower))
        check(rc == 0 and out3.strip() == "v1", "set with a dead endpoint: %d %s %s"
              % (rc, out3, err3), c)
        c.restart(follower)
        c.leader(NEW_LEADER_BOUND)
        # python3-etcd: cluster discovery from one endpoint.
        one = etcd.Client(host=c.members[0].client_url.split("//")[1].split(":")[0],
                          port=c.members[0].client_port, protocol="http", read_timeout=5)
        machines = sorted(one.machines)
        check(machines == sorted(m.client_url for m in c.members),
              "python-etcd machines %r" % machines, c)
        members = one.members
        check(sorted(members) == sorted(m.id_hex for m in c.members),
              "python-etcd members %r" % members)
        lead = c.leader(NEW_LEADER_BOUND)
        check(one.leader["name"] == lead.name, "python-etcd leader %r" % one.leader)
        # Failover: the client's member dies; the next request goes elsewhere.
        cl = etcd.Client(host=tuple(("127.0.0.1", m.client_port) for m in c.members),
                         protocol="http", allow_reconnect=True, read_timeout=5)
        cl.write("/py/k", "1")
        first = cl.base_uri
        victim = [m for m in c.members if m.client_url == first][0]
        c.kill(victim)
        t0 = time.monotonic()
        res = None
        for _ in range(50):
            try:
                res = cl.write("/py/k", "2")
                break
            except etcd.EtcdException:
                time.sleep(0.2)
        t_failover = time.monotonic() - t0
        check(res is not None and res.value == "2", "write after failover: %r" % res, c)
        check(cl.base_uri != first, "client still on %s" % first)
        got = cl.read("/py/k", quorum=True)
        check(got.value == "2", "read after failover %r" % got.value)
        c.restart(victim)
        c.wait_converged(timeout=30.0)
        figure(case, members=c.size, member_list_rows=len(rows),
               cluster_health_degraded_rc=rc_degraded,
               python_etcd_failover_s="%.2f" % t_failover,
               python_etcd_moved_to=cl.base_uri)


# ---- membership with etcdctl under load ------------------------------------

def membership():
    """etcdctl member add under write load, the new member started with
    --initial-cluster-state existing catches up; etcdctl member remove of a
    follower: it stops, the others go on."""
    case = "membership"
    with new_cluster() as c:
        c.start()
        w = Writers(c, "/member", threads=3, max_ops=2000).start()
        time.sleep(1.5)
        m = c.new_member()
        # etcd refuses reconfiguration until every member has been connected
        # for a few seconds (strict reconfig check): retry, bounded.
        t_add = time.monotonic()
        for _ in range(30):
            rc, out, err = etcdctl(c, "member", "add", m.name, m.advertised_peer_url)
            if rc == 0:          # etcdctl shows that refusal as "has no leader"
                break
            time.sleep(1.0)
        t_add = time.monotonic() - t_add
        check(rc == 0 and "Added member named %s with ID " % m.name in out,
              "member add: %d %s %s" % (rc, out, err), c)
        new_id = out.split(" with ID ")[1].split()[0]
        t0 = time.monotonic()
        c.start_added(m, new_id)
        rc, out, err = etcdctl(c, "member", "list")
        check(rc == 0 and len(out.strip().splitlines()) == 4 and
              ("%s: name=%s " % (new_id, m.name)) in out, "member list after add: %s %s"
              % (out, err), c)
        time.sleep(1.0)
        w.stop()
        c.wait_converged(timeout=30.0)
        t_join = time.monotonic() - t0
        lead = c.leader(NEW_LEADER_BOUND)
        n_add = assert_acked_present(c, m, w, case)
        # Remove a follower (not the new member) under load.
        w2 = Writers(c, "/member2", threads=3, max_ops=2000,
                     targets=[x for x in c.members if x is not lead]).start()
        time.sleep(1.0)
        victim = [x for x in c.others(lead) if x is not m][0]
        rc, out, err = etcdctl(c, "member", "remove", victim.id_hex,
                               endpoints=c.others(victim))
        check(rc == 0 and "Removed member %s" % victim.id_hex in out,
              "member remove: %d %s %s" % (rc, out, err), c)
        t1 = time.monotonic()
        try:
            code = victim.proc.wait(timeout=20.0)
        except subprocess.TimeoutExpired:
            raise AssertionError("the removed member %s still runs 20 s later\n%s"
                                 % (victim.name, c.logs()))
        t_exit = time.monotonic() - t1
        c.forget(victim)
        time.sleep(1.0)
        w2.stop()
        rc, out, err = etcdctl(c, "member", "list")
        check(rc == 0 and len(out.strip().splitlines()) == 3 and victim.id_hex not in out,
              "member list after remove: %s %s" % (out, err), c)
        lead = c.leader(NEW_LEADER_BOUND)
        n_rm = assert_acked_present(c, lead, w2, case)
        c.wait_converged(timeout=30.0)
        figure(case, added=m.name, add_accepted_after_s="%.1f" % t_add, join_and_converge_s="%.2f" % t_join, acked_during_add=n_add,
               removed=victim.name, removed_exit_status=code, removed_exit_s="%.2f" % t_exit,
               acked_during_remove=n_rm)


# ---- the harness itself ----------------------------------------------------

def harness():
    """A member that cannot start fails the start (with its log), bounded, and
    leaves no process behind; so does a binary that is not there."""
    case = "harness"
    c = new_cluster(extra_args=["--no-such-flag"])
    t0 = time.monotonic()
    try:
        c.start(timeout=15.0)
    except ClusterError as e:
        msg = str(e)
        check("no-such-flag" in msg, "the error does not show the member's log: %s" % msg[:500])
    else:
        raise AssertionError("a cluster whose members reject their flags started")
    finally:
        c.close()
    t_fail = time.monotonic() - t0
    check(all(m.proc is None or m.proc.poll() is not None for m in c.members),
          "a member still runs after close()")
    check(not os.path.exists(c.dir), "the cluster's temporary directory is left behind")
    import cluster as cl
    saved, cl.METCD_BIN = cl.METCD_BIN, "/nonexistent/metcd"
    try:
        Cluster(3, impl="metcd")
        raise AssertionError("a cluster of a missing binary was created")
    except ClusterError:
        pass
    finally:
        cl.METCD_BIN = saved
    figure(case, failed_start_reported_s="%.2f" % t_fail)


# ---- a one-member log trimmed past its snapshot, then a member added -------

def add_member_caught_up(c, lead, prefix, case):
    """Adds a member through lead's /v2/members, starts it and waits until
    it has lead's keys under prefix; returns it and the seconds that took."""
    m = c.new_member()
    req = urllib.request.Request(
        lead.url("/v2/members"), method="POST",
        data=json.dumps({"peerURLs": [m.advertised_peer_url]}).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10.0) as r:
            new_id = json.loads(r.read())["id"]
    except urllib.error.HTTPError as e:
        raise AssertionError("%s: member add answered %d %s\n%s"
                             % (case, e.code, e.read()[:300], c.logs()))
    t0 = time.monotonic()
    c.start_added(m, new_id)
    took = time.monotonic() - t0
    return m, took + same_keys_after(lead, m, prefix, "the added member to catch up")


def snapshot_sizes(m):
    """The sizes of m's snapshot files, in bytes."""
    snap_dir = os.path.join(m.data_dir, "member", "snap")
    return [os.path.getsize(os.path.join(snap_dir, f))
            for f in os.listdir(snap_dir) if f.endswith(".snap")]


def grow_after_trim():
    """A one-member cluster whose snapshots are slow (the test hook makes
    each take 6 s) keeps its in-memory log short anyway: with nobody to
    send entries to, it compacts the log past its newest snapshot (the WAL
    still holds the entries). A member added afterwards can only be caught
    up by a newer snapshot: one is taken at once, the new member installs
    it and ends with every acknowledged write."""
    case = "grow_after_trim"
    hooks = os.environ.get("METCD_HOOKS_BIN", "")
    if not hooks:
        raise AssertionError("METCD_HOOKS_BIN is not set (the build's tests/metcd-hooks)")
    with new_cluster(1, snapshot_count=500) as c:
        c.binary = hooks
        c.env["METCD_TEST_PAUSE_AT"] = "snapshot-save:6000"
        lead = c.start()
        w = Writers(c, "/trim", threads=6, max_ops=3000, pause=0.0, targets=[lead]).start()
        deadline = time.monotonic() + 90.0
        while any(t.is_alive() for t in w.threads) and time.monotonic() < deadline:
            time.sleep(0.2)
        w.stop()
        acked = len(w.acked)
        check(acked >= 16000, "%s: only %d writes acknowledged" % (case, acked), c)
        log = open(lead.log_path, errors="replace").read()
        trims = [int(x) for x in re.findall(r"compacted raft log at (\d+)", log)]
        check(trims, "%s: the log was never trimmed past a snapshot" % case, c)
        m, took = add_member_caught_up(c, lead, "/trim", case)
        n = assert_acked_present(c, m, w, case)
        log = open(m.log_path, errors="replace").read()
        got = [int(x) for x in re.findall(r"applied incoming snapshot at index (\d+)", log)]
        check(got, "%s: the added member caught up without a snapshot" % case, c)
        # The snapshot it was sent starts where the leader's log still had
        # entries: none older than the trimmed part.
        check(got[0] >= max(trims), "%s: sent the snapshot at %d, the log was trimmed to %d"
              % (case, got[0], max(trims)), c)
        figure(case, acked=acked, trimmed_to=max(trims), snapshot_sent=got[0],
               caught_up_s="%.2f" % took, checked=n)


# ---- a member alone on an engine, whose snapshots hold no store, grows ----

def grow_from_engine():
    """On lmdb and leveldb a one-member cluster writes snapshots without
    the store (its engine holds it, as etcd 3.4 keeps its data in bbolt and
    only members in .snap files): small files, whatever the data. A member
    added afterwards cannot be sent such a snapshot: the leader writes a
    whole one at once, the new member installs it and ends with every
    acknowledged write."""
    case = "grow_from_engine"
    if not os.environ.get("METCD_BACKEND"):
        raise AssertionError("METCD_BACKEND is not set: this case is for lmdb and leveldb")
    with new_cluster(1, snapshot_count=500) as c:
        lead = c.start()
        w = Writers(c, "/eng", threads=6, max_ops=1500, pause=0.0, targets=[lead]).start()
        deadline = time.monotonic() + 90.0
        while any(t.is_alive() for t in w.threads) and time.monotonic() < deadline:
            time.sleep(0.2)
        w.stop()
        acked = len(w.acked)
        check(acked >= 8000, "%s: only %d writes acknowledged" % (case, acked), c)
        log = open(lead.log_path, errors="replace").read()
        light = [int(x) for x in
                 re.findall(r"saved snapshot at index (\d+) \(the store is in the backend\)", log)]
        check(light, "%s: no snapshot left the store to the backend" % case, c)
        sizes = snapshot_sizes(lead)
        check(sizes and max(sizes) < 4096,
              "%s: snapshots of %r bytes; the store is in the backend" % (case, sizes), c)
        m, took = add_member_caught_up(c, lead, "/eng", case)
        n = assert_acked_present(c, m, w, case)
        got = [int(x) for x in re.findall(r"applied incoming snapshot at index (\d+)",
                                          open(m.log_path, errors="replace").read())]
        check(got and got[0] > max(light),
              "%s: the added member got snapshots %r, the leader's newest without the store "
              "was at %d" % (case, got, max(light)), c)
        sizes = snapshot_sizes(lead)
        check(max(sizes) > 100 * 1000,
              "%s: the leader's snapshots after the member joined: %r bytes" % (case, sizes), c)
        figure(case, acked=acked, engine_snapshot=max(light), snapshot_sent=got[0],
               caught_up_s="%.2f" % took, checked=n)


CASES = {
    "harness": harness,
    "kill_leader": kill_leader,
    "kill_leader_5": kill_leader_5,
    "stop_leader": stop_leader,
    "partition": partition,
    "linearizable": linearizable,
    "clients": clients,
    "membership": membership,
    "snapshot_catch_up": snapshot_catch_up,
    "grow_after_trim": grow_after_trim,
    "grow_from_engine": grow_from_engine,
}


def main(argv):
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cases", nargs="*", help="cases to run (default: all)")
    p.add_argument("--impl", choices=("etcd", "metcd"),
                   default=os.environ.get("CLUSTER_IMPL", "metcd"))
    p.add_argument("--members", type=int, choices=(3, 5), default=3)
    p.add_argument("--seconds", type=float, default=40.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--local-reads", action="store_true",
                   help="linearizable: read without quorum=true (served from the "
                   "member's own store, which may be stale: shows the checker "
                   "finding real violations)")
    ARGS = p.parse_args(argv[1:])
    # A SIGTERM (a test runner's timeout) unwinds like an exception, so every
    # cluster is closed and its members killed before the process exits.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    names = ARGS.cases or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        p.error("unknown case(s) %s; cases: %s" % (", ".join(unknown), ", ".join(CASES)))
    failed = 0
    for name in names:
        t0 = time.monotonic()
        print("---- %s (%s)" % (name, ARGS.impl), flush=True)
        try:
            CASES[name]()
            print("ok   %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
        except Exception as e:
            failed += 1
            print("FAIL %s (%.1fs): %s: %s" % (name, time.monotonic() - t0,
                                               type(e).__name__, e), flush=True)
            traceback.print_exc()
    if FIGURES:
        print("\n".join(["", "figures (%s):" % ARGS.impl] + FIGURES))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
