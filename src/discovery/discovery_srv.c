/*
 * Bootstrap from DNS SRV records (etcd 3.4's pkg/srv GetCluster, called by
 * embed.Config.GetDNSClusterNames). Queries go through libresolv's
 * res_nquery; METCD_DNS_SERVER replaces the servers of /etc/resolv.conf,
 * since glibc offers no variable for that (RES_OPTIONS and LOCALDOMAIN set
 * options and the search list only). Targets are resolved with
 * getaddrinfo, as etcd resolves them with the system resolver.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "src/discovery/discovery.h"

typedef struct srv_answer {
    char target[NS_MAXDNAME];
    unsigned port;
} srv_answer_t;

/* res_nquery's state, pointed at METCD_DNS_SERVER when set. */
static int resolver_init(res_state st, char *err, size_t err_len)
{
    memset(st, 0, sizeof(*st));
    if (res_ninit(st) != 0) {
        snprintf(err, err_len, "cannot initialise the DNS resolver");
        return -1;
    }
    const char *server = getenv("METCD_DNS_SERVER");
    if (server == NULL || server[0] == '\0')
        return 0;
    char host[64];
    unsigned port = 53;
    const char *colon = strrchr(server, ':');
    size_t hl = colon != NULL ? (size_t)(colon - server) : strlen(server);
    if (hl >= sizeof(host) || (colon != NULL && sscanf(colon + 1, "%u", &port) != 1) || port == 0 ||
        port > 65535) {
        res_nclose(st);
        snprintf(err, err_len, "METCD_DNS_SERVER=%s is not IPv4:port", server);
        return -1;
    }
    memcpy(host, server, hl);
    host[hl] = '\0';
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        res_nclose(st);
        snprintf(err, err_len, "METCD_DNS_SERVER=%s is not IPv4:port", server);
        return -1;
    }
    st->nscount = 1;
    st->nsaddr_list[0] = sin;
    return 0;
}

/* The SRV records of name. Returns their count (0 with err when there are
 * none or the query failed). *out is malloc'd; the caller frees it. */
static size_t lookup_srv(res_state st, const char *name, srv_answer_t **out, char *err,
                         size_t err_len)
{
    unsigned char answer[NS_PACKETSZ * 8];
    *out = NULL;
    int len = res_nquery(st, name, ns_c_in, ns_t_srv, answer, sizeof(answer));
    if (len < 0) {
        snprintf(err, err_len, "lookup %.200s on %s: %s", name,
                 getenv("METCD_DNS_SERVER") ? getenv("METCD_DNS_SERVER") : "the system resolver",
                 st->res_h_errno == HOST_NOT_FOUND ? "no such host" : hstrerror(st->res_h_errno));
        return 0;
    }
    ns_msg msg;
    if (ns_initparse(answer, len, &msg) != 0) {
        snprintf(err, err_len, "lookup %.200s: cannot parse the DNS answer", name);
        return 0;
    }
    size_t n = 0, count = ns_msg_count(msg, ns_s_an);
    srv_answer_t *v = calloc(count + 1, sizeof(*v));
    if (v == NULL)
        abort();
    for (size_t i = 0; i < count; i++) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, (int)i, &rr) != 0 || ns_rr_type(rr) != ns_t_srv ||
            ns_rr_rdlen(rr) < 7)
            continue;
        const unsigned char *rd = ns_rr_rdata(rr);
        v[n].port = (unsigned)(rd[4] << 8 | rd[5]);
        if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rd + 6, v[n].target,
                               sizeof(v[n].target)) < 0)
            continue;
        n++;
    }
    if (n == 0)
        snprintf(err, err_len, "lookup %.200s: no SRV records", name);
    *out = v;
    return n;
}

/* The IPv4 addresses of host:port (etcd resolves both sides to TCP
 * addresses with Go's resolver, which prefers IPv4). NULL when host does not
 * resolve. Free with freeaddrinfo. */
static struct addrinfo *resolve(const char *host, unsigned port)
{
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *a = NULL;
    return getaddrinfo(host, ps, &hints, &a) == 0 ? a : NULL;
}

