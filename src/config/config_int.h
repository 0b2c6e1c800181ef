/*
 * Internals of the configuration parser (src/config*.c). Not for other
 * layers: they see only src/config.h.
 */
#ifndef METCD_CONFIG_INT_H
#define METCD_CONFIG_INT_H

#include <stdarg.h>

#include "common/parse.h"
#include "src/config/config.h"

/*
 * The other flags of etcd 3.4.23 (etcdmain/config.go, including those its
 * --help does not list: enable-grpc-gateway, log-output, unsafe-no-fsync,
 * experimental-enable-lease-checkpoint-persist and the obsolete flags it
 * ignores). metcd accepts them so that an etcd command line, environment or
 * config file starts it unchanged. X(id, name, type, kind, default, help).
 * USED: metcd acts on it (config.c converts it; config_bootstrap.c the
 * discovery and proxy options). IGNORED: accepted and named in one warning
 * line. GUARDED: refused unless left at a value that means what metcd does
 * anyway (config.c says why).
 */
#define CONFIG_EXTRA_OPTS(X)                                                                       \
    X(WAL_DIR, "wal-dir", STR, USED, "", "Path to the dedicated wal directory.")                   \
    X(LISTEN_METRICS_URLS, "listen-metrics-urls", STR, USED, "",                                   \
      "List of URLs to listen on for the metrics and health endpoints.")                           \
    X(INITIAL_ELECTION_TICK_ADVANCE, "initial-election-tick-advance", BOOL, IGNORED, "true",       \
      "Whether to fast-forward initial election ticks on boot for faster election.")               \
    X(QUOTA_BACKEND_BYTES, "quota-backend-bytes", INT, IGNORED, "0",                               \
      "Raise alarms when backend size exceeds the given quota (v3).")                              \
    X(BACKEND_BATCH_INTERVAL, "backend-batch-interval", STR, IGNORED, "",                          \
      "Maximum time before commit the backend transaction (v3).")                                  \
    X(BACKEND_BATCH_LIMIT, "backend-batch-limit", INT, IGNORED, "0",                               \
      "Maximum operations before commit the backend transaction (v3).")                            \
    X(MAX_TXN_OPS, "max-txn-ops", UINT, IGNORED, "128",                                            \
      "Maximum number of operations permitted in a transaction (v3).")                             \
    X(GRPC_KEEPALIVE_MIN_TIME, "grpc-keepalive-min-time", STR, IGNORED, "5s",                      \
      "gRPC keepalive (v3).")                                                                      \
    X(GRPC_KEEPALIVE_INTERVAL, "grpc-keepalive-interval", STR, IGNORED, "2h",                      \
      "gRPC keepalive (v3).")                                                                      \
    X(GRPC_KEEPALIVE_TIMEOUT, "grpc-keepalive-timeout", STR, IGNORED, "20s",                       \
      "gRPC keepalive (v3).")                                                                      \
    X(MAX_CONCURRENT_STREAMS, "max-concurrent-streams", UINT, IGNORED, "math.MaxUint32",           \
      "Maximum concurrent gRPC streams per client (v3).")                                          \
    X(DISCOVERY, "discovery", STR, USED, "", "Discovery URL used to bootstrap the cluster.")       \
    X(DISCOVERY_FALLBACK, "discovery-fallback", STR, USED, "proxy",                                \
      "Expected behavior ('exit' or 'proxy') when discovery services fails.")                      \
    X(DISCOVERY_PROXY, "discovery-proxy", STR, USED, "",                                           \
      "HTTP proxy to use for traffic to discovery service.")                                       \
    X(DISCOVERY_SRV, "discovery-srv", STR, USED, "",                                               \
      "DNS srv domain used to bootstrap the cluster.")                                             \
    X(DISCOVERY_SRV_NAME, "discovery-srv-name", STR, USED, "",                                     \
      "Suffix to the dns srv name queried when bootstrapping.")                                    \
    X(STRICT_RECONFIG_CHECK, "strict-reconfig-check", BOOL, IGNORED, "true",                       \
      "Reject reconfiguration requests that would cause quorum loss.")                             \
    X(PRE_VOTE, "pre-vote", BOOL, IGNORED, "false",                                                \
      "Enable to run an additional Raft election phase.")                                          \
    X(AUTO_COMPACTION_RETENTION, "auto-compaction-retention", STR, IGNORED, "0",                   \
      "Auto compaction retention length (v3).")                                                    \
    X(AUTO_COMPACTION_MODE, "auto-compaction-mode", STR, IGNORED, "periodic",                      \
      "Auto compaction mode (v3).")                                                                \
    X(CERT_FILE, "cert-file", STR, USED, "", "Path to the client server TLS cert file.")           \
    X(KEY_FILE, "key-file", STR, USED, "", "Path to the client server TLS key file.")              \
    X(CLIENT_CERT_AUTH, "client-cert-auth", BOOL, USED, "false",                                   \
      "Enable client cert authentication.")                                                        \
    X(CLIENT_CRL_FILE, "client-crl-file", STR, USED, "",                                           \
      "Path to the client certificate revocation list file.")                                      \
    X(CLIENT_CERT_ALLOWED_HOSTNAME, "client-cert-allowed-hostname", STR, USED, "",                 \
      "Allowed TLS hostname for client cert authentication.")                                      \
    X(TRUSTED_CA_FILE, "trusted-ca-file", STR, USED, "",                                           \
      "Path to the client server TLS trusted CA cert file.")                                       \
    X(AUTO_TLS, "auto-tls", BOOL, USED, "false", "Client TLS using generated certificates.")       \
    X(PEER_CERT_FILE, "peer-cert-file", STR, USED, "", "Path to the peer server TLS cert file.")   \
    X(PEER_KEY_FILE, "peer-key-file", STR, USED, "", "Path to the peer server TLS key file.")      \
    X(PEER_CLIENT_CERT_AUTH, "peer-client-cert-auth", BOOL, USED, "false",                         \
      "Enable peer client cert authentication.")                                                   \
    X(PEER_TRUSTED_CA_FILE, "peer-trusted-ca-file", STR, USED, "",                                 \
      "Path to the peer server TLS trusted CA file.")                                              \
    X(PEER_CERT_ALLOWED_CN, "peer-cert-allowed-cn", STR, USED, "",                                 \
      "Required CN for client certs connecting to the peer endpoint.")                             \
    X(PEER_CERT_ALLOWED_HOSTNAME, "peer-cert-allowed-hostname", STR, USED, "",                     \
      "Allowed TLS hostname for inter peer authentication.")                                       \
    X(PEER_AUTO_TLS, "peer-auto-tls", BOOL, USED, "false",                                         \
      "Peer TLS using self-generated certificates.")                                               \
    X(PEER_CRL_FILE, "peer-crl-file", STR, USED, "",                                               \
      "Path to the peer certificate revocation list file.")                                        \
    X(CIPHER_SUITES, "cipher-suites", STR, USED, "",                                               \
      "Comma-separated list of supported TLS cipher suites.")                                      \
    X(EXPERIMENTAL_PEER_SKIP_CLIENT_SAN_VERIFICATION,                                              \
      "experimental-peer-skip-client-san-verification", BOOL, IGNORED, "false",                    \
      "Skip verification of SAN field in client certificate for peer connections.")                \
    X(CORS, "cors", STR, IGNORED, "*", "Comma-separated whitelist of origins for CORS.")           \
    X(HOST_WHITELIST, "host-whitelist", STR, IGNORED, "*",                                         \
      "Acceptable hostnames from HTTP client requests.")                                           \
    X(AUTH_TOKEN, "auth-token", STR, IGNORED, "simple", "v3 authentication token type.")           \
    X(BCRYPT_COST, "bcrypt-cost", UINT, IGNORED, "10",                                             \
      "Cost of the bcrypt algorithm for hashing auth passwords (v3).")                             \
    X(AUTH_TOKEN_TTL, "auth-token-ttl", UINT, IGNORED, "300",                                      \
      "Time (in seconds) of the auth-token-ttl (v3).")                                             \
    X(ENABLE_PPROF, "enable-pprof", BOOL, IGNORED, "false",                                        \
      "Enable runtime profiling data via HTTP server.")                                            \
    X(METRICS, "metrics", STR, IGNORED, "basic", "Level of detail for exported metrics.")          \
    X(LOGGER, "logger", STR, IGNORED, "capnslog", "'zap' for structured logging or 'capnslog'.")   \
    X(LOG_OUTPUT, "log-output", STR, USED, "default", "Deprecated spelling of --log-outputs.")     \
    X(LOG_OUTPUTS, "log-outputs", STR, USED, "default",                                            \
      "Where log lines go: default, stderr, stdout, journal or file paths.")                       \
    X(LOG_LEVEL, "log-level", STR, USED, "info",                                                   \
      "Log level: debug, info, warn, error, panic or fatal.")                                      \
    X(PROXY, "proxy", STR, USED, "off", "Proxy mode setting ('off', 'readonly' or 'on').")         \
    X(PROXY_FAILURE_WAIT, "proxy-failure-wait", UINT, USED, "5000",                                \
      "Time (in milliseconds) an endpoint will be held in a failed state.")                        \
    X(PROXY_REFRESH_INTERVAL, "proxy-refresh-interval", UINT, USED, "30000",                       \
      "Time (in milliseconds) of the endpoints refresh interval.")                                 \
    X(PROXY_DIAL_TIMEOUT, "proxy-dial-timeout", UINT, USED, "1000",                                \
      "Time (in milliseconds) for a dial to timeout.")                                             \
    X(PROXY_WRITE_TIMEOUT, "proxy-write-timeout", UINT, USED, "5000",                              \
      "Time (in milliseconds) for a write to timeout.")                                            \
    X(PROXY_READ_TIMEOUT, "proxy-read-timeout", UINT, USED, "0",                                   \
      "Time (in milliseconds) for a read to timeout.")                                             \
    X(ENABLE_GRPC_GATEWAY, "enable-grpc-gateway", BOOL, IGNORED, "true",                           \
      "Enable GRPC gateway (v3).")                                                                 \
    X(EXPERIMENTAL_INITIAL_CORRUPT_CHECK, "experimental-initial-corrupt-check", BOOL, IGNORED,     \
      "false", "Check data corruption before serving.")                                            \
    X(EXPERIMENTAL_CORRUPT_CHECK_TIME, "experimental-corrupt-check-time", STR, IGNORED, "0s",      \
      "Duration between cluster corruption check passes.")                                         \
    X(EXPERIMENTAL_ENABLE_V2V3, "experimental-enable-v2v3", STR, IGNORED, "",                      \
      "Serve v2 requests through the v3 backend under a given prefix.")                            \
    X(EXPERIMENTAL_BACKEND_BBOLT_FREELIST_TYPE, "experimental-backend-bbolt-freelist-type", STR,   \
      IGNORED, "array", "Freelist type of the boltdb backend (v3).")                               \
    X(EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT, "experimental-enable-lease-checkpoint", BOOL, IGNORED, \
      "false", "Lease checkpoints (v3).")                                                          \
    X(EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT_PERSIST,                                                \
      "experimental-enable-lease-checkpoint-persist", BOOL, IGNORED, "false",                      \
      "Persisted lease checkpoints (v3).")                                                         \
    X(EXPERIMENTAL_COMPACTION_BATCH_LIMIT, "experimental-compaction-batch-limit", INT, IGNORED,    \
      "1000", "Maximum revisions deleted in each compaction batch (v3).")                          \
    X(EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL, "experimental-watch-progress-notify-interval",  \
      STR, IGNORED, "10m", "Duration of periodical watch progress notification (v3).")             \
    X(EXPERIMENTAL_WARNING_APPLY_DURATION, "experimental-warning-apply-duration", STR, IGNORED,    \
      "100ms", "Warn when requests take more than this duration.")                                 \
    X(UNSAFE_NO_FSYNC, "unsafe-no-fsync", BOOL, IGNORED, "false",                                  \
      "Disables fsync (metcd always syncs).")                                                      \
    X(FORCE_NEW_CLUSTER, "force-new-cluster", BOOL, USED, "false",                                 \
      "Restart a member with a log as the only member of its cluster.")                            \
    X(DEBUG, "debug", BOOL, USED, "false", "Enable debug-level logging (deprecated in etcd).")     \
    X(LOG_PACKAGE_LEVELS, "log-package-levels", STR, IGNORED, "",                                  \
      "Log level for each etcd package (deprecated in etcd).")                                     \
    X(OBSOLETE_CLUSTER_ACTIVE_SIZE, "cluster-active-size", OBSOLETE, IGNORED, "",                  \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")                                              \
    X(OBSOLETE_CLUSTER_REMOVE_DELAY, "cluster-remove-delay", OBSOLETE, IGNORED, "",                \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")                                              \
    X(OBSOLETE_CLUSTER_SYNC_INTERVAL, "cluster-sync-interval", OBSOLETE, IGNORED, "",              \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")                                              \
    X(OBSOLETE_CONFIG, "config", OBSOLETE, IGNORED, "",                                            \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")                                              \
    X(OBSOLETE_FORCE, "force", OBSOLETE, IGNORED, "",                                              \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")                                              \
    X(OBSOLETE_MAX_RESULT_BUFFER, "max-result-buffer", OBSOLETE, IGNORED, "",                      \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")                                              \
    X(OBSOLETE_MAX_RETRY_ATTEMPTS, "max-retry-attempts", OBSOLETE, IGNORED, "",                    \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")                                              \
    X(OBSOLETE_PEER_HEARTBEAT_INTERVAL, "peer-heartbeat-interval", OBSOLETE, IGNORED, "",          \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")                                              \
    X(OBSOLETE_PEER_ELECTION_TIMEOUT, "peer-election-timeout", OBSOLETE, IGNORED, "",              \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")                                              \
    X(OBSOLETE_RETRY_INTERVAL, "retry-interval", OBSOLETE, IGNORED, "",                            \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")                                              \
    X(OBSOLETE_SNAPSHOT, "snapshot", OBSOLETE, IGNORED, "",                                        \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")                                              \
    X(OBSOLETE_V, "v", OBSOLETE, IGNORED, "", "Obsolete etcd flag, ignored by etcd 3.4 too.")      \
    X(OBSOLETE_VV, "vv", OBSOLETE, IGNORED, "", "Obsolete etcd flag, ignored by etcd 3.4 too.")    \
    X(OBSOLETE_TEST_COVERPROFILE, "test.coverprofile", OBSOLETE, IGNORED, "",                      \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")                                              \
    X(OBSOLETE_TEST_OUTPUTDIR, "test.outputdir", OBSOLETE, IGNORED, "",                            \
      "Obsolete etcd flag, ignored by etcd 3.4 too.")

