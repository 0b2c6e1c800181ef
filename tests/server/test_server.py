"""The metcd program: start-up, IDs, configuration sources, errors, the data
directory lock, signals and TTL expiry. Each case starts its own processes.

Usage: test_server.py [case ...]   (all cases when none is named)
"""
import json
import os
import sys
import signal
import subprocess
import threading
import time

import shutil

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from metcd_proc import (METCD_BIN, SANITIZED, START_TIMEOUT, Metcd, Skip, check, clean_env,
                        cluster_id, eq, free_port, http, json_body, member_id, note_crash,
                        run_cases)


def members_of(url):
    status, headers, body = http("GET", url + "/v2/members")
    eq(status, 200, "/v2/members status")
    return headers, json_body(body)["members"]


def case_start_and_answer():
    with Metcd("n1", args=["--initial-cluster-token", "tok-x"]) as m:
        m.wait_ready()
        status, headers, body = http("GET", m.client_url + "/version")
        eq(status, 200, "/version status")
        eq(body, b'{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}', "/version body")
        status, headers, body = http("GET", m.client_url + "/health")
        eq((status, body), (200, b'{"health":"true"}'), "/health")
        headers, members = members_of(m.client_url)
        mid = member_id([m.peer_url], "tok-x")
        eq(members, [{"id": "%x" % mid, "name": "n1", "peerURLs": [m.peer_url],
                      "clientURLs": [m.client_url]}], "/v2/members")
        eq(headers.get("X-Etcd-Cluster-Id"), "%x" % cluster_id([mid]), "X-Etcd-Cluster-Id")
        log = m.stderr()
        check("ready to serve client requests on 127.0.0.1:%d" % m.client_port in log,
              "no ready line in the log:\n" + log)
        check("starting member %x in cluster %x" % (mid, cluster_id([mid])) in log,
              "no IDs in the log:\n" + log)
        # The data directory exists, private, with member/ inside.
        st = os.stat(m.data_dir)
        eq(st.st_mode & 0o777, 0o700, "data dir mode")
        check(os.path.isdir(os.path.join(m.data_dir, "member")), "no member/ dir")
        # The peer URL is bound (nothing is served on it yet).
        import socket
        s = socket.create_connection(("127.0.0.1", m.peer_port), timeout=2)
        s.close()
        eq(m.stop(), 0, "exit status after SIGTERM")


def case_known_etcd_ids():
    # The IDs the real etcd 3.4.23 printed for this configuration: member
    # b37b196d6fe9b1b6 in cluster eaf0d36789f7bb45.
    p1, p2 = 23997, 23998
    peers = "http://127.0.0.1:%d,http://127.0.0.1:%d" % (p2, p1)
    c = free_port()
    curl = "http://127.0.0.1:%d" % c
    # Only the advertised URLs enter the IDs: the peer listener takes any free port.
    with Metcd("n1", default_flags=False, client_port=c,
               args=["--name", "n1", "--listen-client-urls", curl,
                     "--advertise-client-urls", curl,
                     "--listen-peer-urls", "http://127.0.0.1:0",
                     "--initial-advertise-peer-urls", peers,
                     "--initial-cluster",
                     "n1=http://127.0.0.1:%d,n1=http://127.0.0.1:%d" % (p2, p1),
                     "--initial-cluster-token", "tok-x"]) as m:
        m.wait_ready()
        headers, members = members_of(curl)
        eq(members[0]["id"], "b37b196d6fe9b1b6", "member id")
        eq(members[0]["peerURLs"], ["http://127.0.0.1:%d" % p1, "http://127.0.0.1:%d" % p2],
           "peer URLs sorted")
        eq(headers.get("X-Etcd-Cluster-Id"), "eaf0d36789f7bb45", "cluster id")
        eq(m.stop(), 0, "exit status")


