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
 * it: its TLS state (struct st_h2o_socket_ssl_t) starts with the SSL
 * pointer. The SSL's BIO is h2o's and points back at the socket: checked,
 * so that another layout gives NULL rather than a wrong certificate.
 */
static SSL *ssl_of(h2o_socket_t *sock)
{
    if (sock == NULL || sock->ssl == NULL)
        return NULL;
    SSL *ssl = *(SSL **)sock->ssl;
    BIO *b = ssl != NULL ? SSL_get_rbio(ssl) : NULL;
    if (b == NULL || strcmp(BIO_method_name(b), "h2o_socket") != 0 || BIO_get_data(b) != sock)
        return NULL;
    return ssl;
}

const char *api_client_cert_cn(h2o_req_t *req)
{
    if (req->conn->callbacks->get_socket == NULL)
        return NULL;
    SSL *ssl = ssl_of(req->conn->callbacks->get_socket(req->conn));
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