#define CONFIG_OPT_ENUM_(id, name, type, kind, def, help) CONFIG_OPT_##id,

/* Every option: metcd's own in the order --help lists them, then the others. */
typedef enum config_opt {
    CONFIG_OPT_NAME,
    CONFIG_OPT_DATA_DIR,
    CONFIG_OPT_LISTEN_CLIENT_URLS,
    CONFIG_OPT_ADVERTISE_CLIENT_URLS,
    CONFIG_OPT_LISTEN_PEER_URLS,
    CONFIG_OPT_INITIAL_ADVERTISE_PEER_URLS,
    CONFIG_OPT_INITIAL_CLUSTER,
    CONFIG_OPT_INITIAL_CLUSTER_STATE,
    CONFIG_OPT_INITIAL_CLUSTER_TOKEN,
    CONFIG_OPT_HEARTBEAT_INTERVAL,
    CONFIG_OPT_ELECTION_TIMEOUT,
    CONFIG_OPT_SNAPSHOT_COUNT,
    CONFIG_OPT_MAX_REQUEST_BYTES,
    CONFIG_OPT_MAX_WALS,
    CONFIG_OPT_MAX_SNAPSHOTS,
    CONFIG_OPT_ENABLE_V2,
    CONFIG_OPT_BACKEND,
    CONFIG_OPT_WATCH_HISTORY,
    CONFIG_OPT_THREADS,
    CONFIG_OPT_LEVELDB_CACHE_BYTES,
    CONFIG_OPT_LEVELDB_WRITE_BUFFER_BYTES,
    CONFIG_OPT_BACKEND_CACHE_NODES,
    CONFIG_OPT_UI,
    CONFIG_OPT_CONFIG_FILE,
    CONFIG_OPT_VERSION,
    CONFIG_OPT_HELP,
    CONFIG_EXTRA_OPTS(CONFIG_OPT_ENUM_) CONFIG_OPT_COUNT
} config_opt_t;

