/*
 * Configuration: the option table, defaults, conversion of raw values and
 * the checks etcd makes before it starts (etcdmain/config.go,
 * embed/config.go). The sources are scanned in config_flags.c,
 * config_env.c and config_yaml.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/config/config_int.h"

#define DEFAULT_CLIENT_URL "http://localhost:2379"
#define DEFAULT_PEER_URL   "http://localhost:2380"

/* Bounds of the LevelDB sizes (see finalize). */
#define LEVELDB_MIN_CACHE        ((uint64_t)1 << 20)
#define LEVELDB_MIN_WRITE_BUFFER ((uint64_t)64 << 10)
#define LEVELDB_MAX_WRITE_BUFFER ((uint64_t)1 << 30)

/* Defaults: etcd 3.4's, except data-dir ("<name>.metcd"). */
const config_opt_desc_t config_opts[CONFIG_OPT_COUNT] = {
    [CONFIG_OPT_NAME] = {"name", false, true, true, "default",
                         "Human-readable name for this member."},
    [CONFIG_OPT_DATA_DIR] = {"data-dir", false, true, true, "${name}.metcd",
                             "Path to the data directory."},
    [CONFIG_OPT_LISTEN_CLIENT_URLS] = {"listen-client-urls", false, true, true, DEFAULT_CLIENT_URL,
                                       "List of URLs to listen on for client traffic."},
    [CONFIG_OPT_ADVERTISE_CLIENT_URLS] = {"advertise-client-urls", false, true, true,
                                          DEFAULT_CLIENT_URL,
                                          "List of this member's client URLs to advertise to "
                                          "the public."},
    [CONFIG_OPT_LISTEN_PEER_URLS] = {"listen-peer-urls", false, true, true, DEFAULT_PEER_URL,
                                     "List of URLs to listen on for peer traffic."},
    [CONFIG_OPT_INITIAL_ADVERTISE_PEER_URLS] = {"initial-advertise-peer-urls", false, true, true,
                                                DEFAULT_PEER_URL,
                                                "List of this member's peer URLs to advertise to "
                                                "the rest of the cluster."},
    [CONFIG_OPT_INITIAL_CLUSTER] = {"initial-cluster", false, true, true,
                                    "default=" DEFAULT_PEER_URL,
                                    "Initial cluster configuration for bootstrapping."},
    [CONFIG_OPT_INITIAL_CLUSTER_STATE] = {"initial-cluster-state", false, true, true, "new",
                                          "Initial cluster state ('new' or 'existing')."},
    [CONFIG_OPT_INITIAL_CLUSTER_TOKEN] = {"initial-cluster-token", false, true, true,
                                          "etcd-cluster",
                                          "Initial cluster token for the cluster during "
                                          "bootstrap."},
    [CONFIG_OPT_HEARTBEAT_INTERVAL] = {"heartbeat-interval", false, true, true, "100",
                                       "Time (in milliseconds) of a heartbeat interval."},
    [CONFIG_OPT_ELECTION_TIMEOUT] = {"election-timeout", false, true, true, "1000",
                                     "Time (in milliseconds) for an election to timeout."},
    [CONFIG_OPT_SNAPSHOT_COUNT] = {"snapshot-count", false, true, true, "100000",
                                   "Number of committed transactions to trigger a snapshot to "
                                   "disk."},
    [CONFIG_OPT_MAX_REQUEST_BYTES] = {"max-request-bytes", false, true, true, "1572864",
                                      "Maximum client request size in bytes the server will "
                                      "accept."},
    [CONFIG_OPT_MAX_WALS] = {"max-wals", false, true, true, "5",
                             "Maximum number of wal files to retain (0 is unlimited)."},
    [CONFIG_OPT_MAX_SNAPSHOTS] = {"max-snapshots", false, true, true, "5",
                                  "Maximum number of snapshot files to retain (0 is "
                                  "unlimited)."},
    [CONFIG_OPT_ENABLE_V2] = {"enable-v2", true, true, true, "true",
                              "Accepted for compatibility: the v2 API is always on."},
    [CONFIG_OPT_BACKEND] = {"backend", false, true, true, "memory",
                            "Key store backend: memory, lmdb or leveldb (kept by the data "
                            "dir)."},
    [CONFIG_OPT_WATCH_HISTORY] = {"watch-history", false, true, true, "1000",
                                  "Number of events kept for waitIndex (etcd keeps 1000)."},
    [CONFIG_OPT_THREADS] = {"threads", false, true, true, "0",
                            "HTTP event loops serving clients, each on its own thread (0: one "
                            "per core; 1: one loop shared with raft)."},
    [CONFIG_OPT_LEVELDB_CACHE_BYTES] = {"leveldb-cache-bytes", false, true, true, "67108864",
                                        "LevelDB backend: block cache size in bytes (at least "
                                        "1048576)."},
    [CONFIG_OPT_LEVELDB_WRITE_BUFFER_BYTES] = {"leveldb-write-buffer-bytes", false, true, true,
                                               "16777216",
                                               "LevelDB backend: write buffer (memtable) size in "
                                               "bytes (65536 to 1073741824)."},
    [CONFIG_OPT_BACKEND_CACHE_NODES] = {"backend-cache-nodes", false, true, true, "262144",
                                        "LMDB and LevelDB backends: keys kept in memory, the "
                                        "rest read on demand (0: no limit)."},
    [CONFIG_OPT_UI] = {"ui", true, true, true, "true",
                       "Serve the web console at /ui/ on the client URLs."},
    [CONFIG_OPT_CONFIG_FILE] = {"config-file", false, true, false, "",
                                "Path to the server configuration file. Other flags and "
                                "environment variables are then ignored."},
    [CONFIG_OPT_VERSION] = {"version", true, true, false, "false", "Print the version and exit."},
    [CONFIG_OPT_HELP] = {"help", true, false, false, "false", "Show this help and exit."},
#define CONFIG_OPT_DESC_(id, name, type, kind, def, help)                                          \
    [CONFIG_OPT_##id] = {name,                                                                     \
                         CONFIG_TYPE_##type == CONFIG_TYPE_BOOL ||                                 \
                             CONFIG_TYPE_##type == CONFIG_TYPE_OBSOLETE,                           \
                         true,                                                                     \
                         true,                                                                     \
                         def,                                                                      \
                         help,                                                                     \
                         CONFIG_KIND_##kind,                                                       \
                         CONFIG_TYPE_##type},
    CONFIG_EXTRA_OPTS(CONFIG_OPT_DESC_)
#undef CONFIG_OPT_DESC_
};

int config_opt_find(const char *name, size_t len)
{
    if (len == 1 && name[0] == 'h')
        return CONFIG_OPT_HELP; /* Go's flag package: -h and -help ask for usage */
    for (int i = 0; i < CONFIG_OPT_COUNT; i++)
        if (strlen(config_opts[i].name) == len && memcmp(config_opts[i].name, name, len) == 0)
            return i;
    return -1;
}

void config_raw_free(config_raw_t *raw)
{
    for (int i = 0; i < CONFIG_OPT_COUNT; i++)
        free(raw->value[i]);
    memset(raw, 0, sizeof(*raw));
}

int config_raw_set(config_raw_t *raw, config_opt_t opt, const char *v, size_t len)
{
    char *copy = strndup(v, len);
    if (copy == NULL)
        return -1;
    free(raw->value[opt]);
    raw->value[opt] = copy;
    raw->set[opt] = true;
    return 0;
}

int config_errf(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err_len > 0)
        vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

int config_warnf(config_t *cfg, const char *fmt, ...)
{
    char *line;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    char **w = realloc(cfg->warnings, (cfg->n_warnings + 1) * sizeof(*w));
    if (w == NULL) {
        free(line);
        return -1;
    }
    w[cfg->n_warnings++] = line;
    cfg->warnings = w;
    return 0;
}

int config_parse_uint(const char *s, unsigned bits, uint64_t *out)
{
    unsigned base = 10;
    const char *p = s;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        base = 16, p += 2;
    else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
        base = 2, p += 2;
    else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
        base = 8, p += 2;
    else if (p[0] == '0' && p[1] != '\0')
        base = 8, p += 1;
    if (*p == '\0')
        return -1;
    uint64_t max = bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
    uint64_t v = 0;
    for (; *p; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (*p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (*p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            return -1;
        if (d >= base || v > (max - d) / base)
            return -1;
        v = v * base + d;
    }
    *out = v;
    return 0;
}

void config_members_free(config_member_t *members, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(members[i].name);
        config_url_free(&members[i].peer_url);
    }
    free(members);
}

static void members_free(config_t *cfg)
{
    config_members_free(cfg->initial_cluster, cfg->n_initial_cluster);
    cfg->initial_cluster = NULL;
    cfg->n_initial_cluster = 0;
}

/* "n1=http://a:2380,n2=http://b:2380" (etcd's types.NewURLsMap). */
int config_members_parse(const char *text, config_member_t **members, size_t *n_out, char *why,
                         size_t why_len)
{
    size_t n = 1, got = 0;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    config_member_t *m = calloc(n, sizeof(*m));
    if (m == NULL)
        return config_errf(why, why_len, "out of memory");
    const char *p = text;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq == NULL || eq == p) {
            config_members_free(m, got);
            return config_errf(why, why_len, "\"%.*s\" is not of the form name=URL", (int)len, p);
        }
        config_member_t *cur = &m[got];
        if (config_url_parse(eq + 1, len - (size_t)(eq + 1 - p), &cur->peer_url, why, why_len) !=
            0) {
            config_members_free(m, got);
            return -1;
        }
        cur->name = strndup(p, (size_t)(eq - p));
        got++;
        if (cur->name == NULL) {
            config_members_free(m, got);
            return config_errf(why, why_len, "out of memory");
        }
        if (comma == NULL) {
            *members = m;
            *n_out = got;
            return 0;
        }
        p = comma + 1;
    }
}

