/*
 * The TLS options (etcd's transport.TLSInfo for clients and peers, and
 * --cipher-suites): their values and the checks etcd makes before it
 * listens. Files are only named here; src/server/tls_context.c reads them.
 */
#include <stdlib.h>
#include <string.h>

#include "src/config/config_int.h"

/*
 * etcd's --cipher-suites names (Go's crypto/tls constants, etcd's
 * pkg/tlsutil) and OpenSSL's names of the same suites. As in Go, the list
 * applies to TLS 1.2; TLS 1.3 suites are not configurable.
 */
static const struct {
    const char *go, *openssl;
} cipher_names[] = {
    {"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"},
    {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"},
    {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
};

/* "A,B" in etcd's names to "a:b" in OpenSSL's; etcd's message for an unknown one. */
static int map_ciphers(const char *v, char **out, char *why, size_t why_len)
{
    *out = NULL;
    if (v[0] == '\0')
        return 0; /* etcd: an empty list keeps Go's defaults */
    size_t cap = strlen(v) * 2 + 1, n = 0;
    char *list = calloc(1, cap);
    if (list == NULL)
        return config_errf(why, why_len, "out of memory");
    for (const char *p = v;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *name = NULL;
        for (size_t i = 0; i < sizeof(cipher_names) / sizeof(cipher_names[0]); i++)
            if (strlen(cipher_names[i].go) == len && memcmp(cipher_names[i].go, p, len) == 0)
                name = cipher_names[i].openssl;
        if (name == NULL) {
            free(list);
            return config_errf(why, why_len, "unexpected TLS cipher suite \"%.*s\"", (int)len, p);
        }
        size_t nl = strlen(name);
        if (n + nl + 2 > cap) {
            free(list);
            return config_errf(why, why_len, "too many cipher suites");
        }
        if (n > 0)
            list[n++] = ':';
        memcpy(list + n, name, nl + 1);
        n += nl;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *out = list;
    return 0;
}

static int set_str(char **dst, const char *v, char *why, size_t why_len)
{
    free(*dst);
    *dst = NULL;
    if (v[0] == '\0')
        return 0; /* etcd's default: not given */
    *dst = strdup(v);
    return *dst == NULL ? config_errf(why, why_len, "out of memory") : 0;
}

int config_tls_convert(config_t *cfg, config_opt_t opt, const char *v, char *why, size_t why_len)
{
    config_tls_t *c = &cfg->client_tls, *p = &cfg->peer_tls;
    bool *flag = NULL;
    switch (opt) {
    case CONFIG_OPT_CERT_FILE:
        return set_str(&c->cert_file, v, why, why_len);
    case CONFIG_OPT_KEY_FILE:
        return set_str(&c->key_file, v, why, why_len);
    case CONFIG_OPT_TRUSTED_CA_FILE:
        return set_str(&c->trusted_ca_file, v, why, why_len);
    case CONFIG_OPT_CLIENT_CRL_FILE:
        return set_str(&c->crl_file, v, why, why_len);
    case CONFIG_OPT_PEER_CERT_FILE:
        return set_str(&p->cert_file, v, why, why_len);
    case CONFIG_OPT_PEER_KEY_FILE:
        return set_str(&p->key_file, v, why, why_len);
    case CONFIG_OPT_PEER_TRUSTED_CA_FILE:
        return set_str(&p->trusted_ca_file, v, why, why_len);
    case CONFIG_OPT_PEER_CRL_FILE:
        return set_str(&p->crl_file, v, why, why_len);
    case CONFIG_OPT_PEER_CERT_ALLOWED_CN:
        return set_str(&p->allowed_cn, v, why, why_len);
    case CONFIG_OPT_CLIENT_CERT_ALLOWED_HOSTNAME:
        return set_str(&c->allowed_hostname, v, why, why_len);
    case CONFIG_OPT_PEER_CERT_ALLOWED_HOSTNAME:
        return set_str(&p->allowed_hostname, v, why, why_len);
    case CONFIG_OPT_CIPHER_SUITES:
        /* Kept as given; config_tls_check() maps the names, as etcd checks them late. */
        return set_str(&cfg->cipher_suites, v, why, why_len);
    case CONFIG_OPT_CLIENT_CERT_AUTH:
        flag = &c->client_cert_auth;
        break;
    case CONFIG_OPT_AUTO_TLS:
        flag = &c->auto_tls;
        break;
    case CONFIG_OPT_PEER_CLIENT_CERT_AUTH:
        flag = &p->client_cert_auth;
        break;
    case CONFIG_OPT_PEER_AUTO_TLS:
        flag = &p->auto_tls;
        break;
    default:
        return config_errf(why, why_len, "unknown option");
    }
    if (etcd_parse_bool(v, strlen(v), flag) != 0)
        return config_errf(why, why_len, "parse error");
    return 0;
}

static bool has_https(const config_url_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->urls[i].scheme, "https") == 0)
            return true;
    return false;
}

/* One side's checks; `what` is "client" or "peer", `flags` etcd's flag names. */
static int check_side(config_t *cfg, const config_tls_t *t, const config_url_list_t *listen,
                      const char *what, const char *flags, char *err, size_t err_len)
{
    bool https = false, http = false;
    for (size_t i = 0; i < listen->n; i++) {
        bool tls = strcmp(listen->urls[i].scheme, "https") == 0;
        https |= tls;
        http |= !tls;
        /*
         * etcd refuses an https:// URL it has no certificate for (etcdmain:
         * "TLS key/cert ... must be provided for client url"; for peers,
         * "cannot listen on TLS for host:port: KeyFile and CertFile are not
         * presented").
         */
        if (tls && !t->auto_tls && t->cert_file == NULL && t->key_file == NULL) {
            if (strcmp(what, "client") == 0)
                return config_errf(err, err_len,
                                   "TLS key/cert (%s) must be provided for client url %s with "
                                   "HTTPS scheme",
                                   flags, listen->urls[i].text);
            return config_errf(err, err_len,
                               "cannot listen on TLS for %s:%u: KeyFile and CertFile are not "
                               "presented",
                               listen->urls[i].host, (unsigned)listen->urls[i].port);
        }
    }
    /* etcd's TLSInfo: one of the two alone is an error when it serves TLS. */
    if (https && (t->cert_file == NULL) != (t->key_file == NULL))
        return config_errf(err, err_len,
                           "KeyFile and CertFile must both be present[key: %s, cert: %s]",
                           t->key_file ? t->key_file : "", t->cert_file ? t->cert_file : "");
    if (http && !https && (t->cert_file != NULL || t->key_file != NULL) &&
        config_warnf(cfg,
                     "%s scheme is HTTP while key and cert files are present; ignoring key and "
                     "cert files",
                     what) != 0)
        return config_errf(err, err_len, "out of memory");
    return 0;
}

int config_tls_check(config_t *cfg, char *err, size_t err_len)
{
    if (cfg->cipher_suites != NULL) {
        char *list;
        if (map_ciphers(cfg->cipher_suites, &list, err, err_len) != 0)
            return -1;
        free(cfg->cipher_suites);
        cfg->cipher_suites = list;
    }
    /*
     * etcd's transport refuses both rules on one side when it builds the
     * TLS config of an https:// URL, and etcdmain exits with its words.
     */
    const config_tls_t *p = &cfg->peer_tls;
    if (p->allowed_cn != NULL && p->allowed_hostname != NULL && has_https(&cfg->listen_peer))
        return config_errf(err, err_len,
                           "AllowedCN and AllowedHostname are mutually exclusive (cn=\"%s\", "
                           "hostname=\"%s\")",
                           p->allowed_cn, p->allowed_hostname);
    if (check_side(cfg, &cfg->client_tls, &cfg->listen_client, "client", "--cert-file, --key-file",
                   err, err_len) != 0)
        return -1;
    return check_side(cfg, &cfg->peer_tls, &cfg->listen_peer, "peer",
                      "--peer-cert-file, --peer-key-file", err, err_len);
}

static void tls_free(config_tls_t *t)
{
    free(t->cert_file);
    free(t->key_file);
    free(t->trusted_ca_file);
    free(t->crl_file);
    free(t->allowed_cn);
    free(t->allowed_hostname);
    memset(t, 0, sizeof(*t));
}

void config_tls_free(config_t *cfg)
{
    tls_free(&cfg->client_tls);
    tls_free(&cfg->peer_tls);
    free(cfg->cipher_suites);
    cfg->cipher_suites = NULL;
}