/* The first option of CONFIG_EXTRA_OPTS: metcd's own come before it. */
#define CONFIG_OPT_FIRST_EXTRA (CONFIG_OPT_HELP + 1)

/* How metcd treats an option. */
typedef enum config_kind {
    CONFIG_KIND_USED = 0, /* metcd acts on it */
    CONFIG_KIND_IGNORED,  /* accepted, named in one warning line when given */
    CONFIG_KIND_GUARDED,  /* refused unless its value means what metcd does */
} config_kind_t;

/* How a value is checked, as Go's flag types check it. */
typedef enum config_type {
    CONFIG_TYPE_STR = 0, /* any text (durations too: not checked) */
    CONFIG_TYPE_BOOL,    /* strconv.ParseBool */
    CONFIG_TYPE_UINT,    /* strconv.ParseUint(s, 0, 64) */
    CONFIG_TYPE_INT,     /* strconv.ParseInt(s, 0, 64) */
    CONFIG_TYPE_OBSOLETE /* etcd's IgnoredFlag: bool syntax, any value */
} config_type_t;

typedef struct config_opt_desc {
    const char *name; /* flag name without dashes, also the YAML key */
    bool is_bool;     /* Go bool flag: "--f" alone means true */
    bool in_env;      /* has an ETCD_<NAME> variable */
    bool in_yaml;     /* may appear in the config file */
    const char *def;  /* default as --help shows it */
    const char *help; /* one line of --help */
    config_kind_t kind;
    config_type_t type; /* for the options of CONFIG_EXTRA_OPTS */
} config_opt_desc_t;

