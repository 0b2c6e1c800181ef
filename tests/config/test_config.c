/*
 * Configuration: every flag spelling Go's flag package accepts, ETCD_*
 * variables, the YAML file, precedence, defaults and each error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/config/config.h"

static char err[512];

/* Parses a NULL-terminated argument list with the given environment. */
static int parse_env(config_t *cfg, char **envp, ...)
{
    char *argv[64] = {"metcd"};
    int argc = 1;
    va_list ap;
    va_start(ap, envp);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    err[0] = '\0';
    return config_parse(cfg, argc, argv, envp, err, sizeof(err));
}

#define PARSE(cfg, ...) parse_env(cfg, NULL, __VA_ARGS__, NULL)

/* A temporary file with content; the caller unlinks and frees the path. */
static char *write_tmp(const char *content)
{
    char *path = strdup("/tmp/metcd-config-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    (void)state;
    config_t c;
    assert_int_equal(parse_env(&c, NULL, NULL), 0);
    assert_string_equal(c.name, "default");
    assert_string_equal(c.data_dir, "default.metcd");
    assert_int_equal(c.listen_client.n, 1);
    assert_string_equal(c.listen_client.urls[0].text, "http://localhost:2379");
    assert_string_equal(c.listen_client.urls[0].host, "localhost");
    assert_string_equal(c.listen_client.urls[0].scheme, "http");
    assert_int_equal(c.listen_client.urls[0].port, 2379);
    assert_string_equal(c.advertise_client.urls[0].text, "http://localhost:2379");
    assert_string_equal(c.listen_peer.urls[0].text, "http://localhost:2380");
    assert_string_equal(c.initial_advertise_peer.urls[0].text, "http://localhost:2380");
    assert_int_equal(c.n_initial_cluster, 1);
    assert_string_equal(c.initial_cluster[0].name, "default");
    assert_string_equal(c.initial_cluster[0].peer_url.text, "http://localhost:2380");
    assert_string_equal(c.initial_cluster_state, "new");
    assert_string_equal(c.initial_cluster_token, "etcd-cluster");
    assert_int_equal(c.heartbeat_interval_ms, 100);
    assert_int_equal(c.election_timeout_ms, 1000);
    assert_int_equal(c.snapshot_count, 100000); /* etcd 3.4's */
    assert_null(c.wal_dir);
    assert_int_equal(c.listen_metrics.n, 0);
    assert_string_equal(c.log_level, "info");
    assert_string_equal(c.log_outputs, "default");
    assert_false(c.force_new_cluster);
    assert_int_equal(c.max_request_bytes, 1572864);
    assert_false(c.max_request_bytes_set);
    assert_int_equal(c.max_wals, 5);
    assert_int_equal(c.max_snapshots, 5);
    assert_null(c.config_file);
    assert_true(c.enable_v2);
    assert_int_equal(c.backend, CONFIG_BACKEND_MEMORY);
    assert_int_equal(c.watch_history, 1000);
    assert_false(c.show_version);
    assert_false(c.show_help);
    assert_int_equal(c.n_warnings, 0);
    config_free(&c);
}

static void test_spellings(void **state)
{
    (void)state;
    const char *forms[][2] = {
        {"--name", "n1"}, {"-name", "n1"}, {"--name=n1", NULL}, {"-name=n1", NULL}};
    for (size_t i = 0; i < 4; i++) {
        config_t c;
        int rc = forms[i][1] ? PARSE(&c, (char *)forms[i][0], (char *)forms[i][1])
                             : PARSE(&c, (char *)forms[i][0]);
        assert_int_equal(rc, 0);
        assert_string_equal(c.name, "n1");
        assert_string_equal(c.data_dir, "n1.metcd");
        /* The initial cluster follows the name. */
        assert_string_equal(c.initial_cluster[0].name, "n1");
        config_free(&c);
    }
    /* Go takes the next argument as the value whatever it looks like. */
    config_t c;
    assert_int_equal(PARSE(&c, "--name", "-x"), 0);
    assert_string_equal(c.name, "-x");
    config_free(&c);
    /* The last of a repeated flag wins. */
    assert_int_equal(PARSE(&c, "--name", "a", "--name=b"), 0);
    assert_string_equal(c.name, "b");
    config_free(&c);
    /* An empty value is a value. */
    assert_int_equal(PARSE(&c, "--initial-cluster-token="), 0);
    assert_string_equal(c.initial_cluster_token, "");
    config_free(&c);
}

static void test_all_flags(void **state)
{
    (void)state;
    config_t c;
    assert_int_equal(PARSE(&c, "--name", "m1", "--data-dir", "/tmp/d", "--listen-client-urls",
                           "http://127.0.0.1:3379,http://[::1]:3380", "--advertise-client-urls",
                           "http://127.0.0.1:3379", "--listen-peer-urls=http://127.0.0.1:3381",
                           "--initial-advertise-peer-urls", "http://127.0.0.1:3381",
                           "--initial-cluster", "m1=http://127.0.0.1:3381",
                           "--initial-cluster-state", "existing", "--initial-cluster-token", "tok",
                           "--heartbeat-interval", "50", "--election-timeout", "500",
                           "--snapshot-count", "123", "--max-request-bytes", "1024", "--max-wals",
                           "0", "--max-snapshots", "7", "--enable-v2", "--backend", "memory",
                           "--watch-history", "5000"),
                     0);
    assert_string_equal(c.name, "m1");
    assert_string_equal(c.data_dir, "/tmp/d");
    assert_int_equal(c.listen_client.n, 2);
    /* sorted by text, as etcd's types.NewURLs does */
    assert_string_equal(c.listen_client.urls[0].text, "http://127.0.0.1:3379");
    assert_string_equal(c.listen_client.urls[1].text, "http://[::1]:3380");
    assert_string_equal(c.listen_client.urls[1].host, "::1");
    assert_int_equal(c.listen_client.urls[1].port, 3380);
    assert_string_equal(c.listen_peer.urls[0].text, "http://127.0.0.1:3381");
    assert_string_equal(c.initial_cluster_state, "existing");
    assert_string_equal(c.initial_cluster_token, "tok");
    assert_int_equal(c.heartbeat_interval_ms, 50);
    assert_int_equal(c.election_timeout_ms, 500);
    assert_int_equal(c.snapshot_count, 123);
    assert_int_equal(c.max_request_bytes, 1024);
    assert_true(c.max_request_bytes_set);
    assert_int_equal(c.max_wals, 0);
    assert_int_equal(c.max_snapshots, 7);
    assert_true(c.enable_v2);
    assert_int_equal(c.watch_history, 5000);
    config_free(&c);
}

static void test_bools(void **state)
{
    (void)state;
    const char *t[] = {"--enable-v2=true", "--enable-v2=1",    "--enable-v2=t", "--enable-v2=T",
                       "--enable-v2=TRUE", "--enable-v2=True", "-enable-v2",    "--enable-v2"};
    const char *f[] = {"--enable-v2=false", "--enable-v2=0",     "--enable-v2=f",
                       "--enable-v2=F",     "--enable-v2=FALSE", "--enable-v2=False"};
    config_t c;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_int_equal(PARSE(&c, (char *)t[i]), 0);
        assert_true(c.enable_v2);
        config_free(&c);
    }
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        assert_int_equal(PARSE(&c, (char *)f[i]), 0);
        assert_false(c.enable_v2);
        config_free(&c);
    }
    assert_int_equal(PARSE(&c, "--enable-v2=maybe"), -1);
    assert_string_equal(err, "invalid boolean value \"maybe\" for -enable-v2: parse error");
    /* A bool flag never takes the next argument: "false" is then a stray argument. */
    assert_int_equal(PARSE(&c, "--enable-v2", "false"), CONFIG_E_VERIFY);
    assert_string_equal(err, "'false' is not a valid flag");
}

