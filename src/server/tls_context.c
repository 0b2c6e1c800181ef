/*
 * The OpenSSL contexts of the client and peer ports: see tls_context.h for
 * what they do and which etcd behaviour each rule follows.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <h2o.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "src/server/tls_context.h"

/* What a file looked like when it was read: a change means "read it again". */
typedef struct file_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_stamp_t;

struct tls_context {
    SSL_CTX *server;
    SSL_CTX *dialer; /* peers only */
    bool peer;
    char *cert_file, *key_file, *crl_file; /* owned */
    char *allowed_cn;                      /* owned, NULL when any CN is allowed */
    char *allowed_hostname;                /* owned, NULL when any host is allowed */
    /*
     * The certificate in use and the CRL, replaced when their files change.
     * The lock covers them: handshakes may run on several loops' threads.
     */
    pthread_mutex_t lock;
    X509 *cert;
    STACK_OF(X509) * chain;
    EVP_PKEY *key;
    file_stamp_t cert_stamp, key_stamp, crl_stamp;
    X509_CRL *crl;
};

/* SSL_CTX ex_data slot holding the tls_context_t; SSL slot "already logged". */
static int ctx_index = -1, logged_index = -1;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void make_indexes(void)
{
    ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    logged_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* HTTP/2 first, HTTP/1.1 beside it, as Go's server offers them. */
static const h2o_iovec_t alpn_protocols[] = {
    {H2O_STRLIT("h2")}, {H2O_STRLIT("http/1.1")}, {NULL, 0}};

static int stamp_of(const char *path, file_stamp_t *st)
{
    struct stat s;
    if (stat(path, &s) != 0)
        return -1;
    *st = (file_stamp_t){.dev = s.st_dev, .ino = s.st_ino, .size = s.st_size, .mtime = s.st_mtim};
    return 0;
}

static bool same_stamp(const file_stamp_t *a, const file_stamp_t *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* The last OpenSSL error (or errno) as text, the error queue cleared. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : strerror(errno ? errno : EINVAL);
}

/*
 * Reads a certificate chain and its key. Returns 0 with the three (owned)
 * or -1 with err.
 */
static int load_pair(const char *cert_file, const char *key_file, X509 **cert,
                     STACK_OF(X509) * *chain, EVP_PKEY **key, char *err, size_t err_len)
{
    *cert = NULL;
    *chain = NULL;
    *key = NULL;
    errno = 0;
    FILE *f = fopen(cert_file, "r");
    if (f == NULL) {
        snprintf(err, err_len, "open %s: %s", cert_file, strerror(errno));
        return -1;
    }
    *cert = PEM_read_X509(f, NULL, NULL, NULL);
    *chain = sk_X509_new_null();
    X509 *extra;
    while (*cert != NULL && (extra = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
        sk_X509_push(*chain, extra);
    ERR_clear_error(); /* the end of the file */
    fclose(f);
    if (*cert == NULL) {
        snprintf(err, err_len, "%s: no certificate in PEM form", cert_file);
        goto fail;
    }
    f = fopen(key_file, "r");
    if (f == NULL) {
        snprintf(err, err_len, "open %s: %s", key_file, strerror(errno));
        goto fail;
    }
    *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (*key == NULL) {
        snprintf(err, err_len, "%s: no private key in PEM form: %s", key_file, ssl_reason());
        goto fail;
    }
    if (X509_check_private_key(*cert, *key) != 1) {
        ERR_clear_error();
        snprintf(err, err_len, "tls: private key in %s does not match public key in %s", key_file,
                 cert_file);
        goto fail;
    }
    return 0;
fail:
    X509_free(*cert);
    sk_X509_pop_free(*chain, X509_free);
    EVP_PKEY_free(*key);
    *cert = NULL;
    *chain = NULL;
    *key = NULL;
    return -1;
}

/* Re-reads the pair when a file changed; a pair that fails keeps the old. Lock held. */
static void maybe_reload_pair(tls_context_t *tc)
{
    file_stamp_t c, k;
    if (stamp_of(tc->cert_file, &c) != 0 || stamp_of(tc->key_file, &k) != 0)
        return; /* being replaced: keep the pair in use */
    if (same_stamp(&c, &tc->cert_stamp) && same_stamp(&k, &tc->key_stamp))
        return;
    X509 *cert;
    STACK_OF(X509) * chain;
    EVP_PKEY *key;
    char err[512];
    tc->cert_stamp = c;
    tc->key_stamp = k;
    if (load_pair(tc->cert_file, tc->key_file, &cert, &chain, &key, err, sizeof(err)) != 0) {
        log_line('W', "embed", "keeping the TLS certificate in use: %s", err);
        return;
    }
    X509_free(tc->cert);
    sk_X509_pop_free(tc->chain, X509_free);
    EVP_PKEY_free(tc->key);
    tc->cert = cert;
    tc->chain = chain;
    tc->key = key;
    log_line('I', "embed", "reloaded the TLS certificate %s", tc->cert_file);
}

/* Re-reads the CRL when its file changed (etcd reads it on every connection). Lock held. */
static int maybe_reload_crl(tls_context_t *tc, char *err, size_t err_len)
{
    file_stamp_t st;
    if (tc->crl_file == NULL)
        return 0;
    if (stamp_of(tc->crl_file, &st) != 0) {
        snprintf(err, err_len, "open %s: %s", tc->crl_file, strerror(errno));
        return tc->crl != NULL ? 0 : -1;
    }
    if (tc->crl != NULL && same_stamp(&st, &tc->crl_stamp))
        return 0;
    FILE *f = fopen(tc->crl_file, "r");
    X509_CRL *crl = f ? PEM_read_X509_CRL(f, NULL, NULL, NULL) : NULL;
    if (f != NULL)
        fclose(f);
    if (crl == NULL) {
        /* etcd also takes DER: try it. */
        BIO *b = BIO_new_file(tc->crl_file, "rb");
        crl = b ? d2i_X509_CRL_bio(b, NULL) : NULL;
        BIO_free(b);
    }
    ERR_clear_error();
    if (crl == NULL) {
        snprintf(err, err_len, "%s: not a certificate revocation list", tc->crl_file);
        return tc->crl != NULL ? 0 : -1;
    }
    X509_CRL_free(tc->crl);
    tc->crl = crl;
    tc->crl_stamp = st;
    return 0;
}

/* The h2o socket an SSL belongs to (h2o's socket BIO points back at it), or NULL. */
static h2o_socket_t *socket_of(SSL *ssl)
{
    BIO *b = SSL_get_rbio(ssl);
    if (b == NULL || strcmp(BIO_method_name(b), "h2o_socket") != 0)
        return NULL;
    return BIO_get_data(b);
}

/* "127.0.0.1:54321" of the connection an SSL belongs to. */
static void remote_of(SSL *ssl, char *buf, size_t len)
{
    snprintf(buf, len, "?");
    h2o_socket_t *sock = socket_of(ssl);
    if (sock == NULL)
        return;
    struct sockaddr_storage ss;
    socklen_t sl = h2o_socket_getpeername(sock, (struct sockaddr *)&ss);
    char host[NI_MAXHOST];
    if (sl == 0 || h2o_socket_getnumerichost((struct sockaddr *)&ss, sl, host) == SIZE_MAX)
        return;
    snprintf(buf, len, "%s:%d", host, (int)h2o_socket_getport((struct sockaddr *)&ss));
}

/* Logs why a handshake failed, once per connection, in etcd's words. */
static void log_rejected(SSL *ssl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_rejected(SSL *ssl, const char *fmt, ...)
{
    if (SSL_get_ex_data(ssl, logged_index) != NULL)
        return;
    SSL_set_ex_data(ssl, logged_index, (void *)1);
    char why[512], who[NI_MAXHOST + 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    remote_of(ssl, who, sizeof(who));
    /*
     * h2o closes a connection whose handshake failed without sending the
     * alert, and unread bytes from the client turn the close into a reset.
     * Ending our side first lets the client read a clean end of stream
     * (Go's clients report "EOF", as against etcd) before that.
     */
    h2o_socket_t *sock = socket_of(ssl);
    if (sock != NULL)
        shutdown(h2o_socket_get_fd(sock), SHUT_WR);
    if (SSL_is_server(ssl))
        log_line('W', "embed", "rejected connection from \"%s\" (error \"%s\")", who, why);
    else
        log_line('W', "rafthttp", "TLS handshake with \"%s\" failed (error \"%s\")", who, why);
}

static void common_name(X509 *cert, char *buf, size_t len)
{
    buf[0] = '\0';
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, (int)len);
}

/* host (an IP address or a DNS name) is among cert's subject alternative names. */
static bool names_host(X509 *cert, const char *host)
{
    return X509_check_ip_asc(cert, host, 0) == 1 ||
           X509_check_host(cert, host, 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL) == 1;
}

/*
 * Chain verification by OpenSSL, then the rules etcd adds for the leaf:
 * its CRL (serial numbers revoked), --peer-cert-allowed-cn, the allowed
 * hostname (--client-cert-allowed-hostname, --peer-cert-allowed-hostname),
 * and, when dialing a member, its URL's host in the certificate.
 */
static int verify_cb(int ok, X509_STORE_CTX *x)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    tls_context_t *tc = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index);
    int depth = X509_STORE_CTX_get_error_depth(x);
    X509 *cert = X509_STORE_CTX_get_current_cert(x);
    if (!ok) {
        char cn[256] = "";
        if (cert != NULL)
            common_name(cert, cn, sizeof(cn));
        log_rejected(ssl, "certificate \"%s\": %s", cn,
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
        return 0;
    }
    if (depth != 0 || tc == NULL)
        return ok;
    if (SSL_is_server(ssl) && tc->crl_file != NULL) {
        char err[512];
        pthread_mutex_lock(&tc->lock);
        int rc = maybe_reload_crl(tc, err, sizeof(err));
        X509_REVOKED *rev = NULL;
        bool revoked =
            rc == 0 && X509_CRL_get0_by_serial(tc->crl, &rev, X509_get0_serialNumber(cert)) == 1;
        pthread_mutex_unlock(&tc->lock);
        if (rc != 0) {
            log_rejected(ssl, "%s", err);
            X509_STORE_CTX_set_error(x, X509_V_ERR_UNABLE_TO_GET_CRL);
            return 0;
        }
        if (revoked) {
            BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
            char *hex = bn ? BN_bn2hex(bn) : NULL;
            log_rejected(ssl, "transport: certificate serial %s revoked", hex ? hex : "?");
            OPENSSL_free(hex);
            BN_free(bn);
            X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REVOKED);
            return 0;
        }
    }
    if (SSL_is_server(ssl) && tc->allowed_cn != NULL) {
        char cn[256];
        common_name(cert, cn, sizeof(cn));
        if (strcmp(cn, tc->allowed_cn) != 0) {
            log_rejected(
                ssl, "client certificate authentication failed (CommonName \"%s\" is not \"%s\")",
                cn, tc->allowed_cn);
            X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
            return 0;
        }
    }
    if (SSL_is_server(ssl) && tc->allowed_hostname != NULL &&
        !names_host(cert, tc->allowed_hostname)) {
        /*
         * --client-cert-allowed-hostname / --peer-cert-allowed-hostname:
         * etcd's transport accepts a client certificate only if Go's
         * VerifyHostname(allowed) passes for it, which looks at the IP or DNS
         * names (SANs) only, never at the common name.
         */
        log_rejected(ssl,
                     "client certificate authentication failed (certificate is not valid for "
                     "\"%s\")",
                     tc->allowed_hostname);
        X509_STORE_CTX_set_error(x, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    if (!SSL_is_server(ssl)) {
        /* Go's client checks the dialed host against the certificate's names. */
        const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        if (host != NULL && X509_check_ip_asc(cert, host, 0) != 1 &&
            X509_check_host(cert, host, 0, 0, NULL) != 1) {
            log_rejected(ssl, "x509: certificate is not valid for %s", host);
            X509_STORE_CTX_set_error(x, X509_V_ERR_HOSTNAME_MISMATCH);
            return 0;
        }
    }
    return ok;
}

/* A handshake that fails before any certificate is checked: log OpenSSL's reason. */
static void info_cb(const SSL *cssl, int where, int ret)
{
    SSL *ssl = (SSL *)cssl;
    if (!(where & SSL_CB_EXIT) || ret > 0 || SSL_get_ex_data(ssl, logged_index) != NULL)
        return;
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        return; /* waiting for more input */
    const char *r = ERR_reason_error_string(e);
    if (ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST)
        r = "tls: first record does not look like a TLS handshake"; /* etcd's words */
    else if (ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
        r = "tls: client didn't provide a certificate";
    log_rejected(ssl, "%s", r ? r : "TLS handshake failure");
}

/* Each handshake presents the current pair, re-read first if its files changed. */
static int cert_cb(SSL *ssl, void *arg)
{
    tls_context_t *tc = arg;
    pthread_mutex_lock(&tc->lock);
    maybe_reload_pair(tc);
    int ok = SSL_use_cert_and_key(ssl, tc->cert, tc->key, tc->chain, 1);
    pthread_mutex_unlock(&tc->lock);
    return ok == 1 ? 1 : 0;
}

/* Protocol floor, cipher list, our callbacks. Returns NULL with err. */
static SSL_CTX *new_ctx(tls_context_t *tc, const config_t *cfg, bool server, char *err,
                        size_t err_len)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, err_len, "TLS: %s", ssl_reason());
        return NULL;
    }
    SSL_CTX_set_ex_data(ctx, ctx_index, tc);
    /* etcd 3.4 serves and dials TLS 1.2 and newer. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (cfg->cipher_suites != NULL && SSL_CTX_set_cipher_list(ctx, cfg->cipher_suites) != 1) {
        snprintf(err, err_len, "--cipher-suites: none of %s is available here: %s",
                 cfg->cipher_suites, ssl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_info_callback(ctx, info_cb);
    if (tc->cert != NULL)
        SSL_CTX_set_cert_cb(ctx, cert_cb, tc);
    return ctx;
}

/* The CA file, or the system's roots when client certificates are asked for without one. */
static int load_ca(SSL_CTX *ctx, const char *ca_file, bool server, char *err, size_t err_len)
{
    if (ca_file == NULL)
        return SSL_CTX_set_default_verify_paths(ctx) == 1 ? 0 : -1;
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
        snprintf(err, err_len, "%s: cannot read the trusted CA file: %s", ca_file, ssl_reason());
        return -1;
    }
    if (server) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
        ERR_clear_error();
        if (names != NULL)
            SSL_CTX_set_client_CA_list(ctx, names);
    }
    return 0;
}

int tls_context_new(const config_t *cfg, bool peer, tls_context_t **out, char *err, size_t err_len)
{
    pthread_once(&index_once, make_indexes);
    *out = NULL;
    const config_tls_t *t = peer ? &cfg->peer_tls : &cfg->client_tls;
    tls_context_t *tc = calloc(1, sizeof(*tc));
    if (tc == NULL)
        abort();
    pthread_mutex_init(&tc->lock, NULL);
    tc->peer = peer;
    if (t->cert_file != NULL) {
        tc->cert_file = strdup(t->cert_file);
        tc->key_file = strdup(t->key_file);
    } else {
        /* etcd: auto TLS only when no certificate is given. */
        char *dir = NULL;
        if (asprintf(&dir, "%s/fixtures/%s", cfg->data_dir, peer ? "peer" : "client") < 0)
            abort();
        int rc = tls_selfcert(dir, peer ? &cfg->listen_peer : &cfg->listen_client, peer,
                              &tc->cert_file, &tc->key_file, err, err_len);
        free(dir);
        if (rc != 0)
            goto fail;
    }
    if (t->crl_file != NULL)
        tc->crl_file = strdup(t->crl_file);
    if (t->allowed_cn != NULL)
        tc->allowed_cn = strdup(t->allowed_cn);
    if (t->allowed_hostname != NULL)
        tc->allowed_hostname = strdup(t->allowed_hostname);
    if (stamp_of(tc->cert_file, &tc->cert_stamp) != 0 || stamp_of(tc->key_file, &tc->key_stamp))
        memset(&tc->cert_stamp, 0, sizeof(tc->cert_stamp));
    if (load_pair(tc->cert_file, tc->key_file, &tc->cert, &tc->chain, &tc->key, err, err_len) != 0)
        goto fail;
    if (maybe_reload_crl(tc, err, err_len) != 0)
        goto fail;

    tc->server = new_ctx(tc, cfg, true, err, err_len);
    if (tc->server == NULL)
        goto fail;
    /* etcd 3.4 asks for a client certificate with --client-cert-auth or a trusted CA. */
    if (t->client_cert_auth || t->trusted_ca_file != NULL) {
        if (load_ca(tc->server, t->trusted_ca_file, true, err, err_len) != 0)
            goto fail;
        SSL_CTX_set_verify(tc->server, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           verify_cb);
    }
    if (!peer)
        h2o_ssl_register_alpn_protocols(tc->server, alpn_protocols);
    /* Sessions stay in this process: a restarted member asks for full handshakes. */
    SSL_CTX_set_session_id_context(tc->server, (const unsigned char *)"metcd", 5);

    if (peer) {
        tc->dialer = new_ctx(tc, cfg, false, err, err_len);
        if (tc->dialer == NULL)
            goto fail;
        if (t->auto_tls && t->cert_file == NULL) {
            /* etcd's peer auto TLS dials with InsecureSkipVerify. */
            SSL_CTX_set_verify(tc->dialer, SSL_VERIFY_NONE, NULL);
        } else {
            if (load_ca(tc->dialer, t->trusted_ca_file, false, err, err_len) != 0)
                goto fail;
            SSL_CTX_set_verify(tc->dialer, SSL_VERIFY_PEER, verify_cb);
        }
    }
    *out = tc;
    return 0;
fail:
    tls_context_free(tc);
    return -1;
}

SSL_CTX *tls_context_server(tls_context_t *tc)
{
    return tc->server;
}

SSL_CTX *tls_context_dialer(tls_context_t *tc)
{
    return tc->dialer;
}

void tls_context_free(tls_context_t *tc)
{
    if (tc == NULL)
        return;
    SSL_CTX_free(tc->server);
    SSL_CTX_free(tc->dialer);
    X509_free(tc->cert);
    sk_X509_pop_free(tc->chain, X509_free);
    EVP_PKEY_free(tc->key);
    X509_CRL_free(tc->crl);
    free(tc->cert_file);
    free(tc->key_file);
    free(tc->crl_file);
    free(tc->allowed_cn);
    free(tc->allowed_hostname);
    pthread_mutex_destroy(&tc->lock);
    free(tc);
}