extern const config_opt_desc_t config_opts[CONFIG_OPT_COUNT];

/* Looks up a flag / YAML key by name; -1 when unknown. "h" is --help. */
int config_opt_find(const char *name, size_t len);

/* Where a value came from, for error messages. */
typedef enum config_source {
    CONFIG_SRC_FLAG,
    CONFIG_SRC_ENV,
    CONFIG_SRC_FILE,
} config_source_t;

/*
 * Raw values collected from one source before they are converted. Strings
 * are owned (strdup'd) so that every source is alike.
 */
typedef struct config_raw {
    char *value[CONFIG_OPT_COUNT];
    bool set[CONFIG_OPT_COUNT];
} config_raw_t;

void config_raw_free(config_raw_t *raw);
/* Replaces raw->value[opt] by a copy of v (len bytes). Returns 0 or -1. */
int config_raw_set(config_raw_t *raw, config_opt_t opt, const char *v, size_t len);

/*
 * The discovery and proxy options (config_bootstrap.c). _defaults sets
 * etcd's defaults; _convert converts one value (returns 1 when opt is not
 * one of them, 0, or -1 with why); _finalize makes etcd's checks once every
 * source is applied; _free frees the strings.
 */
int config_bootstrap_defaults(config_t *cfg);
int config_bootstrap_convert(config_t *cfg, config_opt_t opt, const char *v, char *why,
                             size_t why_len);