static void test_version_help(void **state)
{
    (void)state;
    config_t c;
    const char *v[] = {"--version", "-version", "--version=true"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(PARSE(&c, (char *)v[i]), 0);
        assert_true(c.show_version);
        config_free(&c);
    }
    const char *h[] = {"--help", "-help", "-h", "--h"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(PARSE(&c, (char *)h[i]), 0);
        assert_true(c.show_help);
        config_free(&c);
    }
    /* Go stops at -h: a bad flag after it is not reported, one before it is. */
    assert_int_equal(PARSE(&c, "-h", "--bogus", "stray"), 0);
    assert_true(c.show_help);
    config_free(&c);
    assert_int_equal(PARSE(&c, "--bogus", "-h"), -1);
    assert_string_equal(err, "flag provided but not defined: -bogus");
    assert_non_null(strstr(config_usage(), "--listen-client-urls 'http://localhost:2379'"));
    assert_non_null(strstr(config_usage(), "--data-dir '${name}.metcd'"));
    assert_non_null(strstr(config_usage(), "--watch-history '1000'"));
}

static void test_flag_errors(void **state)
{
    (void)state;
    config_t c;
    struct {
        const char *args[3];
        const char *msg;
    } cases[] = {
        {{"--bogus"}, "flag provided but not defined: -bogus"},
        {{"-bogus=1"}, "flag provided but not defined: -bogus"},
        {{"foo"}, "'foo' is not a valid flag"},
        {{"--name", "a", "extra"}, "'extra' is not a valid flag"},
        {{"--", "--name"}, "'--name' is not a valid flag"},
        {{"-"}, "'-' is not a valid flag"},
        {{"---name"}, "bad flag syntax: ---name"},
        {{"a\nb\x01"}, "'a\\nb\\x01' is not a valid flag"},
        {{"--heartbeat-interval=1\n"},
         "invalid value \"1\\n\" for flag -heartbeat-interval: parse error"},
        {{"-=x"}, "bad flag syntax: -=x"},
        {{"--name"}, "flag needs an argument: -name"},
        {{"--heartbeat-interval=abc"},
         "invalid value \"abc\" for flag -heartbeat-interval: parse error"},
        {{"--election-timeout", "-5"},
         "invalid value \"-5\" for flag -election-timeout: parse error"},
        {{"--snapshot-count=1.5"}, "invalid value \"1.5\" for flag -snapshot-count: parse error"},
        {{"--max-request-bytes=99999999999999999999"},
         "invalid value \"99999999999999999999\" for flag -max-request-bytes: parse error"},
        {{"--max-wals=4294967296"}, "invalid value \"4294967296\" for flag -max-wals: parse error"},
        {{"--watch-history= 5"}, "invalid value \" 5\" for flag -watch-history: parse error"},
        {{"--listen-peer-urls=notaurl"},
         "invalid value \"notaurl\" for flag -listen-peer-urls: URL scheme must be http, "
         "https, unix, or unixs: notaurl"},
        {{"--listen-client-urls=ftp://a:1"},
         "invalid value \"ftp://a:1\" for flag -listen-client-urls: URL scheme must be http, "
         "https, unix, or unixs: ftp://a:1"},
        {{"--listen-client-urls=http://127.0.0.1"},
         "invalid value \"http://127.0.0.1\" for flag -listen-client-urls: URL address does not "
         "have the form \"host:port\": http://127.0.0.1"},
        {{"--listen-client-urls=http://127.0.0.1:2379/foo"},
         "invalid value \"http://127.0.0.1:2379/foo\" for flag -listen-client-urls: URL must "
         "not contain a path: http://127.0.0.1:2379/foo"},
        {{"--listen-client-urls=http://127.0.0.1:abc"},
         "invalid value \"http://127.0.0.1:abc\" for flag -listen-client-urls: invalid port "
         "\"abc\" in URL http://127.0.0.1:abc"},
        {{"--advertise-client-urls=http://127.0.0.1:99999"},
         "invalid value \"http://127.0.0.1:99999\" for flag -advertise-client-urls: invalid "
         "port \"99999\" in URL http://127.0.0.1:99999"},
        {{"--advertise-client-urls=http://a:1,"},
         "invalid value \"http://a:1,\" for flag -advertise-client-urls: URL scheme must be "
         "http, https, unix, or unixs: "},
        {{"--initial-cluster-state=bad"},
         "invalid value \"bad\" for flag -initial-cluster-state: must be \"new\" or "
         "\"existing\""},
        {{"--initial-cluster=zz"},
         "invalid value \"zz\" for flag -initial-cluster: \"zz\" is not of the form name=URL"},
        {{"--backend=rocks"},
         "invalid value \"rocks\" for flag -backend: must be memory, lmdb "
         "or leveldb"},
        {{"--data-dir="},
         "invalid value \"\" for flag -data-dir: the data directory cannot be "
         "empty"},
        {{"--listen-client-urls=http://127.0.0.1:1"},
         "--advertise-client-urls is required when --listen-client-urls is set explicitly"},
        {{"--heartbeat-interval=300"},
         "--election-timeout[1000ms] should be at least as 5 times as "
         "--heartbeat-interval[300ms]"},
        {{"--election-timeout=60000"},
         "--election-timeout[60000ms] is too long, and should be set less than 50000ms"},
        {{"--heartbeat-interval=0"}, "--heartbeat-interval must be at least 1ms"},
        {{"--watch-history=0"}, "--watch-history must be at least 1"},
        {{"--name=x", "--initial-cluster=y=http://a:1"},
         "couldn't find local name \"x\" in the initial cluster configuration"},
        {{"--initial-cluster=default=http://a:1"},
         "--initial-cluster has default=http://a:1 but missing from "
         "--initial-advertise-peer-urls=http://localhost:2380"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[5] = {"metcd"};
        int argc = 1;
        for (int j = 0; j < 3 && cases[i].args[j]; j++)
            argv[argc++] = (char *)cases[i].args[j];
        memset(&c, 0xa5, sizeof(c));
        err[0] = '\0';
        int rc = config_parse(&c, argc, argv, NULL, err, sizeof(err));
        /* Go's flag package refuses the first kind (etcd exits 2); etcd's
         * own checks after it the others (exit 1). */
        bool flag_kind = strncmp(cases[i].msg, "invalid ", 8) == 0 ||
                         strncmp(cases[i].msg, "flag ", 5) == 0 ||
                         strncmp(cases[i].msg, "bad flag", 8) == 0;
        if (rc != (flag_kind ? CONFIG_E_FLAG : CONFIG_E_VERIFY) || strcmp(err, cases[i].msg) != 0)
            fail_msg("case %zu (%s): rc %d, got '%s', want '%s'", i, cases[i].args[0], rc, err,
                     cases[i].msg);
        /* On failure nothing is left allocated and cfg is zeroed. */
        assert_null(c.name);
        assert_int_equal(c.n_warnings, 0);
        assert_null(strchr(err, '\n'));
    }
}

static void test_numbers(void **state)
{
    (void)state;
    config_t c;
    /* Go's ParseUint(s, 0, ...): hex, octal, binary */
    assert_int_equal(PARSE(&c, "--snapshot-count=0x10", "--max-wals=010", "--max-snapshots=0b11",
                           "--watch-history=0o17"),
                     0);
    assert_int_equal(c.snapshot_count, 16);
    assert_int_equal(c.max_wals, 8);
    assert_int_equal(c.max_snapshots, 3);
    assert_int_equal(c.watch_history, 15);
    config_free(&c);
    assert_int_equal(PARSE(&c, "--max-wals=09"), -1);
    assert_int_equal(PARSE(&c, "--max-wals=+1"), -1);
    assert_int_equal(PARSE(&c, "--max-wals="), -1);
    assert_int_equal(PARSE(&c, "--max-wals=0x"), -1);
}

static void test_derived_cluster(void **state)
{
    (void)state;
    config_t c;
    assert_int_equal(PARSE(&c, "--name", "n2", "--initial-advertise-peer-urls",
                           "http://127.0.0.1:2,http://127.0.0.1:1"),
                     0);
    assert_int_equal(c.n_initial_cluster, 2);
    assert_string_equal(c.initial_cluster[0].name, "n2");
    assert_string_equal(c.initial_cluster[0].peer_url.text, "http://127.0.0.1:1");
    assert_string_equal(c.initial_cluster[1].peer_url.text, "http://127.0.0.1:2");
    config_free(&c);
    /* An explicit cluster with several members and a repeated name. */
    assert_int_equal(PARSE(&c, "--name", "a", "--initial-advertise-peer-urls",
                           "http://h:1,http://h:2", "--initial-cluster",
                           "a=http://h:2,b=http://g:1,a=http://h:1"),
                     0);
    assert_int_equal(c.n_initial_cluster, 3);
    assert_string_equal(c.initial_cluster[1].name, "b");
    assert_string_equal(c.initial_cluster[1].peer_url.host, "g");
    config_free(&c);
    /* An upper-case scheme is printed in lower case, as Go's URL.String does. */
    assert_int_equal(PARSE(&c, "--advertise-client-urls", "HTTP://x:1"), 0);
    assert_string_equal(c.advertise_client.urls[0].text, "http://x:1");
    config_free(&c);
}

static void test_env(void **state)
{
    (void)state;
    config_t c;
    char *env[] = {"PATH=/bin",
                   "ETCD_NAME=envname",
                   "ETCD_HEARTBEAT_INTERVAL=20",
                   "ETCD_LISTEN_CLIENT_URLS=http://127.0.0.1:4001",
                   "ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:4001",
                   "ETCD_ENABLE_V2=false",
                   "ETCD_WATCH_HISTORY=77",
                   "ETCDCTL_API=2",
                   "ETCD_BOGUS=1",
                   NULL};
    assert_int_equal(parse_env(&c, env, "--election-timeout", "3000", NULL), 0);
    assert_string_equal(c.name, "envname");
    assert_string_equal(c.data_dir, "envname.metcd");
    assert_int_equal(c.heartbeat_interval_ms, 20);
    assert_int_equal(c.election_timeout_ms, 3000);
    assert_string_equal(c.listen_client.urls[0].text, "http://127.0.0.1:4001");
    assert_false(c.enable_v2);
    assert_int_equal(c.watch_history, 77);
    assert_int_equal(c.n_warnings, 1);
    assert_string_equal(c.warnings[0], "unrecognized environment variable ETCD_BOGUS=1");
    config_free(&c);
    /* A flag given as a flag and as its variable: etcd refuses to start,
     * naming the variable, before it looks at any value. */
    char *both[] = {"ETCD_SNAPSHOT_COUNT=x", "ETCD_HEARTBEAT_INTERVAL=20", NULL};
    assert_int_equal(parse_env(&c, both, "-heartbeat-interval=30", NULL), CONFIG_E_CONFLICT);
    assert_string_equal(err, "conflicting environment variable \"ETCD_HEARTBEAT_INTERVAL\" is "
                             "shadowed by corresponding command-line flag (either unset "
                             "environment variable or disable flag)");
    assert_null(c.name);

    char *bad[] = {"ETCD_HEARTBEAT_INTERVAL=abc", NULL};
    assert_int_equal(parse_env(&c, bad, NULL), CONFIG_E_VERIFY);
    assert_string_equal(err, "invalid value \"abc\" for ETCD_HEARTBEAT_INTERVAL: parse error");
    char *badurl[] = {"ETCD_LISTEN_PEER_URLS=x", NULL};
    assert_int_equal(parse_env(&c, badurl, NULL), CONFIG_E_VERIFY);
    assert_string_equal(err, "invalid value \"x\" for ETCD_LISTEN_PEER_URLS: URL scheme must be "
                             "http, https, unix, or unixs: x");
    char *badbool[] = {"ETCD_ENABLE_V2=yes", NULL};
    assert_int_equal(parse_env(&c, badbool, NULL), CONFIG_E_VERIFY);
    assert_string_equal(err, "invalid value \"yes\" for ETCD_ENABLE_V2: parse error");
    char *backend[] = {"ETCD_BACKEND=lmdb", NULL};
    assert_int_equal(parse_env(&c, backend, NULL), 0);
    assert_int_equal(c.backend, CONFIG_BACKEND_LMDB);
    config_free(&c);
    char *badbackend[] = {"ETCD_BACKEND=rocks", NULL};
    assert_int_equal(parse_env(&c, badbackend, NULL), CONFIG_E_VERIFY);
    assert_string_equal(err, "invalid value \"rocks\" for ETCD_BACKEND: must be memory, lmdb or "
                             "leveldb");
    /* --version is answered before the environment is read, as etcd does. */
    assert_int_equal(parse_env(&c, bad, "--version", NULL), 0);
    assert_true(c.show_version);
    config_free(&c);
}

static void test_yaml(void **state)
{
    (void)state;
    char *path = write_tmp("# metcd\n"
                           "name: 'y1'\n"
                           "data-dir: /tmp/y1-data\n"
                           "listen-client-urls: http://127.0.0.1:5001,http://127.0.0.1:5002\n"
                           "advertise-client-urls:\n"
                           "  - http://127.0.0.1:5002\n"
                           "  - http://127.0.0.1:5001\n"
                           "listen-peer-urls: http://127.0.0.1:5003\n"
                           "initial-advertise-peer-urls: http://127.0.0.1:5003\n"
                           "initial-cluster: y1=http://127.0.0.1:5003\n"
                           "initial-cluster-state: new\n"
                           "initial-cluster-token: ytok\n"
                           "heartbeat-interval: 200\n"
                           "election-timeout: 2000\n"
                           "snapshot-count: 42\n"
                           "max-request-bytes: 2048\n"
                           "max-wals: 3\n"
                           "max-snapshots: 4\n"
                           "enable-v2: yes\n"
                           "backend: memory\n"
                           "watch-history: 99\n"
                           "wal-dir:\n"
                           "client-transport-security:\n"
                           "  cert-file: ''\n"
                           "  trusted-ca-file: ca.pem\n"
                           "  trusted:\n"
                           "    - a\n");
    char *flag = NULL;
    assert_true(asprintf(&flag, "--config-file=%s", path) > 0);
    char *env[] = {"ETCD_NAME=ignored", "ETCD_SNAPSHOT_COUNT=7", NULL};
    config_t c;
    /* The file wins: the other flags and the environment are ignored. */
    int rc = parse_env(&c, env, flag, "--initial-cluster-token", "flagtok", "--heartbeat-interval",
                       "10", NULL);
    if (rc != 0)
        fail_msg("%s", err);
    assert_string_equal(c.name, "y1");
    assert_string_equal(c.data_dir, "/tmp/y1-data");
    assert_string_equal(c.config_file, path);
    assert_int_equal(c.listen_client.n, 2);
    assert_string_equal(c.listen_client.urls[1].text, "http://127.0.0.1:5002");
    assert_int_equal(c.advertise_client.n, 2);
    assert_string_equal(c.advertise_client.urls[0].text, "http://127.0.0.1:5001");
    assert_string_equal(c.initial_cluster_token, "ytok");
    assert_int_equal(c.heartbeat_interval_ms, 200);
    assert_int_equal(c.election_timeout_ms, 2000);
    assert_int_equal(c.snapshot_count, 42);
    assert_int_equal(c.max_request_bytes, 2048);
    assert_int_equal(c.max_wals, 3);
    assert_int_equal(c.max_snapshots, 4);
    assert_true(c.enable_v2);
    assert_int_equal(c.watch_history, 99);
    /*
     * Unknown keys are reported, not fatal (etcd ignores them). An empty
     * wal-dir or cert-file is etcd's default; trusted-ca-file is used.
     */
    assert_int_equal(c.n_warnings, 1);
    assert_non_null(strstr(c.warnings[0], "unknown key \"client-transport-security.trusted\""));
    assert_null(c.wal_dir);
    assert_null(c.client_tls.cert_file);
    assert_string_equal(c.client_tls.trusted_ca_file, "ca.pem");
    config_free(&c);

    /* The file given by ETCD_CONFIG_FILE; a file of defaults only. */
    char *empty = write_tmp("");
    char *envf = NULL;
    assert_true(asprintf(&envf, "ETCD_CONFIG_FILE=%s", empty) > 0);
    char *env2[] = {envf, "ETCD_NAME=ignored", NULL};
    assert_int_equal(parse_env(&c, env2, NULL), 0);
    assert_string_equal(c.name, "default");
    config_free(&c);
    unlink(empty);
    free(empty);
    free(envf);
    free(flag);
    unlink(path);
    free(path);
}

static void test_yaml_errors(void **state)
{
    (void)state;
    struct {
        const char *content;
        const char *needle;
    } cases[] = {
        {"heartbeat-interval: abc\n", "invalid value \"abc\" for \"heartbeat-interval\" in "
                                      "config file "},
        {"listen-peer-urls: nope\n", "URL scheme must be http, https, unix, or unixs: nope"},
        {"name: [a, {b: c}]\n", "\"name\" must be a string or a list of strings"},
        {"name: {a: b}\n", "\"name\" must be a value"},
        {"- a\n- b\n", "expected a mapping"},
        {"name: 'unterminated\n", "config file "},
        {"backend: rocksdb\n", "must be memory, lmdb or leveldb"},
        {"enable-v2: maybe\n", "parse error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = write_tmp(cases[i].content);
        char *flag = NULL;
        assert_true(asprintf(&flag, "--config-file=%s", path) > 0);
        config_t c;
        assert_int_equal(PARSE(&c, flag), CONFIG_E_VERIFY);
        if (strstr(err, cases[i].needle) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].needle);
        assert_null(strchr(err, '\n'));
        free(flag);
        unlink(path);
        free(path);
    }
    config_t c;
    assert_int_equal(PARSE(&c, "--config-file", "/nonexistent/metcd.yaml"), CONFIG_E_VERIFY);
    assert_string_equal(
        err, "cannot read config file /nonexistent/metcd.yaml: No such file or directory");
}

/*
 * Every flag `etcd --help` lists in etcd 3.4.23 (captured from
 * /usr/bin/etcd --help), then the ones etcdmain/config.go defines without
 * listing them, and the obsolete ones it accepts and ignores.
 */
static const char *const etcd_help_flags[] = {
    "name", "data-dir", "wal-dir", "snapshot-count", "heartbeat-interval", "election-timeout",
    "initial-election-tick-advance", "listen-peer-urls", "listen-client-urls", "max-snapshots",
    "max-wals", "quota-backend-bytes", "backend-batch-interval", "backend-batch-limit",
    "max-txn-ops", "max-request-bytes", "max-concurrent-streams", "grpc-keepalive-min-time",
    "grpc-keepalive-interval", "grpc-keepalive-timeout", "initial-advertise-peer-urls",
    "initial-cluster", "initial-cluster-state", "initial-cluster-token", "advertise-client-urls",
    "discovery", "discovery-fallback", "discovery-proxy", "discovery-srv", "discovery-srv-name",
    "strict-reconfig-check", "pre-vote", "auto-compaction-retention", "auto-compaction-mode",
    "enable-v2", "cert-file", "key-file", "client-cert-auth", "client-crl-file",
    "client-cert-allowed-hostname", "trusted-ca-file", "auto-tls", "peer-cert-file",
    "peer-key-file", "peer-client-cert-auth", "peer-trusted-ca-file", "peer-cert-allowed-cn",
    "peer-cert-allowed-hostname", "peer-auto-tls", "peer-crl-file", "cipher-suites", "cors",
    "host-whitelist", "auth-token", "bcrypt-cost", "auth-token-ttl", "enable-pprof", "metrics",
    "listen-metrics-urls", "logger", "log-outputs", "log-level", "proxy", "proxy-failure-wait",
    "proxy-refresh-interval", "proxy-dial-timeout", "proxy-write-timeout", "proxy-read-timeout",
    "experimental-initial-corrupt-check", "experimental-corrupt-check-time",
    "experimental-enable-v2v3", "experimental-backend-bbolt-freelist-type",
    "experimental-enable-lease-checkpoint", "experimental-compaction-batch-limit",
    "experimental-peer-skip-client-san-verification", "experimental-watch-progress-notify-interval",
    "experimental-warning-apply-duration", "force-new-cluster", "debug", "log-package-levels",
    /* defined but not listed */
    "enable-grpc-gateway", "log-output", "unsafe-no-fsync",
    "experimental-enable-lease-checkpoint-persist",
    /* etcd's ignored (obsolete) flags */
    "cluster-active-size", "cluster-remove-delay", "cluster-sync-interval", "config", "force",
    "max-result-buffer", "max-retry-attempts", "peer-heartbeat-interval", "peer-election-timeout",
    "retry-interval", "snapshot", "v", "vv", "test.coverprofile", "test.outputdir"};
#define N_ETCD_FLAGS (sizeof(etcd_help_flags) / sizeof(etcd_help_flags[0]))

static bool in_list(const char *name, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

/* metcd acts on these: no warning. */
static const char *const used_flags[] = {"name",
                                         "data-dir",
                                         "snapshot-count",
                                         "heartbeat-interval",
                                         "election-timeout",
                                         "listen-peer-urls",
                                         "listen-client-urls",
                                         "max-snapshots",
                                         "max-wals",
                                         "max-request-bytes",
                                         "initial-advertise-peer-urls",
                                         "initial-cluster",
                                         "initial-cluster-state",
                                         "initial-cluster-token",
                                         "advertise-client-urls",
                                         "enable-v2",
                                         "wal-dir",
                                         "listen-metrics-urls",
                                         "log-level",
                                         "log-outputs",
                                         "log-output",
                                         "force-new-cluster",
                                         "discovery",
                                         "discovery-fallback",
                                         "discovery-proxy",
                                         "discovery-srv",
                                         "discovery-srv-name",
                                         "proxy",
                                         "proxy-failure-wait",
                                         "proxy-refresh-interval",
                                         "proxy-dial-timeout",
                                         "proxy-write-timeout",
                                         "proxy-read-timeout",
                                         "cert-file",
                                         "key-file",
                                         "client-cert-auth",
                                         "client-crl-file",
                                         "client-cert-allowed-hostname",
                                         "trusted-ca-file",
                                         "auto-tls",
                                         "peer-cert-file",
                                         "peer-key-file",
                                         "peer-client-cert-auth",
                                         "peer-trusted-ca-file",
                                         "peer-cert-allowed-cn",
                                         "peer-cert-allowed-hostname",
                                         "peer-auto-tls",
                                         "peer-crl-file",
                                         "cipher-suites",
                                         "debug",
                                         NULL};
/* Refused unless off/false/empty (none left: every etcd option is used or ignored). */
static const char *const guarded_flags[] = {NULL};
static const char *const bool_flags[] = {"initial-election-tick-advance",
                                         "strict-reconfig-check",
                                         "pre-vote",
                                         "enable-v2",
                                         "client-cert-auth",
                                         "auto-tls",
                                         "peer-client-cert-auth",
                                         "peer-auto-tls",
                                         "experimental-peer-skip-client-san-verification",
                                         "enable-pprof",
                                         "experimental-initial-corrupt-check",
                                         "experimental-enable-lease-checkpoint",
                                         "experimental-enable-lease-checkpoint-persist",
                                         "enable-grpc-gateway",
                                         "unsafe-no-fsync",
                                         "force-new-cluster",
                                         "debug",
                                         NULL};

/* etcd's flags.IgnoredFlag: bool syntax, any value. */
static const char *const obsolete_flags[] = {"cluster-active-size",
                                             "cluster-remove-delay",
                                             "cluster-sync-interval",
                                             "config",
                                             "force",
                                             "max-result-buffer",
                                             "max-retry-attempts",
                                             "peer-heartbeat-interval",
                                             "peer-election-timeout",
                                             "retry-interval",
                                             "snapshot",
                                             "v",
                                             "vv",
                                             "test.coverprofile",
                                             "test.outputdir",
                                             NULL};

/* A value metcd runs with (NULL: a bool given alone, which means true). */
static const char *sample_value(const char *name)
{
    if (in_list(name, obsolete_flags))
        return NULL;
    if (strcmp(name, "proxy") == 0)
        return "off";
    if (in_list(name, guarded_flags))
        return in_list(name, bool_flags) ? "false" : "";
    if (in_list(name, bool_flags))
        return NULL;
    if (strcmp(name, "cipher-suites") == 0)
        return "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256";
    /* A certificate with http:// URLs only is warned about (as etcd does): not here. */
    if (strstr(name, "cert-file") != NULL || strstr(name, "key-file") != NULL)
        return "";
    if (strstr(name, "-urls") != NULL)
        return "http://127.0.0.1:2380";
    if (strcmp(name, "initial-cluster") == 0)
        return "default=http://localhost:2380";
    if (strcmp(name, "initial-cluster-state") == 0)
        return "new";
    if (strcmp(name, "log-level") == 0)
        return "warn";
    if (strncmp(name, "log-output", 10) == 0)
        return "stderr";
    if (strcmp(name, "discovery-fallback") == 0)
        return "exit";
    if (strcmp(name, "heartbeat-interval") == 0)
        return "100";
    if (strcmp(name, "election-timeout") == 0)
        return "1000";
    return "1";
}

/* The warning of c names --name (as a whole word of its list). */
static bool warns_about(const config_t *c, const char *name)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "--%s", name);
    for (size_t i = 0; i < c->n_warnings; i++)
        for (const char *p = c->warnings[i]; (p = strstr(p, needle)) != NULL; p++) {
            char after = p[strlen(needle)];
            if (after == '\0' || after == ',')
                return true;
        }
    return false;
}

