/*
 * Configuration with etcd's names: command-line flags (every spelling Go's
 * flag package accepts: --f v, --f=v, -f v, -f=v), ETCD_<FLAG> environment
 * variables (upper case, dashes as underscores), and a YAML file given by
 * --config-file whose keys are the flag names. As in etcd 3.4, when a config
 * file is given its values win and flags/env are ignored (etcd's embed
 * config: "if --config-file is given, other flags are ignored").
 * Precedence otherwise: flag > environment > default; a flag given both on
 * the command line and as its ETCD_* variable is refused, as etcd does.
 *
 * Lists of URLs are kept sorted by their text, as etcd's types.NewURLs does:
 * member IDs are computed from the sorted peer URLs.
 */
#ifndef METCD_CONFIG_H
#define METCD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One parsed URL of a --listen-* or --advertise-* list. */
typedef struct config_url {
    char *text;   /* as given, e.g. "http://127.0.0.1:2379" (owned) */
    char *scheme; /* "http" or "https" (owned) */
    char *host;   /* "127.0.0.1", "localhost", "::1" without brackets (owned) */
    uint16_t port;
} config_url_t;

typedef struct config_url_list {
    config_url_t *urls;
    size_t n;
} config_url_list_t;

/* One member of --initial-cluster: name=peerURL (a name may repeat). */
typedef struct config_member {
    char *name;
    config_url_t peer_url;
} config_member_t;

/*
 * TLS for one side, clients or peers (etcd's transport.TLSInfo). Strings
 * are owned, NULL when not given. A side serves TLS on its https:// URLs
 * only; config_parse() refuses an https:// listen URL with neither a
 * certificate and key nor auto_tls, as etcd does.
 */
typedef struct config_tls {
    char *cert_file;        /* --cert-file / --peer-cert-file */
    char *key_file;         /* --key-file / --peer-key-file */
    char *trusted_ca_file;  /* --trusted-ca-file / --peer-trusted-ca-file */
    char *crl_file;         /* --client-crl-file / --peer-crl-file */
    char *allowed_cn;       /* --peer-cert-allowed-cn (peers only) */
    char *allowed_hostname; /* --client-cert-allowed-hostname / --peer-cert-allowed-hostname */
    bool client_cert_auth;  /* --client-cert-auth / --peer-client-cert-auth */
    bool auto_tls;          /* --auto-tls / --peer-auto-tls */
} config_tls_t;

typedef enum config_backend {
    CONFIG_BACKEND_MEMORY = 0,
    CONFIG_BACKEND_LMDB,
    CONFIG_BACKEND_LEVELDB,
} config_backend_t;

/* --proxy: off (a member), on, or readonly (a proxy refusing writes). */
typedef enum config_proxy {
    CONFIG_PROXY_OFF = 0,
    CONFIG_PROXY_ON,
    CONFIG_PROXY_READONLY,
} config_proxy_t;

