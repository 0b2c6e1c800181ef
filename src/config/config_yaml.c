/*
 * The --config-file: a YAML mapping whose keys are the flag names
 * (`name: n1`, `listen-client-urls: http://127.0.0.1:2379`, ...), as etcd's
 * embed.Config reads it. A list of URLs may be one comma-separated string,
 * as in etcd, or a YAML sequence of strings. Read with libyaml's event API.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "src/config/config_int.h"

typedef struct yaml_reader {
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_ev;
    const char *path;
    char *err;
    size_t err_len;
} yaml_reader_t;

static int next(yaml_reader_t *r)
{
    if (r->have_ev)
        yaml_event_delete(&r->ev);
    r->have_ev = false;
    if (!yaml_parser_parse(&r->parser, &r->ev))
        return config_errf(r->err, r->err_len, "config file %s: %s at line %zu", r->path,
                           r->parser.problem ? r->parser.problem : "invalid YAML",
                           r->parser.problem_mark.line + 1);
    r->have_ev = true;
    return 0;
}

/* Skips the value whose first event is the current one (any nesting). */
static int skip_value(yaml_reader_t *r)
{
    int depth = 0;
    do {
        switch (r->ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            depth++;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        if (depth > 0 && next(r) != 0)
            return -1;
    } while (depth > 0);
    return 0;
}

/* Appends a scalar to a comma-separated buffer. */
static int append(char **buf, size_t *len, const char *s, size_t n)
{
    char *nb = realloc(*buf, *len + n + 2);
    if (nb == NULL)
        return -1;
    if (*len > 0)
        nb[(*len)++] = ',';
    memcpy(nb + *len, s, n);
    *len += n;
    nb[*len] = '\0';
    *buf = nb;
    return 0;
}

static int read_value(yaml_reader_t *r, config_raw_t *raw, config_opt_t opt)
{
    const char *key = config_opts[opt].name;
    if (r->ev.type == YAML_SCALAR_EVENT) {
        const char *v = (const char *)r->ev.data.scalar.value;
        size_t n = r->ev.data.scalar.length;
        if (n == 0 && r->ev.data.scalar.plain_implicit)
            return 0; /* `key:` with no value (null): keep the default */
        if (config_opts[opt].is_bool) {
            /* YAML 1.1 booleans, as Go's yaml package reads a bool field. */
            if ((n == 3 && strncasecmp(v, "yes", 3) == 0) ||
                (n == 2 && strncasecmp(v, "on", 2) == 0))
                v = "true", n = 4;
            else if ((n == 2 && strncasecmp(v, "no", 2) == 0) ||
                     (n == 3 && strncasecmp(v, "off", 3) == 0))
                v = "false", n = 5;
        }
        if (config_raw_set(raw, opt, v, n) != 0)
            return config_errf(r->err, r->err_len, "out of memory");
        return 0;
    }
    if (r->ev.type == YAML_SEQUENCE_START_EVENT) {
        char *buf = NULL;
        size_t len = 0;
        for (;;) {
            if (next(r) != 0) {
                free(buf);
                return -1;
            }
            if (r->ev.type == YAML_SEQUENCE_END_EVENT)
                break;
            if (r->ev.type != YAML_SCALAR_EVENT) {
                free(buf);
                return config_errf(r->err, r->err_len,
                                   "config file %s: \"%s\" must be a string or a list of "
                                   "strings (line %zu)",
                                   r->path, key, r->ev.start_mark.line + 1);
            }
            if (append(&buf, &len, (const char *)r->ev.data.scalar.value,
                       r->ev.data.scalar.length) != 0) {
                free(buf);
                return config_errf(r->err, r->err_len, "out of memory");
            }
        }
        int rc = config_raw_set(raw, opt, buf ? buf : "", len);
        free(buf);
        if (rc != 0)
            return config_errf(r->err, r->err_len, "out of memory");
        return 0;
    }
    return config_errf(r->err, r->err_len, "config file %s: \"%s\" must be a value (line %zu)",
                       r->path, key, r->ev.start_mark.line + 1);
}

/*
 * etcd's file spells the TLS options as two mappings,
 * client-transport-security and peer-transport-security, each with
 * cert-file, key-file, client-cert-auth, trusted-ca-file and auto-tls
 * (embed.securityConfig). They are read into the flags of the same meaning.
 */
static int read_security(yaml_reader_t *r, config_raw_t *raw, config_t *cfg, bool peer)
{
    static const char *const keys[] = {"cert-file", "key-file", "client-cert-auth",
                                       "trusted-ca-file", "auto-tls"};
    static const config_opt_t client_opts[] = {CONFIG_OPT_CERT_FILE, CONFIG_OPT_KEY_FILE,
                                               CONFIG_OPT_CLIENT_CERT_AUTH,
                                               CONFIG_OPT_TRUSTED_CA_FILE, CONFIG_OPT_AUTO_TLS};
    static const config_opt_t peer_opts[] = {
        CONFIG_OPT_PEER_CERT_FILE, CONFIG_OPT_PEER_KEY_FILE, CONFIG_OPT_PEER_CLIENT_CERT_AUTH,
        CONFIG_OPT_PEER_TRUSTED_CA_FILE, CONFIG_OPT_PEER_AUTO_TLS};
    const char *section = peer ? "peer-transport-security" : "client-transport-security";
    if (r->ev.type != YAML_MAPPING_START_EVENT) {
        if (r->ev.type == YAML_SCALAR_EVENT && r->ev.data.scalar.length == 0 &&
            r->ev.data.scalar.plain_implicit)
            return 0; /* `client-transport-security:` alone (null) */
        return config_errf(r->err, r->err_len,
                           "config file %s: \"%s\" must be a mapping (line %zu)", r->path, section,
                           r->ev.start_mark.line + 1);
    }
    for (;;) {
        if (next(r) != 0)
            return -1;
        if (r->ev.type == YAML_MAPPING_END_EVENT)
            return 0;
        if (r->ev.type != YAML_SCALAR_EVENT)
            return config_errf(r->err, r->err_len,
                               "config file %s: a key must be a string (line %zu)", r->path,
                               r->ev.start_mark.line + 1);
        const char *k = (const char *)r->ev.data.scalar.value;
        size_t klen = r->ev.data.scalar.length, line = r->ev.start_mark.line + 1;
        int found = -1;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (strlen(keys[i]) == klen && memcmp(keys[i], k, klen) == 0)
                found = (int)i;
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)klen, k);
        if (next(r) != 0)
            return -1;
        if (found < 0) {
            if (config_warnf(cfg, "config file %s: unknown key \"%s.%s\" (line %zu) ignored",
                             r->path, section, key, line) != 0)
                return config_errf(r->err, r->err_len, "out of memory");
            if (skip_value(r) != 0)
                return -1;
            continue;
        }
        if (read_value(r, raw, (peer ? peer_opts : client_opts)[found]) != 0)
            return -1;
    }
}