/* One address of a is one of the addresses one of urls resolves to. */
static bool is_self(const struct addrinfo *a, const char *const *urls, size_t n)
{
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        const char *h = strstr(urls[i], "://");
        const char *end = h != NULL ? strrchr(h + 3, ':') : NULL;
        char uh[256];
        if (end == NULL || (size_t)(end - h - 3) >= sizeof(uh))
            continue;
        h += 3;
        size_t hl = (size_t)(end - h);
        if (hl >= 2 && h[0] == '[')
            h++, hl -= 2;
        memcpy(uh, h, hl);
        uh[hl] = '\0';
        struct addrinfo *b = resolve(uh, (unsigned)atoi(end + 1));
        for (const struct addrinfo *x = a; x != NULL && !found; x = x->ai_next)
            for (const struct addrinfo *y = b; y != NULL && !found; y = y->ai_next)
                found = x->ai_addrlen == y->ai_addrlen &&
                        memcmp(x->ai_addr, y->ai_addr, x->ai_addrlen) == 0;
        if (b != NULL)
            freeaddrinfo(b);
    }
    return found;
}

/* Appends the members of one service (etcd's srv.GetCluster). Returns the
 * number appended, 0 with err when the lookup failed. */
static size_t add_service(res_state st, const char *service, const char *scheme, const char *domain,
                          const char *self_name, const char *const *self_urls, size_t n_self,
                          unsigned *temp_name, char **list, size_t *list_len, char *err,
                          size_t err_len)
{
    char name[NS_MAXDNAME];
    snprintf(name, sizeof(name), "_%s._tcp.%s", service, domain);
    srv_answer_t *v = NULL;
    size_t n = lookup_srv(st, name, &v, err, err_len), added = 0;
    for (size_t i = 0; i < n; i++) {
        size_t tl = strlen(v[i].target);
        if (tl > 0 && v[i].target[tl - 1] == '.')
            v[i].target[tl - 1] = '\0'; /* SRV targets end with a dot, URLs don't */
        struct addrinfo *addrs = resolve(v[i].target, v[i].port);
        if (addrs == NULL) {
            /* etcd skips a target it cannot resolve. */
            snprintf(err, err_len, "lookup %.200s: cannot resolve the target", v[i].target);
            continue;
        }
        bool self = is_self(addrs, self_urls, n_self);
        freeaddrinfo(addrs);
        bool v6 = strchr(v[i].target, ':') != NULL;
        char entry[NS_MAXDNAME + 96], tmp[16];
        if (!self)
            snprintf(tmp, sizeof(tmp), "%u", (*temp_name)++);
        int el = snprintf(entry, sizeof(entry), "%s=%s://%s%s%s:%u", self ? self_name : tmp, scheme,
                          v6 ? "[" : "", v[i].target, v6 ? "]" : "", v[i].port);
        char *grown = realloc(*list, *list_len + (size_t)el + 2);
        if (grown == NULL)
            abort();
        *list = grown;
        *list_len += (size_t)snprintf(*list + *list_len, (size_t)el + 2, "%s%s",
                                      *list_len > 0 ? "," : "", entry);
        added++;
        log_line('I', "discovery", "got bootstrap from DNS for %s at %s://%s:%u", service, scheme,
                 v[i].target, v[i].port);
    }
    free(v);
    return added;
}

int discovery_srv_cluster(const char *domain, const char *srv_name, const char *self_name,
                          const char *const *self_peer_urls, size_t n_self_peer_urls,
                          char **cluster, char *err, size_t err_len)
{
    struct __res_state st;
    if (resolver_init(&st, err, err_len) != 0)
        return -1;
    char https_service[256], http_service[256], why_https[256] = "", why_http[256] = "";
    const char *suffix_dash = srv_name != NULL && srv_name[0] != '\0' ? "-" : "";
    const char *suffix = srv_name != NULL ? srv_name : "";
    snprintf(https_service, sizeof(https_service), "etcd-server-ssl%s%s", suffix_dash, suffix);
    snprintf(http_service, sizeof(http_service), "etcd-server%s%s", suffix_dash, suffix);
    char *list = NULL;
    size_t list_len = 0;
    unsigned temp_name = 0;
    /* etcd 3.4 asks for both and keeps what either gave. */
    size_t n =
        add_service(&st, https_service, "https", domain, self_name, self_peer_urls,
                    n_self_peer_urls, &temp_name, &list, &list_len, why_https, sizeof(why_https));
    n += add_service(&st, http_service, "http", domain, self_name, self_peer_urls, n_self_peer_urls,
                     &temp_name, &list, &list_len, why_http, sizeof(why_http));
    res_nclose(&st);
    if (n == 0) {
        free(list);
        snprintf(err, err_len,
                 "error setting up initial cluster: cannot find local etcd member \"%s\" in SRV "
                 "records (error querying DNS SRV records for _%s %s; error querying DNS SRV "
                 "records for _%s %s)",
                 self_name, https_service, why_https, http_service, why_http);
        return -1;
    }
    *cluster = list;
    return 0;
}