static int parse_members(config_t *cfg, const char *text, char *why, size_t why_len)
{
    config_member_t *m = NULL;
    size_t n = 0;
    if (config_members_parse(text, &m, &n, why, why_len) != 0)
        return -1;
    members_free(cfg);
    cfg->initial_cluster = m;
    cfg->n_initial_cluster = n;
    return 0;
}

static int replace_str(char **dst, const char *v)
{
    char *c = strdup(v);
    if (c == NULL)
        return -1;
    free(*dst);
    *dst = c;
    return 0;
}

/*
 * Checks the value of an option metcd does not act on as etcd's flag type
 * would, so that a value etcd refuses is refused here too. Durations and
 * lists are not checked: metcd ignores them.
 */
static int check_extra(config_opt_t opt, const char *v, char *why, size_t why_len)
{
    uint64_t u;
    bool b;
    switch (config_opts[opt].type) {
    case CONFIG_TYPE_BOOL:
        if (etcd_parse_bool(v, strlen(v), &b) != 0)
            return config_errf(why, why_len, "parse error");
        break;
    case CONFIG_TYPE_UINT:
        if (config_parse_uint(v, 64, &u) != 0)
            return config_errf(why, why_len, "parse error");
        break;
    case CONFIG_TYPE_INT:
        if (config_parse_uint(v + (v[0] == '-' || v[0] == '+'), 63, &u) != 0)
            return config_errf(why, why_len, "parse error");
        break;
    case CONFIG_TYPE_STR:
    case CONFIG_TYPE_OBSOLETE:
        break;
    }
    /* etcd's flags.SelectiveStringValue refuses any other value. */
    if (opt == CONFIG_OPT_PROXY && strcmp(v, "off") != 0 && strcmp(v, "readonly") != 0 &&
        strcmp(v, "on") != 0)
        return config_errf(why, why_len, "valid values are off, readonly, on");
    if (opt == CONFIG_OPT_DISCOVERY_FALLBACK && strcmp(v, "exit") != 0 && strcmp(v, "proxy") != 0)
        return config_errf(why, why_len, "valid values are exit, proxy");
    return 0;
}

