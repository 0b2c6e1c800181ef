/*
 * Joining a running cluster (--initial-cluster-state existing, after
 * `member add`): before its first start, the new member asks the other
 * members of --initial-cluster for the cluster (GET /members on their peer
 * port, as etcd's GetClusterFromRemotePeers does), takes the cluster ID from
 * the answer's X-Etcd-Cluster-ID and its own member ID from the member whose
 * peer URLs are its advertised ones.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "src/server/join.h"

/* Reads the whole answer of one HTTP/1.1 GET (Connection: close) within
 * timeout_ms. *out is malloc'd (the caller frees it). 0 or -1. */
static int http_get(const config_url_t *u, const char *path, unsigned timeout_ms, char **out,
                    size_t *out_len)
{
    char port[16];
    snprintf(port, sizeof(port), "%u", u->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(u->host, port, &hints, &ai) != 0 || ai == NULL)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    int rc = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : -1;
    freeaddrinfo(ai);
    char req[512];
    int n =
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%u\r\nConnection: close\r\n\r\n",
                 path, u->host, u->port);
    if (rc == 0 && write(fd, req, (size_t)n) != n)
        rc = -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        abort();
    while (rc == 0) {
        if (len + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (buf == NULL)
                abort();
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0)
            rc = -1;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    if (fd >= 0)
        close(fd);
    if (rc != 0) {
        free(buf);
        return -1;
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    return 0;
}

static bool same_url_set(json_t *urls, const config_url_list_t *mine)
{
    if (!json_is_array(urls) || json_array_size(urls) != mine->n)
        return false;
    for (size_t i = 0; i < mine->n; i++) {
        bool found = false;
        for (size_t j = 0; j < json_array_size(urls) && !found; j++) {
            const char *s = json_string_value(json_array_get(urls, j));
            found = s != NULL && strcmp(s, mine->urls[i].text) == 0;
        }
        if (!found)
            return false;
    }
    return true;
}

/* Parses one /members answer. 0 with the IDs, or -1 with err. */
static int parse_answer(const char *resp, size_t len, const config_t *cfg, uint64_t *member,
                        uint64_t *cluster, membership_t *members, char *err, size_t err_len)
{
    (void)len;
    if (strncmp(resp, "HTTP/1.1 200", 12) != 0 && strncmp(resp, "HTTP/1.0 200", 12) != 0) {
        snprintf(err, err_len, "the peer answered %.40s", resp);
        return -1;
    }
    const char *h = strcasestr(resp, "\r\nX-Etcd-Cluster-ID:");
    const char *body = strstr(resp, "\r\n\r\n");
    if (h == NULL || body == NULL || h > body) {
        snprintf(err, err_len, "the peer's answer has no cluster ID");
        return -1;
    }
    *cluster = strtoull(h + strlen("\r\nX-Etcd-Cluster-ID:"), NULL, 16);
    json_error_t jerr;
    json_t *arr = json_loads(body + 4, 0, &jerr);
    if (!json_is_array(arr)) {
        snprintf(err, err_len, "the peer's member list is not JSON: %s", jerr.text);
        json_decref(arr);
        return -1;
    }
    *member = 0;
    membership_init(members, *cluster);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *m = json_array_get(arr, i);
        json_t *urls = json_object_get(m, "peerURLs");
        uint64_t id = (uint64_t)json_integer_value(json_object_get(m, "id"));
        if (same_url_set(urls, &cfg->initial_advertise_peer))
            *member = id;
        size_t nu = json_is_array(urls) ? json_array_size(urls) : 0;
        const char **u = calloc(nu + 1, sizeof(*u));
        if (u == NULL)
            abort();
        size_t k = 0;
        for (size_t j = 0; j < nu; j++)
            if (json_string_value(json_array_get(urls, j)) != NULL)
                u[k++] = json_string_value(json_array_get(urls, j));
        membership_member_t mb = {.id = id, .name = "", .peer_urls = (char **)u, .n_peer_urls = k};
        if (id != 0)
            membership_add(members, &mb);
        free(u);
    }
    json_decref(arr);
    if (*member == 0) {
        membership_free(members);
        snprintf(err, err_len,
                 "no member of the cluster has this member's peer URLs (add it first with "
                 "\"member add\")");
        return -1;
    }
    return 0;
}

int join_fetch_ids(const config_t *cfg, uint64_t *member, uint64_t *cluster, membership_t *members,
                   char *err, size_t err_len)
{
    char last[256] = "no other member in --initial-cluster";
    for (size_t i = 0; i < cfg->n_initial_cluster; i++) {
        const config_member_t *cm = &cfg->initial_cluster[i];
        if (strcmp(cm->name, cfg->name) == 0)
            continue;
        char *resp = NULL;
        size_t len = 0;
        if (http_get(&cm->peer_url, "/members", 2000, &resp, &len) != 0) {
            snprintf(last, sizeof(last), "cannot reach %s: %s", cm->peer_url.text, strerror(errno));
            continue;
        }
        char why[200] = "";
        int rc = parse_answer(resp, len, cfg, member, cluster, members, why, sizeof(why));
        free(resp);
        if (rc == 0) {
            log_line('I', "etcdserver", "found member %" PRIx64 " in cluster %" PRIx64 " at %s",
                     *member, *cluster, cm->peer_url.text);
            return 0;
        }
        snprintf(last, sizeof(last), "%s: %s", cm->peer_url.text, why);
    }
    snprintf(err, err_len, "cannot fetch cluster info from peer urls: %s", last);
    return -1;
}