def case_ids_match_real_etcd():
    # The same configuration given to the real etcd and to metcd, one after
    # the other on the same ports: /v2/members and X-Etcd-Cluster-Id match.
    etcd = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)
    if etcd is None:
        raise Skip("etcd not installed")
    import tempfile
    c1, c2, p1, p2 = free_port(), free_port(), free_port(), free_port()
    curls = "http://127.0.0.1:%d,http://127.0.0.1:%d" % (c2, c1)
    purls = "http://127.0.0.1:%d,http://127.0.0.1:%d" % (p2, p1)
    args = ["--name", "cmp", "--listen-client-urls", curls, "--advertise-client-urls", curls,
            "--listen-peer-urls", purls, "--initial-advertise-peer-urls", purls,
            "--initial-cluster", ",".join("cmp=" + u for u in purls.split(",")),
            "--initial-cluster-token", "cmp-token-%d" % p1]
    url = "http://127.0.0.1:%d" % c1
    answers = []
    with tempfile.TemporaryDirectory(prefix="metcd-etcd-") as d:
        for argv in ([etcd, "--enable-v2=true", "--data-dir", os.path.join(d, "etcd")] + args,
                     [METCD_BIN, "--data-dir", os.path.join(d, "metcd")] + args):
            log = open(os.path.join(d, "log"), "wb")
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    env=clean_env(), cwd=d)
            try:
                deadline = time.monotonic() + 30
                got = None
                while time.monotonic() < deadline and proc.poll() is None:
                    try:
                        status, headers, body = http("GET", url + "/v2/members", timeout=2)
                        if status == 200 and json_body(body)["members"][0]["clientURLs"]:
                            got = (headers.get("X-Etcd-Cluster-Id"), json_body(body))
                            break
                    except OSError:
                        pass
                    time.sleep(0.1)
                check(got is not None, "%s did not answer /v2/members" % argv[0])
                answers.append(got)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
                log.close()
                if argv[0] == METCD_BIN:
                    note_crash(proc, "metcd", log.name)
    eq(answers[1], answers[0], "metcd (cluster id, members) vs etcd")


def case_env_config():
    c, p = free_port(), free_port()
    curl, purl = "http://127.0.0.1:%d" % c, "http://127.0.0.1:%d" % p
    with Metcd(default_flags=False, client_port=c, env={
            "ETCD_NAME": "from-env",
            "ETCD_LISTEN_CLIENT_URLS": curl,
            "ETCD_ADVERTISE_CLIENT_URLS": curl,
            "ETCD_LISTEN_PEER_URLS": purl,
            "ETCD_INITIAL_ADVERTISE_PEER_URLS": purl,
            "ETCD_ENABLE_V2": "true",
            "ETCD_NOT_A_FLAG": "1"}) as m:
        m.wait_ready()
        _, members = members_of(curl)
        eq(members[0]["name"], "from-env", "name from ETCD_NAME")
        eq(members[0]["clientURLs"], [curl], "client URLs from env")
        eq(members[0]["id"], "%x" % member_id([purl], "etcd-cluster"), "member id")
        check("unrecognized environment variable ETCD_NOT_A_FLAG=1" in m.stderr(),
              "no warning for ETCD_NOT_A_FLAG:\n" + m.stderr())
        # data-dir defaults to <name>.metcd in the working directory
        check(os.path.isdir(os.path.join(m.tmp.name, "from-env.metcd", "member")),
              "default data dir not created")
        eq(m.stop(signal.SIGINT), 0, "exit status after SIGINT")


def case_env_conflict_and_two_listeners():
    # A flag given both ways: etcd 3.4.23 refuses to start, naming the
    # variable, with exit status 1 (asked of etcd itself).
    rc, out, err = run_bad(["--name", "flagname", "--data-dir", "/nonexistent-metcd-dir/x"],
                           {"ETCD_NAME": "envname"})
    eq(rc, 1, "exit status with --name and ETCD_NAME")
    lines = err.splitlines()
    eq(len(lines), 1, "stderr lines: %r" % err)
    check(lines[0].endswith(' C | pkg/flags: conflicting environment variable "ETCD_NAME" is '
                            'shadowed by corresponding command-line flag (either unset '
                            'environment variable or disable flag)'), lines[0])
    c1, c2, p = free_port(), free_port(), free_port()
    u1, u2, purl = ("http://127.0.0.1:%d" % c1, "http://127.0.0.1:%d" % c2,
                    "http://127.0.0.1:%d" % p)
    with Metcd(default_flags=False, client_port=c1,
               args=["--name", "flagname", "--listen-client-urls=%s,%s" % (u1, u2),
                     "-advertise-client-urls", "%s,%s" % (u2, u1),
                     "-listen-peer-urls=" + purl, "--initial-advertise-peer-urls", purl],
               env={"ETCD_INITIAL_CLUSTER_TOKEN": "envtok"}) as m:
        m.wait_ready()
        m.wait_ready(u2)
        for u in (u1, u2):
            _, members = members_of(u)
            eq(members[0]["name"], "flagname", "the name from the flag")
            eq(members[0]["id"], "%x" % member_id([purl], "envtok"), "the token from the variable")
            eq(members[0]["clientURLs"], sorted([u1, u2]), "both client URLs, sorted")
        eq(m.stop(), 0, "exit status")