/* Converts one raw value into cfg; the reason for a failure goes into why. */
static int convert(config_t *cfg, config_opt_t opt, const char *v, char *why, size_t why_len)
{
    uint64_t u;
    bool b;
    switch (opt) {
    case CONFIG_OPT_NAME:
        return replace_str(&cfg->name, v) ? config_errf(why, why_len, "out of memory") : 0;
    case CONFIG_OPT_DATA_DIR:
        if (v[0] == '\0')
            return config_errf(why, why_len, "the data directory cannot be empty");
        return replace_str(&cfg->data_dir, v) ? config_errf(why, why_len, "out of memory") : 0;
    case CONFIG_OPT_CONFIG_FILE:
        if (v[0] == '\0') {
            free(cfg->config_file);
            cfg->config_file = NULL;
            return 0;
        }
        return replace_str(&cfg->config_file, v) ? config_errf(why, why_len, "out of memory") : 0;
    case CONFIG_OPT_INITIAL_CLUSTER_TOKEN:
        return replace_str(&cfg->initial_cluster_token, v)
                   ? config_errf(why, why_len, "out of memory")
                   : 0;
    case CONFIG_OPT_INITIAL_CLUSTER_STATE:
        if (strcmp(v, "new") != 0 && strcmp(v, "existing") != 0)
            return config_errf(why, why_len, "must be \"new\" or \"existing\"");
        return replace_str(&cfg->initial_cluster_state, v)
                   ? config_errf(why, why_len, "out of memory")
                   : 0;
    case CONFIG_OPT_LISTEN_CLIENT_URLS:
    case CONFIG_OPT_ADVERTISE_CLIENT_URLS:
    case CONFIG_OPT_LISTEN_PEER_URLS:
    case CONFIG_OPT_INITIAL_ADVERTISE_PEER_URLS: {
        config_url_list_t *dst = opt == CONFIG_OPT_LISTEN_CLIENT_URLS      ? &cfg->listen_client
                                 : opt == CONFIG_OPT_ADVERTISE_CLIENT_URLS ? &cfg->advertise_client
                                 : opt == CONFIG_OPT_LISTEN_PEER_URLS
                                     ? &cfg->listen_peer
                                     : &cfg->initial_advertise_peer;
        config_url_list_t l;
        if (config_url_list_parse(v, &l, why, why_len) != 0)
            return -1;
        config_url_list_free(dst);
        *dst = l;
        return 0;
    }
    case CONFIG_OPT_INITIAL_CLUSTER:
        return parse_members(cfg, v, why, why_len);
    case CONFIG_OPT_HEARTBEAT_INTERVAL:
    case CONFIG_OPT_ELECTION_TIMEOUT:
    case CONFIG_OPT_MAX_WALS:
    case CONFIG_OPT_MAX_SNAPSHOTS:
    case CONFIG_OPT_WATCH_HISTORY:
    case CONFIG_OPT_THREADS:
        if (config_parse_uint(v, 32, &u) != 0)
            return config_errf(why, why_len, "parse error");
        *(opt == CONFIG_OPT_HEARTBEAT_INTERVAL ? &cfg->heartbeat_interval_ms
          : opt == CONFIG_OPT_ELECTION_TIMEOUT ? &cfg->election_timeout_ms
          : opt == CONFIG_OPT_MAX_WALS         ? &cfg->max_wals
          : opt == CONFIG_OPT_MAX_SNAPSHOTS    ? &cfg->max_snapshots
          : opt == CONFIG_OPT_THREADS          ? &cfg->threads
                                               : &cfg->watch_history) = (unsigned)u;
        return 0;
    case CONFIG_OPT_SNAPSHOT_COUNT:
    case CONFIG_OPT_MAX_REQUEST_BYTES:
    case CONFIG_OPT_LEVELDB_CACHE_BYTES:
    case CONFIG_OPT_LEVELDB_WRITE_BUFFER_BYTES:
    case CONFIG_OPT_BACKEND_CACHE_NODES:
        if (config_parse_uint(v, 64, &u) != 0)
            return config_errf(why, why_len, "parse error");
        *(opt == CONFIG_OPT_SNAPSHOT_COUNT        ? &cfg->snapshot_count
          : opt == CONFIG_OPT_MAX_REQUEST_BYTES   ? &cfg->max_request_bytes
          : opt == CONFIG_OPT_LEVELDB_CACHE_BYTES ? &cfg->leveldb_cache_bytes
          : opt == CONFIG_OPT_BACKEND_CACHE_NODES ? &cfg->backend_cache_nodes
                                                  : &cfg->leveldb_wbuf_bytes) = u;
        return 0;
    case CONFIG_OPT_ENABLE_V2:
    case CONFIG_OPT_UI:
    case CONFIG_OPT_VERSION:
    case CONFIG_OPT_HELP:
        if (opt == CONFIG_OPT_HELP) {
            cfg->show_help = true; /* Go: -h/-help ask for usage whatever the value */
            return 0;
        }
        if (etcd_parse_bool(v, strlen(v), &b) != 0)
            return config_errf(why, why_len, "parse error");
        *(opt == CONFIG_OPT_ENABLE_V2 ? &cfg->enable_v2
          : opt == CONFIG_OPT_UI      ? &cfg->ui
                                      : &cfg->show_version) = b;
        return 0;
    case CONFIG_OPT_BACKEND:
        if (strcmp(v, "memory") == 0) {
            cfg->backend = CONFIG_BACKEND_MEMORY;
            return 0;
        }
        if (strcmp(v, "lmdb") == 0) {
            cfg->backend = CONFIG_BACKEND_LMDB;
            return 0;
        }
        if (strcmp(v, "leveldb") == 0) {
            cfg->backend = CONFIG_BACKEND_LEVELDB;
            return 0;
        }
        return config_errf(why, why_len, "must be memory, lmdb or leveldb");
    case CONFIG_OPT_WAL_DIR:
        free(cfg->wal_dir);
        cfg->wal_dir = NULL;
        return v[0] == '\0' || replace_str(&cfg->wal_dir, v) == 0
                   ? 0
                   : config_errf(why, why_len, "out of memory");
    case CONFIG_OPT_LISTEN_METRICS_URLS: {
        config_url_list_t l = {0};
        if (v[0] != '\0' && config_url_list_parse(v, &l, why, why_len) != 0)
            return -1;
        config_url_list_free(&cfg->listen_metrics);
        cfg->listen_metrics = l;
        return 0;
    }
    case CONFIG_OPT_LOG_LEVEL:
        /* zap's level names (etcd 3.4 panics on any other). */
        if (strcmp(v, "debug") != 0 && strcmp(v, "info") != 0 && strcmp(v, "warn") != 0 &&
            strcmp(v, "error") != 0 && strcmp(v, "dpanic") != 0 && strcmp(v, "panic") != 0 &&
            strcmp(v, "fatal") != 0)
            return config_errf(why, why_len, "unknown level \"%s\"", v);
        return replace_str(&cfg->log_level, v) ? config_errf(why, why_len, "out of memory") : 0;
    case CONFIG_OPT_LOG_OUTPUT:
    case CONFIG_OPT_LOG_OUTPUTS:
        /* Checked when the log opens (main.c): a file path must be writable. */
        return replace_str(&cfg->log_outputs, v) ? config_errf(why, why_len, "out of memory") : 0;
    case CONFIG_OPT_DEBUG:
        /* etcd 3.4: the deprecated --debug sets the debug level. */
        if (etcd_parse_bool(v, strlen(v), &b) != 0)
            return config_errf(why, why_len, "parse error");
        return b && replace_str(&cfg->log_level, "debug")
                   ? config_errf(why, why_len, "out of memory")
                   : 0;
    case CONFIG_OPT_FORCE_NEW_CLUSTER:
        if (etcd_parse_bool(v, strlen(v), &b) != 0)
            return config_errf(why, why_len, "parse error");
        cfg->force_new_cluster = b;
        return 0;
    case CONFIG_OPT_COUNT:
        break;
    default:
        if (check_extra(opt, v, why, why_len) != 0)
            return -1;
        int brc = config_bootstrap_convert(cfg, opt, v, why, why_len);
        if (brc != 1)
            return brc < 0 ? -1 : 0;
        if (config_opts[opt].kind == CONFIG_KIND_USED)
            return config_tls_convert(cfg, opt, v, why, why_len);
        return 0;
    }
    return config_errf(why, why_len, "unknown option");
}

