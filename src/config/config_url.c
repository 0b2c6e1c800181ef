/*
 * URLs of --listen-*-urls, --advertise-*-urls and --initial-cluster, checked
 * the way etcd's types.NewURLs checks them (scheme, "host:port", no path),
 * with the same wording in the messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/config/config_int.h"

void config_url_free(config_url_t *u)
{
    free(u->text);
    free(u->scheme);
    free(u->host);
    memset(u, 0, sizeof(*u));
}

void config_url_list_free(config_url_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        config_url_free(&l->urls[i]);
    free(l->urls);
    l->urls = NULL;
    l->n = 0;
}

static int why_set(char *why, size_t why_len, const char *text, size_t len, const char *fmt)
{
    snprintf(why, why_len, fmt, (int)len, text);
    return -1;
}

int config_url_parse(const char *text, size_t len, config_url_t *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    const char *end = text + len;
    const char *sep = memmem(text, len, "://", 3);
    if (sep == NULL)
        return why_set(why, why_len, text, len,
                       "URL scheme must be http, https, unix, or unixs: %.*s");
    size_t scheme_len = (size_t)(sep - text);
    char scheme[8];
    if (scheme_len == 0 || scheme_len >= sizeof(scheme))
        return why_set(why, why_len, text, len,
                       "URL scheme must be http, https, unix, or unixs: %.*s");
    for (size_t i = 0; i < scheme_len; i++) /* Go's url.Parse lower-cases the scheme */
        scheme[i] = (char)((text[i] >= 'A' && text[i] <= 'Z') ? text[i] + 32 : text[i]);
    scheme[scheme_len] = '\0';
    if (strcmp(scheme, "unix") == 0 || strcmp(scheme, "unixs") == 0)
        return why_set(why, why_len, text, len,
                       "unix socket URLs are not supported yet, use http: %.*s");
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        return why_set(why, why_len, text, len,
                       "URL scheme must be http, https, unix, or unixs: %.*s");

    const char *auth = sep + 3;
    const char *auth_end = auth;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#')
        auth_end++;
    if (auth_end != end)
        return why_set(why, why_len, text, len, "URL must not contain a path: %.*s");
    if (memchr(auth, '@', (size_t)(auth_end - auth)) != NULL)
        return why_set(why, why_len, text, len, "URL must not contain user information: %.*s");

    const char *host, *host_end, *port;
    if (auth < auth_end && *auth == '[') { /* [v6]:port */
        host = auth + 1;
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (host_end == NULL || host_end + 1 >= auth_end || host_end[1] != ':')
            return why_set(why, why_len, text, len,
                           "URL address does not have the form \"host:port\": %.*s");
        port = host_end + 2;
    } else {
        host = auth;
        host_end = NULL;
        for (const char *p = auth; p < auth_end; p++)
            if (*p == ':') {
                if (host_end != NULL) /* Go's SplitHostPort: too many colons */
                    return why_set(why, why_len, text, len,
                                   "URL address does not have the form \"host:port\": %.*s");
                host_end = p;
            }
        if (host_end == NULL)
            return why_set(why, why_len, text, len,
                           "URL address does not have the form \"host:port\": %.*s");
        port = host_end + 1;
    }
    size_t port_len = (size_t)(auth_end - port);
    unsigned long portnum = 0;
    bool port_ok = port_len > 0 && port_len <= 5;
    for (size_t i = 0; port_ok && i < port_len; i++) {
        if (port[i] < '0' || port[i] > '9')
            port_ok = false;
        else
            portnum = portnum * 10 + (unsigned long)(port[i] - '0');
    }
    if (!port_ok || portnum > 65535) {
        snprintf(why, why_len, "invalid port \"%.*s\" in URL %.*s", (int)port_len, port, (int)len,
                 text);
        return -1;
    }
    out->text = strndup(text, len);
    out->scheme = strdup(scheme);
    out->host = strndup(host, (size_t)(host_end - host));
    out->port = (uint16_t)portnum;
    if (out->text == NULL || out->scheme == NULL || out->host == NULL) {
        config_url_free(out);
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    /* Go's URL.String() prints the scheme in lower case. */
    memcpy(out->text, scheme, scheme_len);
    return 0;
}

static int url_cmp(const void *a, const void *b)
{
    return strcmp(((const config_url_t *)a)->text, ((const config_url_t *)b)->text);
}

int config_url_list_parse(const char *text, config_url_list_t *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    size_t n = 1;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    out->urls = calloc(n, sizeof(*out->urls));
    if (out->urls == NULL) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    const char *p = text;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (config_url_parse(p, len, &out->urls[out->n], why, why_len) != 0) {
            config_url_list_free(out);
            return -1;
        }
        out->n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    /* etcd's types.NewURLs sorts: member IDs hash the sorted peer URLs. */
    qsort(out->urls, out->n, sizeof(*out->urls), url_cmp);
    return 0;
}