int config_bootstrap_finalize(config_t *cfg, const bool *set, char *err, size_t err_len);
void config_bootstrap_free(config_t *cfg);

/* Formats into err; always returns -1. */
int config_errf(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends a warning line to cfg->warnings. Returns 0 or -1 (ENOMEM). */
int config_warnf(config_t *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Go's flag package on argv[1..]: fills raw with the flags given. Returns 0,
 * CONFIG_E_FLAG with one line in err ("flag provided but not defined: -x",
 * ...), or CONFIG_E_VERIFY for an argument that is not a flag.
 */
int config_flags_scan(config_raw_t *raw, int argc, char **argv, char *err, size_t err_len);

/*
 * ETCD_<FLAG> variables from envp. A variable for an option `skip` marks as
 * set (given as a flag) returns CONFIG_E_CONFLICT; other failures -1.
 * Unknown ETCD_* variables become warnings in cfg.
 */
int config_env_scan(config_raw_t *raw, const config_raw_t *skip, char **envp, config_t *cfg,
                    char *err, size_t err_len);

/*
 * Reads the YAML config file at path into raw. Unknown keys become warnings
 * (etcd ignores them silently). Returns 0 or -1 with err.
 */
int config_yaml_load(config_raw_t *raw, const char *path, config_t *cfg, char *err, size_t err_len);

/*
 * Parses one URL ("http://host:port") as etcd's types.NewURLs accepts it
 * (scheme http/https/unix/unixs, host:port, no path). Returns 0, or -1 with
 * the reason in why. Ownership: fills *out with owned strings.
 */
int config_url_parse(const char *text, size_t len, config_url_t *out, char *why, size_t why_len);
void config_url_free(config_url_t *u);

/* A comma-separated list of URLs, sorted by text. Returns 0 or -1 + why. */
int config_url_list_parse(const char *text, config_url_list_t *out, char *why, size_t why_len);
void config_url_list_free(config_url_list_t *l);

/*
 * The TLS options (config_tls.c): stores one value into cfg->client_tls,
 * cfg->peer_tls or cfg->cipher_suites (strings owned by cfg). Returns 0 or
 * -1 with the reason in why.
 */
int config_tls_convert(config_t *cfg, config_opt_t opt, const char *v, char *why, size_t why_len);

/* etcd's checks of https:// listen URLs against the certificates given. */
int config_tls_check(config_t *cfg, char *err, size_t err_len);

/* Frees the TLS strings of cfg. */
void config_tls_free(config_t *cfg);

/*
 * Go's strconv.ParseUint(s, 0, bits) as the flag package uses it: decimal,
 * 0x hex, 0 octal, 0b binary, no sign, no spaces. Returns 0 or -1.
 */
int config_parse_uint(const char *s, unsigned bits, uint64_t *out);

#endif /* METCD_CONFIG_INT_H */