/* Applies every value of raw, naming the source in the error. */
static int apply_raw(config_t *cfg, const config_raw_t *raw, config_source_t src, const char *file,
                     char *err, size_t err_len)
{
    for (int opt = 0; opt < CONFIG_OPT_COUNT; opt++) {
        if (!raw->set[opt])
            continue;
        char why[384];
        if (convert(cfg, (config_opt_t)opt, raw->value[opt], why, sizeof(why)) == 0)
            continue;
        if (src == CONFIG_SRC_FLAG)
            return config_errf(err, err_len, "invalid value \"%s\" for flag -%s: %s",
                               raw->value[opt], config_opts[opt].name, why);
        if (src == CONFIG_SRC_ENV) {
            char env[64];
            size_t j = (size_t)snprintf(env, sizeof(env), "ETCD_");
            for (const char *p = config_opts[opt].name; *p && j + 1 < sizeof(env); p++)
                env[j++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
            env[j] = '\0';
            return config_errf(err, err_len, "invalid value \"%s\" for %s: %s", raw->value[opt],
                               env, why);
        }
        return config_errf(err, err_len, "invalid value \"%s\" for \"%s\" in config file %s: %s",
                           raw->value[opt], config_opts[opt].name, file, why);
    }
    return 0;
}

/* Sets every option to its default (strings owned by cfg). */
static int set_defaults(config_t *cfg, char *err, size_t err_len)
{
    for (int opt = 0; opt < CONFIG_OPT_FIRST_EXTRA; opt++) {
        /* data-dir and initial-cluster derive from other options later. */
        if (opt == CONFIG_OPT_DATA_DIR || opt == CONFIG_OPT_INITIAL_CLUSTER ||
            opt == CONFIG_OPT_CONFIG_FILE || opt == CONFIG_OPT_HELP)
            continue;
        char why[256];
        if (convert(cfg, (config_opt_t)opt, config_opts[opt].def, why, sizeof(why)) != 0)
            return config_errf(err, err_len, "default of --%s: %s", config_opts[opt].name, why);
    }
    if (replace_str(&cfg->log_level, config_opts[CONFIG_OPT_LOG_LEVEL].def) != 0 ||
        replace_str(&cfg->log_outputs, config_opts[CONFIG_OPT_LOG_OUTPUTS].def) != 0)
        return config_errf(err, err_len, "out of memory");
    return config_bootstrap_defaults(cfg) != 0 ? config_errf(err, err_len, "out of memory") : 0;
}

/* Two sorted URL lists hold the same URLs. */
static bool same_urls(const config_url_t *a, size_t na, const config_url_t *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].text, b[i].text) != 0)
            return false;
    return true;
}

