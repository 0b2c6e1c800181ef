"""metcd as a drop-in for etcd deployments: etcd's own documented command
lines and config file, Debian's systemd unit (with its readiness protocol),
the log, metrics, WAL directory and disaster-recovery options. Each case
starts its own processes on loopback ports of its own.

Usage: test_dropin.py [case ...]   (all cases when none is named)
"""
import gzip
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from metcd_proc import (METCD_BIN, START_TIMEOUT, Metcd, NotifySocket, check, clean_env, eq,  # noqa: E402
                        free_port, http, json_body, run_cases)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# Installed by the etcd-server package (Makefile TEST_PKGS): etcd's own
# documentation and Debian's unit.
CLUSTERING_DOC = "/usr/share/doc/etcd-server/op-guide/clustering.md.gz"
DEBIAN_UNIT = "/lib/systemd/system/etcd.service"


def put(url, key, value):
    status, headers, body = http("PUT", url + "/v2/keys/" + key, body=b"value=" + value.encode(),
                                 headers=FORM)
    check(status in (200, 201), "PUT %s: %d %r" % (key, status, body))
    return json_body(body)


def get_value(url, key, quorum=False):
    status, _, body = http("GET", url + "/v2/keys/" + key + ("?quorum=true" if quorum else ""))
    eq(status, 200, "GET %s: %r" % (key, body))
    return json_body(body)["node"]["value"]


def doc_command_lines(path, first):
    """The `$ etcd ...` command lines of an etcd documentation page, from the
    one that starts with `first`, each as a list of arguments."""
    with gzip.open(path, "rt") as f:
        text = f.read()
    lines = []
    for m in re.finditer(r"^\$ etcd (.*?)\n```", text, re.S | re.M):
        cmd = m.group(1).replace("\\\n", " ")
        lines.append(shlex.split(cmd))
    start = [i for i, a in enumerate(lines) if " ".join(a).startswith(first)]
    check(start, "%s has no command line starting with %r" % (path, first))
    return lines[start[0]:]


def case_docs_static_cluster():
    # etcd's clustering guide, "Static" bootstrap: the three command lines
    # exactly as the installed guide prints them, each machine's address
    # mapped to loopback ports of this test.
    cmds = doc_command_lines(CLUSTERING_DOC, "--name infra0 --initial-advertise-peer-urls http://")[:3]
    eq([c[1] for c in cmds], ["infra0", "infra1", "infra2"], "the guide's three members")
    ports = {}

    def mapped(arg):
        def sub(m):
            key = m.group(0)
            if key not in ports:
                ports[key] = free_port()
            return "127.0.0.1:%d" % ports[key]
        return re.sub(r"10\.0\.1\.[12][0-9]:23(79|80)", sub, arg)

    members = []
    try:
        for i, cmd in enumerate(cmds):
            # 127.0.0.1:2379 is a different port on each "machine".
            argv = [mapped(a.replace("127.0.0.1:2379", "10.0.1.2%d:2379" % i)) for a in cmd]
            check(not any("10.0.1." in a for a in argv), "unmapped address in %r" % argv)
            m = Metcd("infra%d" % i, default_flags=False, args=argv)
            m.client_url = "http://" + argv[argv.index("--advertise-client-urls") + 1].split("//")[1]
            members.append(m)
        for m in members:
            m.wait_ready()
        put(members[0].client_url, "docs", "static")
        for m in members:
            eq(get_value(m.client_url, "docs", quorum=True), "static", "read on " + m.name)
        status, _, body = http("GET", members[2].client_url + "/v2/members")
        eq(sorted(x["name"] for x in json_body(body)["members"]), ["infra0", "infra1", "infra2"],
           "members")
        for m in members:
            # The data dir defaults to <name>.metcd in the working directory.
            check(os.path.isdir(os.path.join(m.tmp.name, m.name + ".metcd", "member")),
                  "no data dir for " + m.name)
            eq(m.stop(), 0, "exit status of " + m.name)
    finally:
        for m in members:
            m.close()


# etcd 3.4's etcd.conf.yml.sample (its keys and values; the comments left
# out), with the two localhost URLs on ports of this test.
ETCD_34_SAMPLE = """\
name: 'default'
data-dir:
wal-dir:
snapshot-count: 10000
heartbeat-interval: 100
election-timeout: 1000
quota-backend-bytes: 0
listen-peer-urls: http://localhost:2380
listen-client-urls: http://localhost:2379
max-snapshots: 5
max-wals: 5
cors:
initial-advertise-peer-urls: http://localhost:2380
advertise-client-urls: http://localhost:2379
discovery:
discovery-fallback: 'proxy'
discovery-proxy:
discovery-srv:
initial-cluster:
initial-cluster-token: 'etcd-cluster'
initial-cluster-state: 'new'
strict-reconfig-check: false
enable-v2: true
enable-pprof: true
proxy: 'off'
proxy-failure-wait: 5000
proxy-refresh-interval: 30000
proxy-dial-timeout: 1000
proxy-write-timeout: 5000
proxy-read-timeout: 0
client-transport-security:
  cert-file:
  key-file:
  client-cert-auth: false
  trusted-ca-file:
  auto-tls: false
peer-transport-security:
  cert-file:
  key-file:
  client-cert-auth: false
  trusted-ca-file:
  auto-tls: false
debug: false
logger: zap
log-outputs: [stderr]
force-new-cluster: false
auto-compaction-mode: periodic
auto-compaction-retention: "1"
"""