static int read_document(yaml_reader_t *r, config_raw_t *raw, config_t *cfg)
{
    /* STREAM_START, then DOCUMENT_START or an empty file (STREAM_END). */
    if (next(r) != 0 || next(r) != 0)
        return -1;
    if (r->ev.type == YAML_STREAM_END_EVENT)
        return 0;
    if (next(r) != 0)
        return -1;
    if (r->ev.type == YAML_SCALAR_EVENT && r->ev.data.scalar.length == 0)
        return 0; /* an empty document */
    if (r->ev.type != YAML_MAPPING_START_EVENT)
        return config_errf(r->err, r->err_len,
                           "config file %s: expected a mapping of option names to values", r->path);
    for (;;) {
        if (next(r) != 0)
            return -1;
        if (r->ev.type == YAML_MAPPING_END_EVENT)
            return 0;
        if (r->ev.type != YAML_SCALAR_EVENT)
            return config_errf(r->err, r->err_len,
                               "config file %s: a key must be a string "
                               "(line %zu)",
                               r->path, r->ev.start_mark.line + 1);
        char key[64];
        size_t klen = r->ev.data.scalar.length;
        snprintf(key, sizeof(key), "%.*s", (int)klen, (const char *)r->ev.data.scalar.value);
        size_t line = r->ev.start_mark.line + 1;
        int opt = klen < sizeof(key) ? config_opt_find(key, klen) : -1;
        if (next(r) != 0)
            return -1;
        if (opt < 0 && (strcmp(key, "client-transport-security") == 0 ||
                        strcmp(key, "peer-transport-security") == 0)) {
            if (read_security(r, raw, cfg, key[0] == 'p') != 0)
                return -1;
            continue;
        }
        if (opt < 0 || !config_opts[opt].in_yaml) {
            if (config_warnf(cfg, "config file %s: unknown key \"%s\" (line %zu) ignored", r->path,
                             key, line) != 0)
                return config_errf(r->err, r->err_len, "out of memory");
            if (skip_value(r) != 0)
                return -1;
            continue;
        }
        if (read_value(r, raw, (config_opt_t)opt) != 0)
            return -1;
    }
}

int config_yaml_load(config_raw_t *raw, const char *path, config_t *cfg, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return config_errf(err, err_len, "cannot read config file %s: %s", path, strerror(errno));
    yaml_reader_t r = {.path = path, .err = err, .err_len = err_len};
    if (!yaml_parser_initialize(&r.parser)) {
        fclose(f);
        return config_errf(err, err_len, "out of memory");
    }
    yaml_parser_set_input_file(&r.parser, f);
    int rc = read_document(&r, raw, cfg);
    if (r.have_ev)
        yaml_event_delete(&r.ev);
    yaml_parser_delete(&r.parser);
    fclose(f);
    return rc;
}
