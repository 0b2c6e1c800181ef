/* src/peer/url.c - the peer URLs this transport can dial.
 *
 * Only http://host:port today. https is refused with PEER_ETLS so that a
 * member configured for TLS fails loudly instead of talking plain TCP to a
 * TLS port; a TLS transport will plug in at peer_url_resolve's caller. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/peer/peer_int.h"

/* Splits "http://host:port[/]" into host and port (NUL-terminated). */
static int split(const char *url, char *host, size_t host_cap, char *port, size_t port_cap)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return PEER_ETLS;
    if (strncasecmp(url, "http://", 7) != 0)
        return PEER_EURL;
    const char *h = url + 7;
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
    return split(url, host, sizeof(host), port, sizeof(port));
}

int peer_url_resolve(const char *url, struct sockaddr_storage *addr, socklen_t *len)
{
    char host[256], port[8];
    int rc = split(url, host, sizeof(host), port, sizeof(port));
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
