/*
 * TLS for metcd-bench's https:// endpoints (etcdctl's --cert-file,
 * --key-file, --ca-file): one client context for every connection, the
 * server's certificate checked against the CA and the endpoint's host.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bench.h"

static SSL_CTX *ctx; /* made by bench_tls_configure, kept until exit */

int bench_tls_configure(const char *cert_file, const char *key_file, const char *ca_file, char *err,
                        size_t err_len)
{
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, err_len, "TLS: cannot create a context");
        return -1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                             : SSL_CTX_set_default_verify_paths(ctx);
    if (ok == 1 && cert_file != NULL)
        ok = SSL_CTX_use_certificate_chain_file(ctx, cert_file) == 1 &&
             SSL_CTX_use_PrivateKey_file(ctx, key_file ? key_file : "", SSL_FILETYPE_PEM) == 1;
    if (ok != 1) {
        unsigned long e = ERR_peek_last_error();
        snprintf(err, err_len, "TLS files (--ca-file %s, --cert-file %s, --key-file %s): %s",
                 ca_file ? ca_file : "-", cert_file ? cert_file : "-", key_file ? key_file : "-",
                 e ? ERR_reason_error_string(e) : "cannot be read");
        ERR_clear_error();
        return -1;
    }
    return 0;
}

SSL *bench_tls_new(const bench_target_t *t, int fd)
{
    if (ctx == NULL)
        return NULL;
    SSL *ssl = SSL_new(ctx);
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    unsigned char a[16];
    if (inet_pton(AF_INET, t->host, a) == 1 || inet_pton(AF_INET6, t->host, a) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(vp, t->host);
    } else {
        X509_VERIFY_PARAM_set1_host(vp, t->host, 0);
        SSL_set_tlsext_host_name(ssl, t->host);
    }
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    return ssl;
}

ssize_t bench_io(int fd, SSL *ssl, void *buf, size_t len, bool write)
{
    if (ssl == NULL)
        return write ? send(fd, buf, len, MSG_NOSIGNAL) : recv(fd, buf, len, 0);
    int n = write ? SSL_write(ssl, buf, (int)len) : SSL_read(ssl, buf, (int)len);
    if (n > 0)
        return n;
    switch (SSL_get_error(ssl, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN; /* the handshake runs inside the first read or write */
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && !write)
            return 0; /* closed without close_notify */
        /* fall through */
    default: {
        long v = SSL_get_verify_result(ssl);
        ERR_clear_error();
        errno = v != X509_V_OK ? EPERM : ECONNRESET;
        return -1;
    }
    }
}