def case_etcd_config_sample():
    c, p = free_port(), free_port()
    text = (ETCD_34_SAMPLE.replace("localhost:2379", "127.0.0.1:%d" % c)
            .replace("localhost:2380", "127.0.0.1:%d" % p))
    with tempfile.TemporaryDirectory(prefix="metcd-sample-") as d:
        path = os.path.join(d, "etcd.conf.yml")
        with open(path, "w") as f:
            f.write(text)
        with Metcd(default_flags=False, args=["--config-file", path], client_port=c) as m:
            m.wait_ready()
            put(m.client_url, "sample", "yes")
            eq(get_value(m.client_url, "sample"), "yes", "value")
            log = m.stderr()
            warn = [l for l in log.splitlines() if "ignoring etcd options" in l]
            eq(len(warn), 1, "one warning line:\n" + log)
            for f in ("--quota-backend-bytes", "--logger", "--enable-pprof",
                      "--auto-compaction-retention"):
                check(f in warn[0], "%s not named in %r" % (f, warn[0]))
            # Acted on, so not named: the log and WAL options at their defaults.
            for f in ("--debug", "--log-outputs", "--wal-dir", "--force-new-cluster"):
                check(f not in warn[0], "%s named in %r" % (f, warn[0]))
            # An empty data-dir is etcd's default: <name>.etcd, here .metcd.
            check(os.path.isdir(os.path.join(m.tmp.name, "default.metcd", "member")),
                  "no default.metcd in the working directory")
            eq(m.stop(), 0, "exit status")


def unit_command(unit_path, env_files, hostname):
    """What systemd runs for a unit: the environment from Environment= and
    EnvironmentFile= (a leading '-' marks an optional file) and ExecStart
    split as systemd splits it, $VAR and ${VAR} replaced; %H is the host
    name and %p the unit's prefix. env_files maps a file the unit names to
    the file the test reads instead (None: the one installed)."""
    prefix = os.path.basename(unit_path).rsplit(".", 1)[0]
    env, exec_start, unit_type = {}, None, None

    def spec(s):
        return s.replace("%H", hostname).replace("%p", prefix)

    with open(unit_path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            if key == "Environment":
                for item in shlex.split(spec(value)):
                    k, v = item.split("=", 1)
                    env[k] = v
            elif key == "EnvironmentFile":
                optional = value.startswith("-")
                name = spec(value.lstrip("-"))
                path = env_files.get(name) or name
                if not os.path.exists(path):
                    check(optional, "missing EnvironmentFile " + path)
                    continue
                with open(path) as ef:
                    for el in ef:
                        el = el.strip()
                        if el and not el.startswith("#") and "=" in el:
                            k, v = el.split("=", 1)
                            env[k.strip()] = v.strip().strip('"')
            elif key == "ExecStart":
                exec_start = spec(value)
            elif key == "Type":
                unit_type = value
    check(exec_start is not None, "no ExecStart in " + unit_path)
    argv = []
    for word in shlex.split(exec_start):
        m = re.fullmatch(r"\$\{?(\w+)\}?", word)
        if m:  # systemd: a lone $VAR splits into words, and none when empty
            argv += env.get(m.group(1), "").split()
        else:
            argv.append(re.sub(r"\$\{(\w+)\}", lambda x: env.get(x.group(1), ""), word))
    return unit_type, env, argv


def case_debian_unit():
    check(os.path.exists(DEBIAN_UNIT), DEBIAN_UNIT + " missing: install etcd-server")
    with tempfile.TemporaryDirectory(prefix="metcd-unit-") as d:
        c, p = free_port(), free_port()
        # /etc/default/etcd as shipped (comments only), then what an admin
        # adds there: loopback URLs of this test and a data dir of its own.
        with open("/etc/default/etcd") as f:
            shipped = f.read()
        defaults = os.path.join(d, "etcd.default")
        with open(defaults, "w") as f:
            f.write(shipped)
            f.write("ETCD_DATA_DIR=%s/data\n"
                    "ETCD_LISTEN_CLIENT_URLS=http://127.0.0.1:%d\n"
                    "ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:%d\n"
                    "ETCD_LISTEN_PEER_URLS=http://127.0.0.1:%d\n"
                    "ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:%d\n"
                    "ETCD_ENABLE_V2=true\n" % (d, c, c, p, p))
        unit_type, env, argv = unit_command(DEBIAN_UNIT, {"/etc/default/etcd": defaults},
                                            socket.gethostname())
        eq(unit_type, "notify", "the unit's Type")
        eq(argv[0], "/usr/bin/etcd", "the unit's program")
        eq(env["ETCD_NAME"], socket.gethostname(), "ETCD_NAME=%H")
        argv[0] = METCD_BIN
        notify = NotifySocket(d)
        env["NOTIFY_SOCKET"] = notify.path
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(d, "stderr.log"), "wb"),
                                env=clean_env(env), cwd=d)
        try:
            notify.expect("READY=1", START_TIMEOUT)
            # Ready means serving: a write goes through at once.
            url = "http://127.0.0.1:%d" % c
            put(url, "unit", "debian")
            status, _, body = http("GET", url + "/v2/members")
            eq(json_body(body)["members"][0]["name"], socket.gethostname(), "member name")
            proc.send_signal(signal.SIGTERM)
            notify.expect("STOPPING=1", 10)
            eq(proc.wait(timeout=10), 0, "exit status")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            notify.close()
        check(os.path.isdir(os.path.join(d, "data", "member")), "data dir from /etc/default")