def case_yaml_config():
    c, p = free_port(), free_port()
    curl, purl = "http://127.0.0.1:%d" % c, "http://127.0.0.1:%d" % p
    import tempfile
    with tempfile.TemporaryDirectory(prefix="metcd-yaml-") as d:
        path = os.path.join(d, "metcd.yaml")
        with open(path, "w") as f:
            f.write("name: from-yaml\n"
                    "data-dir: %s\n"
                    "listen-client-urls: %s\n"
                    "advertise-client-urls: %s\n"
                    "listen-peer-urls: %s\n"
                    "initial-advertise-peer-urls: %s\n"
                    "initial-cluster: from-yaml=%s\n"
                    "initial-cluster-token: yaml-token\n"
                    "heartbeat-interval: 100\n"
                    "election-timeout: 1000\n"
                    "enable-v2: true\n" % (os.path.join(d, "data"), curl, curl, purl, purl, purl))
        # The file wins: the flags and variables given with it are ignored.
        with Metcd(default_flags=False, client_port=c,
                   args=["--config-file", path, "--name", "ignored"],
                   env={"ETCD_INITIAL_CLUSTER_TOKEN": "also-ignored"}) as m:
            m.wait_ready()
            _, members = members_of(curl)
            eq(members[0]["name"], "from-yaml", "name from the file")
            eq(members[0]["id"], "%x" % member_id([purl], "yaml-token"), "id from the file")
            check(os.path.isdir(os.path.join(d, "data", "member")), "data dir from the file")
            eq(m.stop(), 0, "exit status")


def run_bad(args, env=None):
    p = subprocess.run([METCD_BIN] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       env=clean_env(env), timeout=START_TIMEOUT)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def case_bad_configuration():
    d = "/nonexistent-metcd-dir/never-created"  # never reached: config fails first
    # Exit status as etcd 3.4.23's: 2 when Go's flag package refuses a
    # command-line flag, 1 for what etcd checks after it.
    cases = [
        (["--bogus"], None, "flag provided but not defined: -bogus"),
        (["stray"], None, "error verifying flags, 'stray' is not a valid flag. See 'metcd --help'."),
        (["--heartbeat-interval=abc"], None,
         'invalid value "abc" for flag -heartbeat-interval: parse error'),
        (["--listen-client-urls", "http://127.0.0.1", "--advertise-client-urls",
          "http://127.0.0.1:1"], None, 'URL address does not have the form "host:port"'),
        (["--backend", "rocksdb"], None, "must be memory, lmdb or leveldb"),
        (["--enable-v2=maybe"], None, 'invalid boolean value "maybe" for -enable-v2'),
        ([], {"ETCD_SNAPSHOT_COUNT": "x"}, 'invalid value "x" for ETCD_SNAPSHOT_COUNT'),
        (["--config-file", "/nonexistent/metcd.yaml"], None, "cannot read config file"),
        (["--election-timeout", "10"], None, "--election-timeout[10ms] should be at least"),
        (["--log-level", "loud"], None, 'unknown level "loud"'),
        (["--log-outputs", "default,stdout"], None,
         'multi logoutput for "default" is not supported yet'),
        (["--listen-client-urls", "https://127.0.0.1:%d" % free_port(),
          "--advertise-client-urls", "https://127.0.0.1:1"], None,
         "TLS key/cert (--cert-file, --key-file) must be provided for client url"),
        (["--initial-cluster", "default=http://localhost:2380,b=http://localhost:2380"], None,
         "initial cluster has duplicate url"),
        (["--discovery=http://127.0.0.1:1/t", "--initial-cluster", "n=http://127.0.0.1:2"],
         None, "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", "
               "\"discovery\" or \"discovery-srv\". See 'metcd --help'."),
        (["--leveldb-cache-bytes=64MiB"], None,
         'invalid value "64MiB" for flag -leveldb-cache-bytes: parse error'),
        (["--backend=leveldb", "--leveldb-write-buffer-bytes=4096"], None,
         "--leveldb-write-buffer-bytes must be between 65536 and 1073741824"),
    ]
    exit_1 = ("--leveldb-write-buffer-bytes=4096", "stray", "ETCD_SNAPSHOT_COUNT", "/nonexistent/metcd.yaml", "--election-timeout",
              "default,stdout", "--discovery=http://127.0.0.1:1/t", "https://127.0.0.1:1")
    for args, env, want in cases:
        rc, out, err = run_bad(["--data-dir", d] + args, env)
        one = any(a in args or (env and a in env) for a in exit_1)
        eq(rc, 1 if one else 2, "exit status for %s %s" % (args, env))
        lines = err.splitlines()
        eq(len(lines), 1, "stderr lines for %s: %r" % (args, err))
        check(want in lines[0], "%s: %r lacks %r" % (args, lines[0], want))
        if one:
            check(" E | etcdmain: error verifying flags, " in lines[0], lines[0])
        eq(out, "", "stdout for %s" % args)
    check(not os.path.exists(d), "data dir created despite a bad configuration")


