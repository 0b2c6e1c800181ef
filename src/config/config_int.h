/*
 * Internals of the configuration parser (src/config*.c). Not for other
 * layers: they see only src/config.h.
 */
#ifndef METCD_CONFIG_INT_H
#define METCD_CONFIG_INT_H

#include <stdarg.h>

#include "common/parse.h"
#include "src/config/config.h"

/* Every option, in the order --help lists them. */
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
    CONFIG_OPT_CONFIG_FILE,
    CONFIG_OPT_VERSION,
    CONFIG_OPT_HELP,
    CONFIG_OPT_COUNT
} config_opt_t;

typedef struct config_opt_desc {
    const char *name; /* flag name without dashes, also the YAML key */
    bool is_bool;     /* Go bool flag: "--f" alone means true */
    bool in_env;      /* has an ETCD_<NAME> variable */
    bool in_yaml;     /* may appear in the config file */
    const char *def;  /* default as --help shows it */
    const char *help; /* one line of --help */
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

/* Formats into err; always returns -1. */
int config_errf(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends a warning line to cfg->warnings. Returns 0 or -1 (ENOMEM). */
int config_warnf(config_t *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Go's flag package on argv[1..]: fills raw with the flags given. Returns 0
 * or -1 with one line in err ("flag provided but not defined: -x", "'x' is
 * not a valid flag", ...).
 */
int config_flags_scan(config_raw_t *raw, int argc, char **argv, char *err, size_t err_len);

/*
 * ETCD_<FLAG> variables from envp for options `skip` does not mark as set
 * (flags win). Unknown ETCD_* variables become warnings in cfg.
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

/* Go's strconv.ParseBool. Returns 0 or -1. */

/*
 * Go's strconv.ParseUint(s, 0, bits) as the flag package uses it: decimal,
 * 0x hex, 0 octal, 0b binary, no sign, no spaces. Returns 0 or -1.
 */
int config_parse_uint(const char *s, unsigned bits, uint64_t *out);

#endif /* METCD_CONFIG_INT_H */
