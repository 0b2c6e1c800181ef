/*
 * TLS for the client and the peer ports (etcd's transport.TLSInfo): one
 * OpenSSL context per side, built from the configuration.
 *
 * What it does, as etcd 3.4 does it:
 *  - TLS 1.2 and 1.3; --cipher-suites restricts TLS 1.2's suites.
 *  - A client certificate is required and verified when --client-cert-auth
 *    or --trusted-ca-file is given (etcd 3.4 asks for one with either). A
 *    connection without one, or with one that is expired, from another CA
 *    or revoked by the CRL, is refused during the handshake and logged
 *    with the reason ("rejected connection from ...").
 *  - Rotation: the certificate and key files are checked on every
 *    handshake and re-read when they change (etcd reads them on every
 *    handshake too); a pair that does not load keeps the previous one in
 *    use, with a warning. The CRL file is re-read when it changes (etcd
 *    reads it on every connection). The CA file is read once, at start.
 *  - --auto-tls / --peer-auto-tls: a self-signed certificate, made once in
 *    <data-dir>/fixtures/client or /peer as etcd does (tls_selfcert.c).
 *  - The client port offers HTTP/2 and HTTP/1.1 by ALPN.
 *  - On the peer side, a second context dials the other members: it
 *    presents the peer certificate and verifies theirs against
 *    --peer-trusted-ca-file and their URL's host (skipped with
 *    --peer-auto-tls, as etcd skips it), and the server side checks
 *    --peer-cert-allowed-cn.
 */
#ifndef METCD_TLS_CONTEXT_H
#define METCD_TLS_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "src/config/config.h"

typedef struct tls_context tls_context_t;

/*
 * Builds the context of one side: `peer` false for the client port, true
 * for the peer port. `listen` gives the hosts a self-signed certificate
 * names. Returns 0 with *out (free with tls_context_free), or -1 with one
 * line in err (a file that cannot be read, a key that does not match).
 */
int tls_context_new(const config_t *cfg, bool peer, tls_context_t **out, char *err, size_t err_len);

/* The server side context (borrowed: lives as long as tc). */
SSL_CTX *tls_context_server(tls_context_t *tc);

/* Peers only: the context that dials other members (borrowed), else NULL. */
SSL_CTX *tls_context_dialer(tls_context_t *tc);

void tls_context_free(tls_context_t *tc);

/*
 * Makes (or finds, when both files exist) the self-signed certificate of
 * --auto-tls in dir: cert.pem and key.pem, an ECDSA P-256 key, valid one
 * year, naming the hosts of `hosts` (IP or DNS names), for server (and,
 * with `peer`, client) authentication. Fills the two paths (owned by the
 * caller). Returns 0 or -1 with err.
 */
int tls_selfcert(const char *dir, const config_url_list_t *hosts, bool peer, char **cert_path,
                 char **key_path, char *err, size_t err_len);

#endif /* METCD_TLS_CONTEXT_H */