def case_etcd_only_flags():
    # etcd 3.4 options metcd does not act on: it starts, with one warning line.
    with Metcd(args=["--logger", "zap", "--log-outputs=stderr", "--quota-backend-bytes",
                     "8589934592", "--auto-compaction-retention=1", "--pre-vote",
                     "--proxy=off", "--client-cert-auth=false"],
               env={"ETCD_MAX_TXN_OPS": "256"}) as m:
        m.wait_ready()
        members_of(m.client_url)
        lines = [l for l in m.stderr().splitlines() if "ignoring etcd options" in l]
        eq(len(lines), 1, "one warning line:\n" + m.stderr())
        for f in ("--logger", "--quota-backend-bytes",
                  "--auto-compaction-retention", "--pre-vote", "--max-txn-ops"):
            check(f in lines[0], "%s not named in %r" % (f, lines[0]))
        for f in ("--proxy", "--client-cert-auth", "--log-outputs"):
            check(f not in lines[0], "%s named in %r" % (f, lines[0]))
        eq(m.stop(), 0, "exit status")


def case_version_and_help():
    rc, out, err = run_bad(["--version"])
    eq(rc, 0, "--version status")
    check(out.startswith("metcd Version: 0.1.0\netcd API Version: 3.4.23\n"), out)
    eq(err, "", "--version stderr")
    for h in ("--help", "-h"):
        rc, out, err = run_bad([h])
        eq(rc, 0, h + " status")
        for flag in ("--name 'default'", "--listen-client-urls 'http://localhost:2379'",
                     "--backend 'memory'", "--watch-history '1000'", "--config-file"):
            check(flag in out, "%s lacks %s" % (h, flag))


def case_data_dir_locked():
    with Metcd("n1") as a:
        a.wait_ready()
        with Metcd("n1", data_dir=a.data_dir) as b:
            rc = b.wait_exit(START_TIMEOUT)
            eq(rc, 1, "second metcd on the same data dir")
            check("is in use by another member" in b.stderr(), b.stderr())
        # the first one is unharmed
        eq(http("GET", a.client_url + "/health")[0], 200, "first member still serves")
        eq(a.stop(), 0, "exit status")
    # A port in use is an error too (status 1, as in etcd).
    with Metcd("n1") as a:
        a.wait_ready()
        with Metcd("n2", client_port=a.client_port) as b:
            eq(b.wait_exit(START_TIMEOUT), 1, "client port in use")
            check("address already in use" in b.stderr().lower(), b.stderr())
        eq(a.stop(), 0, "exit status")


def case_backend_kept_by_data_dir():
    """A data dir keeps the backend it was created with: another is refused
    with both named; the documented offline conversion (docs/operations.md)
    starts it on another backend with every key."""
    with Metcd("n1", args=["--backend", "lmdb"]) as a:
        a.wait_ready()
        eq(http("PUT", a.client_url + "/v2/keys/k", body=b"value=1",
                headers={"Content-Type": "application/x-www-form-urlencoded"})[0], 201, "PUT")
        eq(a.stop(), 0, "exit status")
        member = os.path.join(a.data_dir, "member")
        with open(os.path.join(member, "backend")) as f:
            eq(f.read(), "lmdb\n", "member/backend")
        for other in (["--backend", "leveldb"], []):
            with Metcd("n1", data_dir=a.data_dir, args=other, client_port=a.client_port,
                       peer_port=a.peer_port) as b:
                eq(b.wait_exit(START_TIMEOUT), 1, "start with %r" % other)
                want = "created with the lmdb backend and cannot start with --backend %s" % (
                    other[1] if other else "memory")
                check(want in b.stderr(), b.stderr())
        # The conversion: name the new backend, remove the old engine's files.
        with open(os.path.join(member, "backend"), "w") as f:
            f.write("leveldb\n")
        shutil.rmtree(os.path.join(member, "lmdb"))
        with Metcd("n1", data_dir=a.data_dir, args=["--backend", "leveldb"],
                   client_port=a.client_port, peer_port=a.peer_port) as c:
            c.wait_ready()
            st, _, body = http("GET", c.client_url + "/v2/keys/k")
            eq((st, json.loads(body)["node"]["value"]), (200, "1"), "the key after converting")
            eq(c.stop(), 0, "exit status")