/* What a flag given alone must do: no warning, or one naming it. */
static void check_accepted(config_t *c, const char *name, const char *how)
{
    bool quiet = in_list(name, used_flags) || in_list(name, guarded_flags);
    if (quiet && c->n_warnings != 0)
        fail_msg("%s %s: unexpected warning '%s'", how, name, c->warnings[0]);
    if (!quiet && (c->n_warnings != 1 || !warns_about(c, name)))
        fail_msg("%s %s: expected one warning naming it, got %zu", how, name, c->n_warnings);
}

static void test_etcd_flags_accepted(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ETCD_FLAGS; i++) {
        const char *name = etcd_help_flags[i], *v = sample_value(name);
        char a1[256], a2[256];
        /* listen-client-urls needs advertise-client-urls, as in etcd */
        char *extra = strcmp(name, "listen-client-urls") == 0
                          ? "--advertise-client-urls=http://127.0.0.1:2380"
                          : NULL;
        /* "--f=v" and "-f v" (a bool alone: "--f" and "-f") */
        for (int form = 0; form < 2; form++) {
            config_t c;
            int rc;
            if (v == NULL) {
                snprintf(a1, sizeof(a1), "%s%s", form ? "-" : "--", name);
                rc = parse_env(&c, NULL, a1, extra, NULL);
            } else if (form == 0 || in_list(name, bool_flags)) {
                /* a bool takes its value only after "=" (Go's flag package) */
                snprintf(a1, sizeof(a1), "--%s=%s", name, v);
                rc = parse_env(&c, NULL, a1, extra, NULL);
            } else {
                snprintf(a1, sizeof(a1), "-%s", name);
                snprintf(a2, sizeof(a2), "%s", v);
                rc = parse_env(&c, NULL, a1, a2, extra, NULL);
            }
            if (rc != 0)
                fail_msg("%s: %s", a1, err);
            check_accepted(&c, name, "flag");
            config_free(&c);
        }
        /* ETCD_<FLAG> */
        char var[256];
        snprintf(var, sizeof(var), "ETCD_");
        for (size_t j = 0; name[j]; j++)
            var[5 + j] = name[j] == '-'
                             ? '_'
                             : (char)(name[j] >= 'a' && name[j] <= 'z' ? name[j] - 32 : name[j]);
        snprintf(var + 5 + strlen(name), sizeof(var) - 5 - strlen(name), "=%s", v ? v : "true");
        char *env[] = {var, extra ? "ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:2380" : NULL,
                       NULL};
        config_t c;
        if (parse_env(&c, env, NULL) != 0)
            fail_msg("%s: %s", var, err);
        check_accepted(&c, name, "variable");
        config_free(&c);
        /* the YAML key (etcd reads only some of the obsolete ones there) */
        char yaml[512];
        snprintf(yaml, sizeof(yaml), "%s: '%s'\n%s", name, v ? v : "true",
                 extra ? "advertise-client-urls: http://127.0.0.1:2380\n" : "");
        char *path = write_tmp(yaml), *flag = NULL;
        assert_true(asprintf(&flag, "--config-file=%s", path) > 0);
        if (PARSE(&c, flag) != 0)
            fail_msg("%s: %s", yaml, err);
        check_accepted(&c, name, "key");
        config_free(&c);
        free(flag);
        unlink(path);
        free(path);
    }
}

