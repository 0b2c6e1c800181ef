/*
 * The verified client certificate of a request's connection, for etcd's
 * rule that with --client-cert-auth a certificate's common name stands for
 * a v2 user (etcd's v2http userFromClientCertificate).
 */
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "api/api_int.h"

/*
 * The OpenSSL connection of an h2o socket. h2o 2.2.5 has no accessor for
 * it: its TLS state (struct st_h2o_socket_ssl_t, private) starts with the
 * SSL_CTX the connection was accepted with, then the SSL. The SSL_CTX is
 * checked against the API's TLS listeners and the SSL's BIO must be h2o's,
 * pointing back at the socket, so that another layout gives NULL (no
 * certificate) rather than a wrong one.
 */
static SSL *ssl_of(api_t *api, h2o_socket_t *sock)
{
    if (sock == NULL || sock->ssl == NULL)
        return NULL;
    void *const *head = (void *const *)sock->ssl;
    bool ours = false;
    for (size_t i = 0; i < api->n_listeners && !ours; i++) {
        const h2o_accept_ctx_t *actx = api->listeners[i]->data;
        ours =
            actx != &api->accept_ctx && actx->ssl_ctx != NULL && (void *)actx->ssl_ctx == head[0];
    }
    if (!ours)
        return NULL;
    SSL *ssl = head[1];
    BIO *b = ssl != NULL ? SSL_get_rbio(ssl) : NULL;
    if (b == NULL || strcmp(BIO_method_name(b), "h2o_socket") != 0 || BIO_get_data(b) != sock)
        return NULL;
    return ssl;
}

const char *api_client_cert_cn(void *request)
{
    h2o_req_t *req = request;
    if (req->conn->callbacks->get_socket == NULL)
        return NULL;
    api_t *api = H2O_STRUCT_FROM_MEMBER(api_t, ctx, req->conn->ctx);
    SSL *ssl = ssl_of(api, req->conn->callbacks->get_socket(req->conn));
    /* The server asks for a certificate only when it verifies it (tls_context.c). */
    if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
        return NULL;
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL)
        return NULL;
    X509_NAME *name = X509_get_subject_name(cert);
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (i < 0)
        return NULL;
    ASN1_STRING *v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    size_t len = (size_t)ASN1_STRING_length(v);
    char *cn = h2o_mem_alloc_pool(&req->pool, len + 1);
    memcpy(cn, ASN1_STRING_get0_data(v), len);
    cn[len] = '\0';
    return cn;
}