def case_log_outputs_and_level():
    with tempfile.TemporaryDirectory(prefix="metcd-log-") as d:
        path = os.path.join(d, "metcd.log")
        # A file and stdout at once (etcd's zap logger takes several), info;
        # an output named twice gets each line once (etcd's UniqueStrings).
        with Metcd(args=["--log-outputs", "%s,stdout,%s,stdout" % (path, path), "--pre-vote"]) as m:
            m.wait_ready()
            eq(m.stop(), 0, "exit status")
            out = m.proc.stdout.read().decode()
            eq(m.stderr(), "", "stderr with --log-outputs file,stdout")
        with open(path) as f:
            log = f.read()
        eq(log, out, "the file and stdout get the same lines")
        check(" I | embed: ready to serve client requests on 127.0.0.1:%d" % m.client_port in log,
              log)
        check(" W | pkg/flags: ignoring etcd options" in log, log)
        # warn: warnings and errors only; the file is appended to.
        with Metcd(args=["--log-outputs", path, "--log-level", "warn", "--pre-vote"]) as m:
            m.wait_ready()
            eq(m.stop(), 0, "exit status")
        with open(path) as f:
            more = f.read()[len(log):]
        lines = more.splitlines()
        check(lines and all(" W | " in l or " E | " in l for l in lines),
              "--log-level warn wrote:\n" + more)
        # The variable works as well; a directory cannot be a log file.
        with Metcd(env={"ETCD_LOG_OUTPUTS": d}) as m:
            eq(m.wait_exit(START_TIMEOUT), 1, "a directory as log output")
            check("error verifying flags, cannot open log output %s: Is a directory" % d
                  in m.stderr(), m.stderr())


def case_metrics_listener():
    mp = free_port()
    murl = "http://127.0.0.1:%d" % mp
    with Metcd(args=["--listen-metrics-urls", murl]) as m:
        m.wait_ready()
        put(m.client_url, "k", "v")
        status, _, body = http("GET", murl + "/health")
        eq((status, body), (200, b'{"health":"true"}'), "/health on the metrics URL")
        status, headers, body = http("GET", murl + "/metrics")
        eq(status, 200, "/metrics on the metrics URL")
        check(b"etcd_server_has_leader 1" in body, body[:500])
        # Only those two, as etcd's metrics listener: no keys there.
        eq(http("GET", murl + "/v2/keys/k")[0], 404, "/v2/keys on the metrics URL")
        eq(http("PUT", murl + "/v2/keys/k", body=b"value=x", headers=FORM)[0], 404,
           "PUT on the metrics URL")
        eq(get_value(m.client_url, "k"), "v", "the client URL still serves keys")
        eq(m.stop(), 0, "exit status")