def case_leveldb_sizes():
    """--leveldb-cache-bytes and --leveldb-write-buffer-bytes reach LevelDB:
    the engine logs the sizes it opened the database with."""
    with Metcd("n1", args=["--backend", "leveldb", "--leveldb-cache-bytes", "3145728",
                           "--leveldb-write-buffer-bytes", "131072"]) as m:
        m.wait_ready()
        want = "(block cache 3145728 bytes, write buffer 131072 bytes, 10-bit Bloom filter)"
        check("opened the leveldb backend in %s/member/leveldb %s" % (m.data_dir, want)
              in m.stderr(), m.stderr())
        eq(http("PUT", m.client_url + "/v2/keys/k", body=b"value=1",
                headers={"Content-Type": "application/x-www-form-urlencoded"})[0], 201, "PUT")
        eq(m.stop(), 0, "exit status")
        # The sizes are no property of the data dir: the next start takes the defaults.
        with Metcd("n1", data_dir=m.data_dir, args=["--backend", "leveldb"],
                   client_port=m.client_port, peer_port=m.peer_port) as d:
            d.wait_ready()
            check("(block cache 67108864 bytes, write buffer 16777216 bytes" in d.stderr(),
                  d.stderr())
            st, _, body = http("GET", d.client_url + "/v2/keys/k")
            eq((st, json.loads(body)["node"]["value"]), (200, "1"), "the key after a restart")
            eq(d.stop(), 0, "exit status")


def case_sigterm_with_watch():
    with Metcd("n1") as m:
        m.wait_ready()
        # A pending watch does not keep the member from stopping.
        result = {}

        def watch():
            try:
                result["r"] = http("GET", m.client_url + "/v2/keys/w?wait=true", timeout=20)
            except Exception as e:  # the connection ends when the member stops
                result["e"] = e
        t = threading.Thread(target=watch)
        t.start()
        # A keep-alive connection after one request, and one that sent nothing:
        # neither keeps the member from stopping cleanly.
        import socket
        ka = socket.create_connection(("127.0.0.1", m.client_port), timeout=5)
        ka.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        check(ka.recv(100).startswith(b"HTTP/1.1 200"), "keep-alive request")
        idle = socket.create_connection(("127.0.0.1", m.client_port), timeout=5)
        time.sleep(0.3)
        eq(m.stop(signal.SIGTERM), 0, "exit status with a watch and open connections")
        ka.close()
        idle.close()
        t.join(20)
        check(not t.is_alive(), "the watch did not end")
        check("received terminated signal" in m.stderr(), m.stderr())


def case_ttl_expiry():
    with Metcd("n1") as m:
        m.wait_ready()
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        t0 = time.monotonic()
        status, headers, body = http("PUT", m.client_url + "/v2/keys/ttlkey?ttl=1",
                                     body=b"value=v", headers=form)
        eq(status, 201, "PUT ttl=1 status: %r" % body)
        index = int(headers["X-Etcd-Index"])
        status, _, body = http("GET", m.client_url + "/v2/keys/ttlkey?wait=true&waitIndex=%d"
                               % (index + 1), timeout=10)
        elapsed = time.monotonic() - t0
        eq(status, 200, "watch status")
        ev = json_body(body)
        eq(ev["action"], "expire", "event action")
        eq(ev["node"]["key"], "/ttlkey", "event key")
        eq(ev["node"]["modifiedIndex"], index + 1, "expire index")
        eq(ev["prevNode"]["value"], "v", "prevNode value")
        # A SYNC every 500 ms: gone 1.0-1.5 s after it was set (plus slack for
        # the request round trips under a sanitizer).
        slack = 0.5 if os.environ.get("METCD_SANITIZED") == "1" else 0.25
        check(0.99 <= elapsed <= 1.5 + slack, "expired after %.3fs" % elapsed)
        eq(http("GET", m.client_url + "/v2/keys/ttlkey")[0], 404, "GET after expiry")
        eq(m.stop(), 0, "exit status")