static int url_ptr_cmp(const void *a, const void *b)
{
    return strcmp(((const config_url_t *)a)->text, ((const config_url_t *)b)->text);
}

/* Derived defaults and the checks etcd makes before it starts. */
static int finalize(config_t *cfg, const bool *set, const char *raw_log_outputs, char *err,
                    size_t err_len)
{
    cfg->max_request_bytes_set = set[CONFIG_OPT_MAX_REQUEST_BYTES];
    /* etcd 3.4: the deprecated --log-output counts only without --log-outputs. */
    if (set[CONFIG_OPT_LOG_OUTPUTS] && raw_log_outputs != NULL &&
        replace_str(&cfg->log_outputs, raw_log_outputs) != 0)
        return config_errf(err, err_len, "out of memory");
    if (!set[CONFIG_OPT_DATA_DIR]) {
        free(cfg->data_dir);
        if (asprintf(&cfg->data_dir, "%s.metcd", cfg->name) < 0) {
            cfg->data_dir = NULL;
            return config_errf(err, err_len, "out of memory");
        }
    }
    if (!set[CONFIG_OPT_INITIAL_CLUSTER]) {
        /*
         * "<name>=<url>" for each advertised peer URL (etcd's
         * InitialClusterFromName). etcd does this only for a non-default
         * name; doing it always lets "--initial-advertise-peer-urls" alone
         * start a one-member cluster.
         */
        const config_url_list_t *ap = &cfg->initial_advertise_peer;
        cfg->initial_cluster = calloc(ap->n, sizeof(*cfg->initial_cluster));
        if (cfg->initial_cluster == NULL && ap->n > 0)
            return config_errf(err, err_len, "out of memory");
        for (size_t i = 0; i < ap->n; i++) {
            char why[256];
            config_member_t *m = &cfg->initial_cluster[i];
            m->name = strdup(cfg->name);
            cfg->n_initial_cluster++;
            if (m->name == NULL || config_url_parse(ap->urls[i].text, strlen(ap->urls[i].text),
                                                    &m->peer_url, why, sizeof(why)) != 0)
                return config_errf(err, err_len, "out of memory");
        }
    }
    /* A proxy advertises nothing and is no member (etcdmain's validate). */
    bool proxy = cfg->proxy != CONFIG_PROXY_OFF;
    if (!proxy && set[CONFIG_OPT_LISTEN_CLIENT_URLS] && !set[CONFIG_OPT_ADVERTISE_CLIENT_URLS])
        return config_errf(err, err_len,
                           "--advertise-client-urls is required when --listen-client-urls is "
                           "set explicitly");
    if (cfg->heartbeat_interval_ms == 0)
        return config_errf(err, err_len, "--heartbeat-interval must be at least 1ms");
    if ((uint64_t)cfg->election_timeout_ms < 5 * (uint64_t)cfg->heartbeat_interval_ms)
        return config_errf(err, err_len,
                           "--election-timeout[%ums] should be at least as 5 times as "
                           "--heartbeat-interval[%ums]",
                           cfg->election_timeout_ms, cfg->heartbeat_interval_ms);
    if (cfg->election_timeout_ms > 50000)
        return config_errf(err, err_len,
                           "--election-timeout[%ums] is too long, and should be set less than "
                           "50000ms",
                           cfg->election_timeout_ms);
    if (cfg->watch_history == 0)
        return config_errf(err, err_len, "--watch-history must be at least 1");
    if (config_tls_check(cfg, err, err_len) != 0)
        return -1;
    if (cfg->threads > 256)
        return config_errf(err, err_len, "--threads must be at most 256");
    /* LevelDB silently clamps a write buffer outside [64 KiB, 1 GiB] (its
     * SanitizeOptions); metcd refuses it instead, so that the size asked for
     * is the size used. A block cache below 1 MiB holds too few 4 KiB blocks
     * to serve anything. */
    if (cfg->leveldb_cache_bytes < LEVELDB_MIN_CACHE)
        return config_errf(err, err_len, "--leveldb-cache-bytes must be at least %llu",
                           (unsigned long long)LEVELDB_MIN_CACHE);
    if (cfg->leveldb_wbuf_bytes < LEVELDB_MIN_WRITE_BUFFER ||
        cfg->leveldb_wbuf_bytes > LEVELDB_MAX_WRITE_BUFFER)
        return config_errf(err, err_len,
                           "--leveldb-write-buffer-bytes must be between %llu and %llu",
                           (unsigned long long)LEVELDB_MIN_WRITE_BUFFER,
                           (unsigned long long)LEVELDB_MAX_WRITE_BUFFER);
    if (cfg->backend != CONFIG_BACKEND_LEVELDB &&
        (set[CONFIG_OPT_LEVELDB_CACHE_BYTES] || set[CONFIG_OPT_LEVELDB_WRITE_BUFFER_BYTES]) &&
        config_warnf(cfg, "--leveldb-cache-bytes and --leveldb-write-buffer-bytes act only with "
                          "--backend leveldb") != 0)
        return config_errf(err, err_len, "out of memory");
    if (config_bootstrap_finalize(cfg, set, err, err_len) != 0)
        return -1;
    if (proxy)
        return 0;
    /* This member's peer URLs in --initial-cluster must be the advertised ones. */
    config_url_t mine[64];
    size_t n_mine = 0;
    for (size_t i = 0; i < cfg->n_initial_cluster && n_mine < 64; i++)
        if (strcmp(cfg->initial_cluster[i].name, cfg->name) == 0)
            mine[n_mine++] = cfg->initial_cluster[i].peer_url;
    if (n_mine == 0)
        return config_errf(err, err_len,
                           "couldn't find local name \"%s\" in the initial cluster "
                           "configuration",
                           cfg->name);
    qsort(mine, n_mine, sizeof(mine[0]), url_ptr_cmp);
    if (!same_urls(mine, n_mine, cfg->initial_advertise_peer.urls, cfg->initial_advertise_peer.n)) {
        char have[512] = "", adv[512] = "";
        for (size_t i = 0; i < n_mine; i++)
            snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s%s=%s", i ? "," : "",
                     cfg->name, mine[i].text);
        for (size_t i = 0; i < cfg->initial_advertise_peer.n; i++)
            snprintf(adv + strlen(adv), sizeof(adv) - strlen(adv), "%s%s", i ? "," : "",
                     cfg->initial_advertise_peer.urls[i].text);
        return config_errf(err, err_len,
                           "--initial-cluster has %s but missing from "
                           "--initial-advertise-peer-urls=%s",
                           have, adv);
    }
    return 0;
}