/* The embedded list still holds every flag the installed etcd lists. */
static void test_etcd_help_complete(void **state)
{
    (void)state;
    FILE *f = access("/usr/bin/etcd", X_OK) == 0 ? popen("/usr/bin/etcd --help 2>&1", "r") : NULL;
    if (f == NULL)
        skip();
    char line[1024];
    size_t seen = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "  --", 4) != 0)
            continue;
        char *name = line + 4;
        name[strcspn(name, " \n")] = '\0';
        bool found = false;
        for (size_t i = 0; i < N_ETCD_FLAGS && !found; i++)
            found = strcmp(etcd_help_flags[i], name) == 0;
        if (!found)
            fail_msg("etcd --help lists --%s, which the test list lacks", name);
        seen++;
    }
    pclose(f);
    assert_true(seen >= 80); /* etcd 3.4.23 lists 80 */
}

/* One warning line names every ignored option; etcd's spellings of bools. */
static void test_ignored_warning(void **state)
{
    (void)state;
    config_t c;
    assert_int_equal(PARSE(&c, "--logger", "zap", "-quota-backend-bytes=8589934592",
                           "--auto-compaction-retention=1", "--pre-vote", "-v",
                           "--snapshot=whatever", "--listen-metrics-urls", "http://127.0.0.1:2381"),
                     0);
    assert_int_equal(c.n_warnings, 1);
    assert_string_equal(c.warnings[0],
                        "ignoring etcd options that metcd does not implement (v3-only, obsolete "
                        "or not supported yet): --quota-backend-bytes, "
                        "--pre-vote, --auto-compaction-retention, --logger, --snapshot, --v");
    assert_string_equal(c.listen_metrics.urls[0].text, "http://127.0.0.1:2381");
    config_free(&c);
    /* Flags and variables together, still one line. */
    char *env[] = {"ETCD_LOG_LEVEL=debug", "ETCD_MAX_TXN_OPS=256", NULL};
    assert_int_equal(parse_env(&c, env, "--experimental-enable-v2v3=/v2", NULL), 0);
    assert_int_equal(c.n_warnings, 1);
    assert_true(warns_about(&c, "max-txn-ops") && warns_about(&c, "experimental-enable-v2v3"));
    assert_false(warns_about(&c, "log-level"));
    assert_string_equal(c.log_level, "debug");
    config_free(&c);
    assert_int_equal(PARSE(&c, "--log-level=error", "--debug"), 0);
    assert_string_equal(c.log_level, "debug"); /* etcd: --debug sets the debug level */
    assert_int_equal(c.n_warnings, 0);
    config_free(&c);
    /* Values checked as etcd's flag types check them. */
    struct {
        const char *arg;
        const char *msg;
    } bad[] = {
        {"--pre-vote=maybe", "invalid boolean value \"maybe\" for -pre-vote: parse error"},
        {"--max-txn-ops=-1", "invalid value \"-1\" for flag -max-txn-ops: parse error"},
        {"--quota-backend-bytes=x", "invalid value \"x\" for flag -quota-backend-bytes: parse "
                                    "error"},
        {"--proxy=maybe", "invalid value \"maybe\" for flag -proxy: valid values are off, "
                          "readonly, on"},
        {"--discovery-fallback=x", "invalid value \"x\" for flag -discovery-fallback: valid "
                                   "values are exit, proxy"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(PARSE(&c, (char *)bad[i].arg), -1);
        assert_string_equal(err, bad[i].msg);
    }
    /* A negative int is an int. */
    assert_int_equal(PARSE(&c, "--backend-batch-limit=-5"), 0);
    config_free(&c);
}

/* The options whose silent acceptance would run another member: refused. */
static void test_guarded(void **state)
{
    (void)state;
    config_t c;
    /* --force-new-cluster is acted on (src/server/node_force.c). */
    assert_int_equal(PARSE(&c, "--force-new-cluster"), 0);
    assert_true(c.force_new_cluster);
    assert_int_equal(c.n_warnings, 0);
    config_free(&c);
    char *env3[] = {"ETCD_FORCE_NEW_CLUSTER=false", NULL};
    assert_int_equal(parse_env(&c, env3, NULL), 0);
    assert_false(c.force_new_cluster);
    config_free(&c);
    /* A flag set back to the default on the same line is accepted. */
    assert_int_equal(PARSE(&c, "--proxy=on", "--proxy=off", "--auto-tls", "--auto-tls=false"), 0);
    assert_int_equal(c.n_warnings, 0);
    config_free(&c);
    /* From the file, including etcd's transport-security mappings. */
    struct {
        const char *content;
        const char *needle;
    } files[] = {
        {"client-transport-security: x\n", "\"client-transport-security\" must be a mapping"},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *path = write_tmp(files[i].content), *flag = NULL;
        assert_true(asprintf(&flag, "--config-file=%s", path) > 0);
        int rc = PARSE(&c, flag);
        /* metcd's refusals keep exit 2; a malformed file is etcd's exit 1. */
        assert_int_equal(rc, strstr(files[i].needle, "must be") ? CONFIG_E_VERIFY : CONFIG_E_FLAG);
        if (strstr(err, files[i].needle) == NULL)
            fail_msg("file case %zu: '%s' lacks '%s'", i, err, files[i].needle);
        free(flag);
        unlink(path);
        free(path);
    }
    /* With a config file, etcd ignores the other flags: so does the check. */
    char *path = write_tmp("name: f1\nlogger: zap\nlog-outputs:\n  - stderr\n"
                           "peer-transport-security:\n  trusted-ca-file: ca.pem\n"
                           "  client-cert-auth: false\n");
    char *flag = NULL;
    assert_true(asprintf(&flag, "--config-file=%s", path) > 0);
    assert_int_equal(PARSE(&c, flag, "--wal-dir=/w", "--quota-backend-bytes=1"), 0);
    assert_string_equal(c.name, "f1");
    assert_int_equal(c.n_warnings, 1);
    assert_true(warns_about(&c, "logger"));
    assert_false(warns_about(&c, "peer-trusted-ca-file"));
    assert_string_equal(c.peer_tls.trusted_ca_file, "ca.pem");
    assert_string_equal(c.log_outputs, "stderr");
    assert_null(c.wal_dir);
    assert_false(warns_about(&c, "quota-backend-bytes"));
    config_free(&c);
    free(flag);
    unlink(path);
    free(path);
}

/* --ui (metcd's own): the web console is on unless turned off. */
static void test_ui(void **state)
{
    (void)state;
    config_t c;
    assert_int_equal(PARSE(&c, "--name", "n"), 0);
    assert_true(c.ui);
    config_free(&c);
    assert_int_equal(PARSE(&c, "--ui=false"), 0);
    assert_false(c.ui);
    config_free(&c);
    char *env[] = {"ETCD_UI=0", NULL};
    assert_int_equal(parse_env(&c, env, "--name", "n", NULL), 0);
    assert_false(c.ui);
    config_free(&c);
    char *path = write_tmp("ui: false\n");
    char *flag = NULL;
    assert_true(asprintf(&flag, "--config-file=%s", path) > 0);
    assert_int_equal(PARSE(&c, flag), 0);
    assert_false(c.ui);
    config_free(&c);
    assert_int_equal(PARSE(&c, "--ui=maybe"), -1);
    assert_string_equal(err, "invalid boolean value \"maybe\" for -ui: parse error");
    assert_non_null(strstr(config_usage(), "--ui 'true'"));
    free(flag);
    unlink(path);
    free(path);
}

/* --leveldb-cache-bytes, --leveldb-write-buffer-bytes: metcd's own sizes. */
static void test_leveldb_sizes(void **state)
{
    (void)state;
    config_t c;
    assert_int_equal(PARSE(&c, "--name", "n"), 0);
    assert_int_equal(c.leveldb_cache_bytes, 64 << 20);
    assert_int_equal(c.leveldb_wbuf_bytes, 16 << 20);
    assert_int_equal(c.n_warnings, 0);
    config_free(&c);
    assert_int_equal(PARSE(&c, "--backend", "leveldb", "--leveldb-cache-bytes", "0x200000",
                           "--leveldb-write-buffer-bytes=65536"),
                     0);
    assert_int_equal(c.leveldb_cache_bytes, 2 << 20);
    assert_int_equal(c.leveldb_wbuf_bytes, 65536);
    assert_int_equal(c.n_warnings, 0);
    config_free(&c);
    char *env[] = {"ETCD_LEVELDB_CACHE_BYTES=3145728", "ETCD_LEVELDB_WRITE_BUFFER_BYTES=1073741824",
                   NULL};
    assert_int_equal(parse_env(&c, env, "--backend", "leveldb", NULL), 0);
    assert_int_equal(c.leveldb_cache_bytes, 3 << 20);
    assert_int_equal(c.leveldb_wbuf_bytes, 1 << 30);
    config_free(&c);
    char *path = write_tmp("backend: leveldb\nleveldb-cache-bytes: 4194304\n"
                           "leveldb-write-buffer-bytes: 131072\n");
    char *flag = NULL;
    assert_true(asprintf(&flag, "--config-file=%s", path) > 0);
    assert_int_equal(PARSE(&c, flag), 0);
    assert_int_equal(c.leveldb_cache_bytes, 4 << 20);
    assert_int_equal(c.leveldb_wbuf_bytes, 131072);
    config_free(&c);
    free(flag);
    unlink(path);
    free(path);
    /* With another backend they act on nothing: one warning, no refusal. */
    assert_int_equal(PARSE(&c, "--backend", "lmdb", "--leveldb-cache-bytes", "2097152"), 0);
    assert_int_equal(c.n_warnings, 1);
    assert_string_equal(c.warnings[0], "--leveldb-cache-bytes and --leveldb-write-buffer-bytes "
                                       "act only with --backend leveldb");
    config_free(&c);
    /* Bad numbers: Go's flag package (exit 2); out of bounds: etcd-style
     * checks after the flags (exit 1). */
    assert_int_equal(PARSE(&c, "--leveldb-cache-bytes=64MiB"), CONFIG_E_FLAG);
    assert_string_equal(err, "invalid value \"64MiB\" for flag -leveldb-cache-bytes: parse error");
    assert_int_equal(PARSE(&c, "--leveldb-write-buffer-bytes=-1"), CONFIG_E_FLAG);
    assert_string_equal(err,
                        "invalid value \"-1\" for flag -leveldb-write-buffer-bytes: parse error");
    assert_int_equal(PARSE(&c, "--backend=leveldb", "--leveldb-cache-bytes=1048575"),
                     CONFIG_E_VERIFY);
    assert_string_equal(err, "--leveldb-cache-bytes must be at least 1048576");
    assert_int_equal(PARSE(&c, "--backend=leveldb", "--leveldb-write-buffer-bytes=65535"),
                     CONFIG_E_VERIFY);
    assert_string_equal(err, "--leveldb-write-buffer-bytes must be between 65536 and 1073741824");
    assert_int_equal(PARSE(&c, "--backend=leveldb", "--leveldb-write-buffer-bytes=1073741825"),
                     CONFIG_E_VERIFY);
    assert_string_equal(err, "--leveldb-write-buffer-bytes must be between 65536 and 1073741824");
    assert_non_null(strstr(config_usage(), "--leveldb-cache-bytes '67108864'"));
    assert_non_null(strstr(config_usage(), "--leveldb-write-buffer-bytes '16777216'"));
}

/* --discovery*, --proxy*: values, etcd's defaults and checks. */
static void test_bootstrap_options(void **state)
{
    (void)state;
    config_t c;
    assert_int_equal(PARSE(&c, "--name", "a"), 0);
    assert_null(c.discovery);
    assert_null(c.discovery_srv);
    assert_true(c.discovery_fallback_proxy);
    assert_int_equal(c.proxy, CONFIG_PROXY_OFF);
    assert_int_equal(c.proxy_failure_wait_ms, 5000);
    assert_int_equal(c.proxy_refresh_interval_ms, 30000);
    assert_int_equal(c.proxy_dial_timeout_ms, 1000);
    assert_int_equal(c.proxy_write_timeout_ms, 5000);
    assert_int_equal(c.proxy_read_timeout_ms, 0);
    config_free(&c);
    assert_int_equal(PARSE(&c, "--discovery", "http://d:2379/v2/keys/t", "--discovery-fallback",
                           "exit", "--discovery-proxy", "p:3128"),
                     0);
    assert_string_equal(c.discovery, "http://d:2379/v2/keys/t");
    assert_string_equal(c.discovery_proxy, "p:3128");
    assert_false(c.discovery_fallback_proxy);
    assert_int_equal(c.n_warnings, 0);
    config_free(&c);
    char *env[] = {"ETCD_DISCOVERY_SRV=example.com", "ETCD_DISCOVERY_SRV_NAME=blue", NULL};
    assert_int_equal(parse_env(&c, env, NULL), 0);
    assert_string_equal(c.discovery_srv, "example.com");
    assert_string_equal(c.discovery_srv_name, "blue");
    config_free(&c);
    /* A proxy is no member: its name need not be in --initial-cluster. */
    assert_int_equal(PARSE(&c, "--proxy", "readonly", "--proxy-failure-wait=100",
                           "--proxy-refresh-interval=200", "--proxy-dial-timeout=300",
                           "--proxy-write-timeout=400", "--proxy-read-timeout=500",
                           "--initial-cluster", "m1=http://127.0.0.1:2380", "--listen-client-urls",
                           "http://127.0.0.1:2379"),
                     0);
    assert_int_equal(c.proxy, CONFIG_PROXY_READONLY);
    assert_int_equal(c.proxy_failure_wait_ms, 100);
    assert_int_equal(c.proxy_refresh_interval_ms, 200);
    assert_int_equal(c.proxy_dial_timeout_ms, 300);
    assert_int_equal(c.proxy_write_timeout_ms, 400);
    assert_int_equal(c.proxy_read_timeout_ms, 500);
    config_free(&c);
    /* etcdmain: one bootstrap source. */
    const char *both[][4] = {
        {"--discovery=http://d/t", "--initial-cluster", "default=http://localhost:2380", NULL},
        {"--discovery=http://d/t", "--discovery-srv", "example.com", NULL},
    };
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(PARSE(&c, (char *)both[i][0], (char *)both[i][1], (char *)both[i][2]),
                         CONFIG_E_VERIFY);
        assert_string_equal(err, "multiple discovery or bootstrap flags are set. Choose one of "
                                 "\"initial-cluster\", \"discovery\" or \"discovery-srv\"");
    }
    assert_int_equal(PARSE(&c, "--proxy-failure-wait=soon"), -1);
    assert_string_equal(err, "invalid value \"soon\" for flag -proxy-failure-wait: parse error");
}