def case_request_size_limit():
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    # Like etcd's v2 API, a 2 MiB value is accepted: etcd applies
    # --max-request-bytes to v3 requests only (Go's form limit of 10 MiB
    # holds for v2), whether the flag is given or not.
    with Metcd("n1") as m:
        m.wait_ready()
        big = b"value=" + b"y" * (2 << 20)
        status, _, body = http("PUT", m.client_url + "/v2/keys/big", body=big, headers=form,
                               timeout=30)
        eq(status, 201, "2 MiB PUT with defaults: %r" % body[:200])
        eq(m.stop(), 0, "exit status")
    # etcd 3.4.23 with --max-request-bytes 1024 --max-txn-ops 1 stores a
    # 4 KiB value through v2 (asked of etcd itself): so does metcd.
    with Metcd("n1", args=["--max-request-bytes", "1024", "--max-txn-ops", "1"]) as m:
        m.wait_ready()
        status, _, body = http("PUT", m.client_url + "/v2/keys/k", body=b"value=" + b"y" * 4096,
                               headers=form)
        eq(status, 201, "4 KiB PUT with --max-request-bytes 1024: %r" % body[:200])
        eq(len(json_body(http("GET", m.client_url + "/v2/keys/k")[2])["node"]["value"]), 4096,
           "the value stored")
        eq(m.stop(), 0, "exit status")


def case_valgrind_clean():
    # A whole life under valgrind: writes, a TTL expiry, a watch, a pending
    # watch and a keep-alive connection at SIGTERM. No error, no leak.
    if SANITIZED:
        raise Skip("sanitized build (ASan covers it)")
    if shutil.which("valgrind") is None:
        raise Skip("valgrind not installed")
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "valgrind.supp")
    vg = ["valgrind", "--quiet", "--error-exitcode=9", "--leak-check=full",
          "--errors-for-leak-kinds=definite,indirect", "--suppressions=" + supp]
    import metcd_proc
    saved = metcd_proc.START_TIMEOUT
    metcd_proc.START_TIMEOUT = 60.0  # valgrind starts slowly
    try:
        with Metcd("n1", wrapper=vg) as m:
            m.wait_ready()
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            eq(http("PUT", m.client_url + "/v2/keys/t?ttl=1", body=b"value=1",
                    headers=form)[0], 201, "PUT ttl")
            eq(http("PUT", m.client_url + "/v2/keys/d/k", body=b"value=2",
                    headers=form)[0], 201, "PUT")
            status, _, body = http("GET", m.client_url + "/v2/keys/t?wait=true&waitIndex=3",
                                   timeout=20)
            eq(json_body(body)["action"], "expire", "expire event")
            result = {}

            def watch():
                try:
                    result["r"] = http("GET", m.client_url + "/v2/keys/w?wait=true", timeout=30)
                except Exception as e:
                    result["e"] = e
            t = threading.Thread(target=watch)
            t.start()
            import socket
            ka = socket.create_connection(("127.0.0.1", m.client_port), timeout=10)
            ka.sendall(b"GET /v2/keys/d?recursive=true HTTP/1.1\r\nHost: x\r\n\r\n")
            check(ka.recv(100).startswith(b"HTTP/1.1 200"), "keep-alive request")
            time.sleep(0.5)
            rc = m.stop(timeout=60)
            t.join(30)
            ka.close()
            eq(rc, 0, "exit status under valgrind:\n" + m.stderr())
    finally:
        metcd_proc.START_TIMEOUT = saved


CASES = {
    "start_and_answer": case_start_and_answer,
    "known_etcd_ids": case_known_etcd_ids,
    "ids_match_real_etcd": case_ids_match_real_etcd,
    "env_config": case_env_config,
    "env_conflict_and_two_listeners": case_env_conflict_and_two_listeners,
    "yaml_config": case_yaml_config,
    "bad_configuration": case_bad_configuration,
    "etcd_only_flags": case_etcd_only_flags,
    "version_and_help": case_version_and_help,
    "data_dir_locked": case_data_dir_locked,
    "sigterm_with_watch": case_sigterm_with_watch,
    "backend_kept_by_data_dir": case_backend_kept_by_data_dir,
    "leveldb_sizes": case_leveldb_sizes,
    "ttl_expiry": case_ttl_expiry,
    "request_size_limit": case_request_size_limit,
    "valgrind_clean": case_valgrind_clean,
}

if __name__ == "__main__":
    run_cases(CASES)