typedef struct config {
    char *name;                         /* --name, default "default" */
    char *data_dir;                     /* --data-dir, default "<name>.metcd" */
    config_url_list_t listen_client;    /* --listen-client-urls, default http://localhost:2379 */
    config_url_list_t advertise_client; /* --advertise-client-urls, default http://localhost:2379 */
    config_url_list_t listen_peer;      /* --listen-peer-urls, default http://localhost:2380 */
    config_url_list_t initial_advertise_peer; /* --initial-advertise-peer-urls, default
                                                 http://localhost:2380 */
    config_member_t *initial_cluster;         /* --initial-cluster, default "<name>=<url>" for
                                                 each --initial-advertise-peer-urls URL */
    size_t n_initial_cluster;
    char *initial_cluster_state;      /* "new" (default) or "existing" */
    char *initial_cluster_token;      /* default "etcd-cluster" */
    unsigned heartbeat_interval_ms;   /* default 100 */
    unsigned election_timeout_ms;     /* default 1000 */
    uint64_t snapshot_count;          /* default 100000 (etcd 3.4's) */
    uint64_t max_request_bytes;       /* default 1572864 (1.5 MiB) */
    bool max_request_bytes_set;       /* given by a flag, variable or the file */
    unsigned max_wals;                /* --max-wals, default 5 */
    unsigned max_snapshots;           /* --max-snapshots, default 5 */
    char *config_file;                /* --config-file, NULL when none */
    bool enable_v2;                   /* accepted; v2 is always on */
    config_backend_t backend;         /* --backend memory|lmdb|leveldb */
    unsigned watch_history;           /* --watch-history, default 1000 */
    unsigned threads;                 /* --threads, HTTP event loops; 0: one per core */
    uint64_t leveldb_cache_bytes;     /* --leveldb-cache-bytes, default 64 MiB */
    uint64_t leveldb_wbuf_bytes;      /* --leveldb-write-buffer-bytes, default 16 MiB */
    uint64_t backend_cache_nodes;     /* --backend-cache-nodes, default 262144 */
    char *wal_dir;                    /* --wal-dir, NULL: <data-dir>/member/wal (owned) */
    config_url_list_t listen_metrics; /* --listen-metrics-urls, none by default */
    char *log_level;                  /* --log-level: debug|info|warn|error|panic|fatal (owned) */
    char *log_outputs;                /* --log-outputs (or --log-output), comma list (owned) */
    bool force_new_cluster;           /* --force-new-cluster */
    /* Bootstrap by discovery and proxy mode (etcd's etcdmain flags). */
    char *discovery;                    /* --discovery URL, NULL when none */
    char *discovery_proxy;              /* --discovery-proxy, NULL when none */
    char *discovery_srv;                /* --discovery-srv domain, NULL when none */
    char *discovery_srv_name;           /* --discovery-srv-name, NULL when none */
    bool discovery_fallback_proxy;      /* --discovery-fallback proxy (default) or exit */
    config_proxy_t proxy;               /* --proxy, default off */
    unsigned proxy_failure_wait_ms;     /* --proxy-failure-wait, default 5000 */
    unsigned proxy_refresh_interval_ms; /* --proxy-refresh-interval, default 30000 */
    unsigned proxy_dial_timeout_ms;     /* --proxy-dial-timeout, default 1000 */
    unsigned proxy_write_timeout_ms;    /* --proxy-write-timeout, default 5000 */
    unsigned proxy_read_timeout_ms;     /* --proxy-read-timeout, default 0 (none) */
    config_tls_t client_tls;            /* --cert-file, --key-file, ... */
    config_tls_t peer_tls;              /* --peer-cert-file, --peer-key-file, ... */
    /*
     * --cipher-suites as OpenSSL's cipher list ("ECDHE-RSA-AES128-GCM-SHA256:..."),
     * mapped from etcd's (Go's) names; NULL for OpenSSL's defaults. Owned.
     */
    char *cipher_suites;
    bool ui;           /* --ui: serve the web console at /ui/, default true */
    bool show_version; /* --version */
    bool show_help;    /* --help / -h */
    /*
     * Warnings found while parsing (e.g. an unknown ETCD_* variable, which
     * etcd reports without failing). The caller logs them. Owned.
     */
    char **warnings;
    size_t n_warnings;
} config_t;

/* config_parse() failures, one per kind of error etcd tells apart. */
#define CONFIG_E_FLAG (-1) /* Go's flag package refused a command-line flag: exit 2 */
#define CONFIG_E_VERIFY                                                                            \
    (-2)                       /* etcd's "error verifying flags" (variables, file, checks): exit 1 \
                                */
#define CONFIG_E_CONFLICT (-3) /* a flag given both as a flag and as ETCD_*: exit 1 */

/*
 * Parses argv and envp (NULL-terminated "KEY=value" strings) into cfg.
 * Returns 0, or one of CONFIG_E_* with one clear line in err; main() prints
 * it and exits with the status etcd 3.4 uses for that kind of error.
 * Ownership: cfg owns every string; free with config_free().
 */
int config_parse(config_t *cfg, int argc, char **argv, char **envp, char *err, size_t err_len);

/* Frees what config_parse() allocated and zeroes cfg. */
void config_free(config_t *cfg);

/*
 * Parses "name=URL,name=URL" (--initial-cluster's syntax, also what
 * discovery answers) into *members. Returns 0, or -1 with why.
 * Ownership: *members is malloc'd; free with config_members_free().
 */
int config_members_parse(const char *text, config_member_t **members, size_t *n, char *why,
                         size_t why_len);
void config_members_free(config_member_t *members, size_t n);

/* The --help text (etcd's wording for the flags we accept). */
const char *config_usage(void);

#endif /* METCD_CONFIG_H */