def case_wal_dir():
    with tempfile.TemporaryDirectory(prefix="metcd-waldir-") as d:
        data, wal = os.path.join(d, "data"), os.path.join(d, "fast-disk", "wal")
        args = ["--data-dir", data, "--wal-dir", wal, "--snapshot-count", "150"]
        acked = {}
        ports = {"client_port": free_port(), "peer_port": free_port()}
        m = Metcd(args=args, **ports)
        try:
            m.wait_ready()
            # Past one snapshot, so both the snapshot and the WAL after it count.
            for i in range(200):
                put(m.client_url, "w%03d" % i, "v%d" % i)
                acked["w%03d" % i] = "v%d" % i
            m.proc.kill()  # kill -9: nothing is flushed on the way out
            m.proc.wait(timeout=10)
        finally:
            m.close()
        check(any(f.endswith(".wal") for f in os.listdir(wal)), "no segment in --wal-dir")
        eq(os.stat(wal).st_mode & 0o777, 0o700, "--wal-dir mode")
        check(not os.path.exists(os.path.join(data, "member", "wal")),
              "a WAL under --data-dir as well")
        check(os.listdir(os.path.join(data, "member", "snap")), "no snapshot under --data-dir")
        with Metcd(args=args, **ports) as m:
            m.wait_ready()
            for k, v in acked.items():
                eq(get_value(m.client_url, k), v, "acknowledged " + k)
            put(m.client_url, "after", "restart")
            eq(m.stop(), 0, "exit status")
        # Without --wal-dir the member would start empty beside its data:
        # a WAL elsewhere is refused the other way round as well.
        with Metcd(args=["--data-dir", data], **ports) as m:
            eq(m.wait_exit(START_TIMEOUT), 1, "the data dir without its --wal-dir")
            check("snap holds snapshots but %s holds no log" % os.path.join(data, "member", "wal")
                  in m.stderr(), m.stderr())


def case_force_new_cluster():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
    from cluster import Cluster
    with Cluster(3, relay=False, snapshot_count=40) as c:
        lead = c.start()
        cluster_hdr = http("GET", lead.client_url + "/v2/members")[1]["X-Etcd-Cluster-Id"]
        acked = {}
        for i in range(100):  # past two snapshots on every member
            key = "f%03d" % i
            put(lead.client_url, key, "v%d" % i)
            acked[key] = "v%d" % i
        put(lead.client_url, "dir/inner", "x")
        acked["dir/inner"] = "x"
        # One follower is lost for good; the leader and the survivor go on,
        # so what is acknowledged now is in the survivor's log. Then the
        # leader is lost right after the last acknowledgement: the survivor
        # has not heard yet that the last writes are committed (a follower
        # learns it from the leader's next message). Alone it has no
        # leader: a write now is never acknowledged.
        survivor, gone = c.others(lead)
        c.kill(gone)
        for i in range(20):
            put(lead.client_url, "g%02d" % i, "w%d" % i)
            acked["g%02d" % i] = "w%d" % i
        c.kill(lead)
        try:
            status = http("PUT", survivor.client_url + "/v2/keys/lost", body=b"value=no",
                          headers=FORM, timeout=1.5)[0]
        except OSError:
            status = None
        check(status not in (200, 201), "a write acknowledged without a quorum: %r" % status)
        c.kill(survivor)
        plain = list(survivor.argv)
        survivor.argv = plain + ["--force-new-cluster"]
        c.restart(survivor)
        log = survivor.log_tail(20000)
        for m in c.others(survivor):
            check("removing member %x" % m.id in log, "no removal of %s in the log" % m.name)

        def check_alone(what):
            status, headers, body = http("GET", survivor.client_url + "/v2/members")
            eq(status, 200, "/v2/members " + what)
            members = json_body(body)["members"]
            eq([(x["id"], x["name"]) for x in members], [(survivor.id_hex, survivor.name)],
               "members " + what)
            eq(headers["X-Etcd-Cluster-Id"], cluster_hdr, "the cluster ID is kept " + what)
            for k, v in acked.items():
                eq(get_value(survivor.client_url, k, quorum=True), v, "acknowledged %s %s"
                   % (k, what))
            # The write nobody acknowledged was never committed: it is gone.
            eq(http("GET", survivor.client_url + "/v2/keys/lost")[0], 404, "unacked " + what)

        check_alone("after --force-new-cluster")
        put(survivor.client_url, "after-force", "1")
        acked["after-force"] = "1"
        status, _, body = http("GET", survivor.client_url + "/v2/stats/self")
        eq(json_body(body)["state"], "StateLeader", "the survivor leads")
        # Given again, the flag removes nobody more.
        eq(c.terminate(survivor), 0, "exit status")
        c.restart(survivor)
        check_alone("after a second --force-new-cluster")
        # A restart without the flag comes back as the same one-member cluster.
        eq(c.terminate(survivor), 0, "exit status")
        survivor.argv = plain
        c.restart(survivor)
        check_alone("after a plain restart")
        put(survivor.client_url, "after-restart", "2")


CASES = {
    "docs_static_cluster": case_docs_static_cluster,
    "etcd_config_sample": case_etcd_config_sample,
    "debian_unit": case_debian_unit,
    "log_outputs_and_level": case_log_outputs_and_level,
    "metrics_listener": case_metrics_listener,
    "wal_dir": case_wal_dir,
    "force_new_cluster": case_force_new_cluster,
}

if __name__ == "__main__":
    run_cases(CASES)
