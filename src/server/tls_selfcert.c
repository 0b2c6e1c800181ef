/*
 * --auto-tls and --peer-auto-tls: the self-signed certificate etcd makes
 * (pkg/transport SelfCert): an ECDSA P-256 key, organisation "etcd", valid
 * one year, the listen URLs' hosts as IP or DNS names, kept in
 * <data-dir>/fixtures/{client,peer}/cert.pem and key.pem and reused while
 * both files exist.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/fs.h"
#include "src/server/tls_context.h"

static int fail(char *err, size_t err_len, const char *what)
{
    unsigned long e = ERR_get_error();
    snprintf(err, err_len, "auto TLS: %s: %s", what,
             e ? ERR_reason_error_string(e) : strerror(errno));
    ERR_clear_error();
    return -1;
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return -1;
    int rc = X509_add_ext(x, ext, -1) == 1 ? 0 : -1;
    X509_EXTENSION_free(ext);
    return rc;
}

/* "IP:127.0.0.1,DNS:localhost" for the hosts of the URLs (empty hosts skipped). */
static void san_of(const config_url_list_t *hosts, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < hosts->n && n < len; i++) {
        const char *h = hosts->urls[i].host;
        unsigned char tmp[16];
        if (h[0] == '\0')
            continue;
        bool ip = inet_pton(AF_INET, h, tmp) == 1 || inet_pton(AF_INET6, h, tmp) == 1;
        n += (size_t)snprintf(buf + n, len - n, "%s%s:%s", n ? "," : "", ip ? "IP" : "DNS", h);
    }
}

/* Writes `len` bytes of PEM from a memory BIO to path with `mode`. */
static int write_bio_file(BIO *b, const char *path, mode_t mode)
{
    char *data;
    long len = BIO_get_mem_data(b, &data);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    int rc = len >= 0 && write(fd, data, (size_t)len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    return rc;
}

static int make(const char *cert_path, const char *key_path, const config_url_list_t *hosts,
                bool peer, char *err, size_t err_len)
{
    int rc = -1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIGNUM *bn = BN_new();
    BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
    if (key == NULL || x == NULL || bn == NULL || kb == NULL || cb == NULL) {
        fail(err, err_len, "cannot make a key");
        goto out;
    }
    /* A random 128-bit serial number, as etcd's. */
    X509_set_version(x, 2);
    if (BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
        fail(err, err_len, "cannot make a serial number");
        goto out;
    }
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"etcd", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    char san[2048];
    san_of(hosts, san, sizeof(san));
    if (add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment") != 0 ||
        add_ext(x, NID_ext_key_usage, peer ? "serverAuth,clientAuth" : "serverAuth") != 0 ||
        (san[0] != '\0' && add_ext(x, NID_subject_alt_name, san) != 0)) {
        fail(err, err_len, "cannot build the certificate");
        goto out;
    }
    if (X509_sign(x, key, EVP_sha256()) == 0) {
        fail(err, err_len, "cannot sign the certificate");
        goto out;
    }
    if (PEM_write_bio_PrivateKey_traditional(kb, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_X509(cb, x) != 1 || write_bio_file(kb, key_path, 0600) != 0 ||
        write_bio_file(cb, cert_path, 0644) != 0) {
        fail(err, err_len, cert_path);
        goto out;
    }
    rc = 0;
out:
    BIO_free(kb);
    BIO_free(cb);
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int tls_selfcert(const char *dir, const config_url_list_t *hosts, bool peer, char **cert_path,
                 char **key_path, char *err, size_t err_len)
{
    *cert_path = *key_path = NULL;
    int e = fs_mkdir_all(dir);
    if (e != 0) {
        snprintf(err, err_len, "auto TLS: cannot create %s: %s", dir, strerror(-e));
        return -1;
    }
    if (asprintf(cert_path, "%s/cert.pem", dir) < 0 || asprintf(key_path, "%s/key.pem", dir) < 0)
        abort();
    struct stat st;
    if (stat(*cert_path, &st) == 0 && stat(*key_path, &st) == 0)
        return 0; /* etcd reuses the pair it made before */
    if (make(*cert_path, *key_path, hosts, peer, err, err_len) != 0) {
        free(*cert_path);
        free(*key_path);
        *cert_path = *key_path = NULL;
        return -1;
    }
    return 0;
}