/* The TLS options: stored for the server, with etcd's checks of https:// URLs. */
static void test_tls(void **state)
{
    (void)state;
    config_t c;
    assert_int_equal(PARSE(&c, "--listen-client-urls=https://127.0.0.1:2379,http://127.0.0.1:2377",
                           "--advertise-client-urls=https://127.0.0.1:2379", "--cert-file=s.crt",
                           "--key-file=s.key", "--trusted-ca-file=ca.crt", "--client-cert-auth",
                           "--client-crl-file=c.crl", "--peer-cert-allowed-cn=member",
                           "--peer-auto-tls", "--cipher-suites",
                           "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
                           "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"),
                     0);
    assert_string_equal(c.client_tls.cert_file, "s.crt");
    assert_string_equal(c.client_tls.key_file, "s.key");
    assert_string_equal(c.client_tls.trusted_ca_file, "ca.crt");
    assert_string_equal(c.client_tls.crl_file, "c.crl");
    assert_true(c.client_tls.client_cert_auth);
    assert_false(c.client_tls.auto_tls);
    assert_true(c.peer_tls.auto_tls);
    assert_string_equal(c.peer_tls.allowed_cn, "member");
    assert_null(c.peer_tls.cert_file);
    assert_string_equal(c.cipher_suites,
                        "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305");
    assert_int_equal(c.n_warnings, 0);
    config_free(&c);

    /* From the environment and from etcd's YAML mappings. */
    char *env[] = {"ETCD_PEER_CERT_FILE=p.crt", "ETCD_PEER_KEY_FILE=p.key",
                   "ETCD_PEER_CLIENT_CERT_AUTH=true", NULL};
    assert_int_equal(parse_env(&c, env, NULL), 0);
    assert_string_equal(c.peer_tls.cert_file, "p.crt");
    assert_true(c.peer_tls.client_cert_auth);
    config_free(&c);
    char *path = write_tmp("listen-peer-urls: https://127.0.0.1:2380\n"
                           "initial-advertise-peer-urls: https://127.0.0.1:2380\n"
                           "initial-cluster: default=https://127.0.0.1:2380\n"
                           "peer-transport-security:\n  cert-file: p.crt\n  key-file: p.key\n"
                           "  trusted-ca-file: ca.crt\n  client-cert-auth: true\n"
                           "client-transport-security:\n  auto-tls: true\n"
                           "cipher-suites: TLS_RSA_WITH_AES_128_GCM_SHA256\n");
    char *flag = NULL;
    assert_true(asprintf(&flag, "--config-file=%s", path) > 0);
    if (PARSE(&c, flag) != 0)
        fail_msg("%s", err);
    assert_string_equal(c.peer_tls.key_file, "p.key");
    assert_string_equal(c.peer_tls.trusted_ca_file, "ca.crt");
    assert_true(c.peer_tls.client_cert_auth);
    assert_true(c.client_tls.auto_tls);
    assert_string_equal(c.cipher_suites, "AES128-GCM-SHA256");
    config_free(&c);
    free(flag);
    unlink(path);
    free(path);

    /* Allowed hostnames for client certificates, on each side. */
    assert_int_equal(PARSE(&c, "--client-cert-allowed-hostname=client.example",
                           "--peer-cert-allowed-hostname=127.0.0.1"),
                     0);
    assert_string_equal(c.client_tls.allowed_hostname, "client.example");
    assert_string_equal(c.peer_tls.allowed_hostname, "127.0.0.1");
    assert_int_equal(c.n_warnings, 0);
    config_free(&c);

    /* etcd's refusals, in its words. */
    assert_int_equal(PARSE(&c, "--listen-peer-urls=https://127.0.0.1:2380",
                           "--initial-advertise-peer-urls=https://127.0.0.1:2380",
                           "--initial-cluster=default=https://127.0.0.1:2380", "--peer-auto-tls",
                           "--peer-cert-allowed-cn=x", "--peer-cert-allowed-hostname=y"),
                     CONFIG_E_VERIFY);
    assert_string_equal(
        err, "AllowedCN and AllowedHostname are mutually exclusive (cn=\"x\", hostname=\"y\")");
    assert_int_equal(PARSE(&c, "--listen-client-urls=https://127.0.0.1:2379",
                           "--advertise-client-urls=https://127.0.0.1:2379"),
                     CONFIG_E_VERIFY);
    assert_string_equal(err, "TLS key/cert (--cert-file, --key-file) must be provided for client "
                             "url https://127.0.0.1:2379 with HTTPS scheme");
    assert_int_equal(PARSE(&c, "--listen-client-urls=https://127.0.0.1:2379",
                           "--advertise-client-urls=https://127.0.0.1:2379", "--key-file=k"),
                     CONFIG_E_VERIFY);
    assert_string_equal(err, "KeyFile and CertFile must both be present[key: k, cert: ]");
    assert_int_equal(PARSE(&c, "--listen-peer-urls=https://127.0.0.1:2380",
                           "--initial-advertise-peer-urls=https://127.0.0.1:2380"),
                     CONFIG_E_VERIFY);
    assert_string_equal(err, "cannot listen on TLS for 127.0.0.1:2380: KeyFile and CertFile are "
                             "not presented");
    /* etcd checks the suites after the flags are parsed: exit 1, its message alone. */
    assert_int_equal(PARSE(&c, "--cipher-suites=TLS_RSA_WITH_AES_128_GCM_SHA256,FOO"),
                     CONFIG_E_VERIFY);
    assert_string_equal(err, "unexpected TLS cipher suite \"FOO\"");
    assert_int_equal(PARSE(&c, "--client-cert-auth=maybe"), CONFIG_E_FLAG);
    /* Auto TLS alone serves https://; certificates with http:// only are warned about. */
    assert_int_equal(PARSE(&c, "--listen-client-urls=https://127.0.0.1:2379",
                           "--advertise-client-urls=https://127.0.0.1:2379", "--auto-tls"),
                     0);
    config_free(&c);
    assert_int_equal(PARSE(&c, "--cert-file=s.crt", "--key-file=s.key"), 0);
    assert_int_equal(c.n_warnings, 1);
    assert_non_null(strstr(c.warnings[0], "client scheme is HTTP while key and cert files are "
                                          "present; ignoring key and cert files"));
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_ui),
        cmocka_unit_test(test_leveldb_sizes),
        cmocka_unit_test(test_spellings),
        cmocka_unit_test(test_all_flags),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_version_help),
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_derived_cluster),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_yaml),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_etcd_flags_accepted),
        cmocka_unit_test(test_etcd_help_complete),
        cmocka_unit_test(test_ignored_warning),
        cmocka_unit_test(test_guarded),
        cmocka_unit_test(test_bootstrap_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