/*
 * Why a GUARDED option is refused when it asks for what metcd does not do:
 * accepting it would run a member other than the one the user asked for.
 */
static const char *guard_reason(config_opt_t opt)
{
    switch (opt) {
    default:
        return "not implemented";
    }
}

/* A GUARDED option's value asks for something metcd does not do. */
static bool guard_trips(config_opt_t opt, const char *v)
{
    bool b = false;
    if (config_opts[opt].type == CONFIG_TYPE_BOOL)
        return etcd_parse_bool(v, strlen(v), &b) == 0 && b;
    return v[0] != '\0'; /* etcd's default for these is the empty string */
}

/*
 * The options metcd does not act on, from the sources that make the
 * configuration (the file when one is given, else flags and variables):
 * a GUARDED one that trips is an error naming where it came from; the
 * IGNORED ones given are named together in one warning line.
 */
static int check_extras(config_t *cfg, const config_raw_t *a, config_source_t a_src,
                        const config_raw_t *b, const char *file, char *err, size_t err_len)
{
    char names[4096];
    size_t n = 0;
    names[0] = '\0';
    for (int opt = CONFIG_OPT_FIRST_EXTRA; opt < CONFIG_OPT_COUNT; opt++) {
        const config_raw_t *raw = a->set[opt] ? a : b != NULL && b->set[opt] ? b : NULL;
        if (raw == NULL)
            continue;
        config_source_t src = raw == a ? a_src : CONFIG_SRC_ENV;
        const char *name = config_opts[opt].name, *v = raw->value[opt];
        if (config_opts[opt].kind == CONFIG_KIND_USED)
            continue;
        if (config_opts[opt].kind == CONFIG_KIND_GUARDED) {
            if (!guard_trips((config_opt_t)opt, v))
                continue; /* the value is what metcd does anyway */
            const char *why = guard_reason((config_opt_t)opt);
            if (src == CONFIG_SRC_FLAG)
                return config_errf(err, err_len, "--%s=%s is not supported by metcd: %s", name, v,
                                   why);
            if (src == CONFIG_SRC_FILE)
                return config_errf(err, err_len,
                                   "\"%s: %s\" in config file %s is not supported by metcd: %s",
                                   name, v, file, why);
            char env[96];
            size_t j = (size_t)snprintf(env, sizeof(env), "ETCD_");
            for (const char *p = name; *p && j + 1 < sizeof(env); p++)
                env[j++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
            env[j] = '\0';
            return config_errf(err, err_len, "%s=%s is not supported by metcd: %s", env, v, why);
        }
        if (n + strlen(name) + 5 < sizeof(names))
            n += (size_t)snprintf(names + n, sizeof(names) - n, "%s--%s", n ? ", " : "", name);
    }
    if (n > 0 && config_warnf(cfg,
                              "ignoring etcd options that metcd does not implement (v3-only, "
                              "obsolete or not supported yet): %s",
                              names) != 0)
        return config_errf(err, err_len, "out of memory");
    return 0;
}

/*
 * Messages quote what the user gave; control characters in it (a newline in
 * an argument) are written as escapes so that the message stays one line.
 */
static void escape_controls(char *err, size_t err_len)
{
    if (err_len == 0)
        return;
    char out[1024];
    size_t j = 0;
    for (const unsigned char *p = (const unsigned char *)err; *p && j + 5 < sizeof(out); p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            out[j++] = (char)*p;
        } else if (*p == '\n') {
            out[j++] = '\\', out[j++] = 'n';
        } else if (*p == '\t') {
            out[j++] = '\\', out[j++] = 't';
        } else {
            j += (size_t)snprintf(out + j, sizeof(out) - j, "\\x%02x", *p);
        }
    }
    out[j] = '\0';
    snprintf(err, err_len, "%s", out);
}

