/* src/peer/url.c - the peer URLs this transport can dial:
 * http://host:port, and https://host:port when the transport has a TLS
 * dialer (a transport without one refuses them with PEER_ETLS, so that a
 * member configured for TLS never talks plain TCP to a TLS port). */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/peer/peer_int.h"

/* Splits "http[s]://host:port[/]" into host and port (NUL-terminated). */
static int split(const char *url, char *host, size_t host_cap, char *port, size_t port_cap,
                 bool *tls)
{
    *tls = strncasecmp(url, "https://", 8) == 0;
    if (!*tls && strncasecmp(url, "http://", 7) != 0)
        return PEER_EURL;
    const char *h = url + (*tls ? 8 : 7);
    const char *end = h + strcspn(h, "/");
    if (*end == '/' && end[1] != '\0')
        return PEER_EURL; /* a peer URL has no path */
    const char *colon;
    const char *hs = h, *he;
    if (*h == '[') { /* [v6]:port */
        he = memchr(h, ']', (size_t)(end - h));
        if (he == NULL)
            return PEER_EURL;
        hs = h + 1;
        colon = he + 1;
        if (colon >= end || *colon != ':')
            return PEER_EURL;
    } else {
        colon = NULL;
        for (const char *p = h; p < end; p++)
            if (*p == ':')
                colon = p;
        if (colon == NULL)
            return PEER_EURL; /* etcd requires a port on peer URLs */
        he = colon;
    }
    size_t hn = (size_t)(he - hs), pn = (size_t)(end - colon - 1);
    if (hn == 0 || hn >= host_cap || pn == 0 || pn >= port_cap)
        return PEER_EURL;
    memcpy(host, hs, hn);
    host[hn] = '\0';
    memcpy(port, colon + 1, pn);
    port[pn] = '\0';
    char *e;
    long v = strtol(port, &e, 10);
    if (*e != '\0' || v <= 0 || v > 65535)
        return PEER_EURL;
    return 0;
}

int peer_url_check(const char *url)
{
    char host[256], port[8];
    bool tls;
    int rc = split(url, host, sizeof(host), port, sizeof(port), &tls);
    return rc != 0 ? rc : tls ? PEER_ETLS : 0;
}

int peer_url_resolve(const char *url, struct sockaddr_storage *addr, socklen_t *len, bool *tls,
                     char *host, size_t host_cap)
{
    char port[8];
    int rc = split(url, host, host_cap, port, sizeof(port), tls);
    if (rc)
        return rc;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *res;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
        hints.ai_flags = 0;
        if (getaddrinfo(host, port, &hints, &res) != 0)
            return PEER_EURL;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}