int config_parse(config_t *cfg, int argc, char **argv, char **envp, char *err, size_t err_len)
{
    memset(cfg, 0, sizeof(*cfg));
    config_raw_t flags = {0}, env = {0}, file = {0};
    bool set[CONFIG_OPT_COUNT] = {false};
    /* Go's flag package fails with exit 2; what etcd checks after it, with 1. */
    int rc = config_flags_scan(&flags, argc, argv, err, err_len);
    if (rc != 0)
        goto out;
    rc = CONFIG_E_FLAG;
    if (set_defaults(cfg, err, err_len) != 0 ||
        apply_raw(cfg, &flags, CONFIG_SRC_FLAG, NULL, err, err_len) != 0)
        goto out;
    rc = CONFIG_E_VERIFY;
    if (cfg->show_help || cfg->show_version) { /* etcd answers these before reading env */
        rc = 0;
        goto out;
    }
    int erc = config_env_scan(&env, &flags, envp, cfg, err, err_len);
    if (erc != 0) {
        rc = erc == CONFIG_E_CONFLICT ? erc : CONFIG_E_VERIFY;
        goto out;
    }
    if (apply_raw(cfg, &env, CONFIG_SRC_ENV, NULL, err, err_len) != 0)
        goto out;
    if (cfg->show_version) {
        rc = 0;
        goto out;
    }
    for (int i = 0; i < CONFIG_OPT_COUNT; i++)
        set[i] = flags.set[i] || env.set[i];

    if (cfg->config_file != NULL) {
        /* etcd: with a config file, the other flags and variables are ignored. */
        char *path = cfg->config_file;
        cfg->config_file = NULL;
        char **warnings = cfg->warnings;
        size_t n_warnings = cfg->n_warnings;
        cfg->warnings = NULL;
        cfg->n_warnings = 0;
        config_free(cfg);
        cfg->config_file = path;
        cfg->warnings = warnings;
        cfg->n_warnings = n_warnings;
        if (set_defaults(cfg, err, err_len) != 0 ||
            config_yaml_load(&file, path, cfg, err, err_len) != 0 ||
            apply_raw(cfg, &file, CONFIG_SRC_FILE, path, err, err_len) != 0)
            goto out;
        for (int i = 0; i < CONFIG_OPT_COUNT; i++)
            set[i] = file.set[i];
        /* metcd's own refusals (not etcd's) keep exit 2, as before. */
        if (check_extras(cfg, &file, CONFIG_SRC_FILE, NULL, path, err, err_len) != 0) {
            rc = CONFIG_E_FLAG;
            goto out;
        }
    } else if (check_extras(cfg, &flags, CONFIG_SRC_FLAG, &env, NULL, err, err_len) != 0) {
        rc = CONFIG_E_FLAG;
        goto out;
    }
    const config_raw_t *lo = cfg->config_file != NULL            ? &file
                             : flags.set[CONFIG_OPT_LOG_OUTPUTS] ? &flags
                                                                 : &env;
    if (finalize(cfg, set, lo->value[CONFIG_OPT_LOG_OUTPUTS], err, err_len) != 0)
        goto out;
    rc = 0;
out:
    config_raw_free(&flags);
    config_raw_free(&env);
    config_raw_free(&file);
    if (rc != 0) {
        config_free(cfg);
        escape_controls(err, err_len);
    }
    return rc;
}

void config_free(config_t *cfg)
{
    free(cfg->name);
    free(cfg->data_dir);
    config_url_list_free(&cfg->listen_client);
    config_url_list_free(&cfg->advertise_client);
    config_url_list_free(&cfg->listen_peer);
    config_url_list_free(&cfg->initial_advertise_peer);
    members_free(cfg);
    free(cfg->initial_cluster_state);
    free(cfg->initial_cluster_token);
    free(cfg->config_file);
    free(cfg->wal_dir);
    config_url_list_free(&cfg->listen_metrics);
    free(cfg->log_level);
    free(cfg->log_outputs);
    config_bootstrap_free(cfg);
    config_tls_free(cfg);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    memset(cfg, 0, sizeof(*cfg));
}

const char *config_usage(void)
{
    static char buf[16384];
    if (buf[0] != '\0')
        return buf;
    size_t n = (size_t)snprintf(
        buf, sizeof(buf),
        "Usage:\n\n"
        "  metcd [flags]\n"
        "    Start a metcd member (the etcd v2 API).\n\n"
        "  metcd --version\n"
        "    Show the version of metcd.\n\n"
        "  metcd -h | --help\n"
        "    Show the help information about metcd.\n\n"
        "  metcd --config-file\n"
        "    Path to the server configuration file. Note that if a configuration file is "
        "provided, other command line flags and environment variables will be ignored.\n\n"
        "  metcd --import-etcd-data-dir DIR [flags]\n"
        "    Make this member's new data dir from the data dir DIR of a stopped etcd 3.4 "
        "member (its keys and indexes), then start.\n\n"
        "  metcd --migrate-backend --data-dir DIR --backend memory|lmdb|leveldb\n"
        "    Convert a stopped member's data dir to another storage backend, then exit.\n\n"
        "Flags (each also read from ETCD_<FLAG>, upper case, dashes as underscores):\n");
    for (int opt = 0; opt < CONFIG_OPT_COUNT && n < sizeof(buf); opt++) {
        if (opt == CONFIG_OPT_VERSION || opt == CONFIG_OPT_HELP ||
            config_opts[opt].kind != CONFIG_KIND_USED)
            continue;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "  --%s '%s'\n    %s\n",
                              config_opts[opt].name, config_opts[opt].def, config_opts[opt].help);
    }
    /* etcd's other flags: accepted so that etcd's command lines start metcd. */
    for (int kind = CONFIG_KIND_IGNORED; kind <= CONFIG_KIND_GUARDED && n < sizeof(buf); kind++) {
        bool any = false;
        for (int opt = CONFIG_OPT_FIRST_EXTRA; opt < CONFIG_OPT_COUNT; opt++)
            any = any || (int)config_opts[opt].kind == kind;
        if (!any) /* no section without a flag in it */
            continue;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s",
                              kind == CONFIG_KIND_IGNORED
                                  ? "\nAccepted for etcd compatibility and ignored, with a "
                                    "warning:\n "
                                  : "\n\nRefused unless left at etcd's default (off, false or "
                                    "empty):\n ");
        size_t col = 1;
        for (int opt = CONFIG_OPT_FIRST_EXTRA; opt < CONFIG_OPT_COUNT && n < sizeof(buf); opt++) {
            if ((int)config_opts[opt].kind != kind)
                continue;
            size_t w = strlen(config_opts[opt].name) + 3;
            if (col + w > 79) {
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\n ");
                col = 1;
            }
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, " --%s", config_opts[opt].name);
            col += w;
        }
    }
    if (n < sizeof(buf))
        snprintf(buf + n, sizeof(buf) - n, "\n");
    return buf;
}
