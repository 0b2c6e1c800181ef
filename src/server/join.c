/*
 * Joining a running cluster (--initial-cluster-state existing, after
 * `member add`): before its first start, the new member asks the other
 * members of --initial-cluster for the cluster (GET /members on their peer
 * port, as etcd's GetClusterFromRemotePeers does), takes the cluster ID from
 * the answer's X-Etcd-Cluster-ID and its own member ID from the member whose
 * peer URLs are its advertised ones.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "src/httpc/httpc.h"
#include "src/server/join.h"

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
static int parse_answer(const httpc_response_t *res, const config_t *cfg, uint64_t *member,
                        uint64_t *cluster, membership_t *members, char *err, size_t err_len)
{
    char id[32];
    if (res->status != 200) {
        snprintf(err, err_len, "the peer answered %d", res->status);
        return -1;
    }
    if (httpc_response_header(res, "X-Etcd-Cluster-ID", id, sizeof(id)) != 0) {
        snprintf(err, err_len, "the peer's answer has no cluster ID");
        return -1;
    }
    *cluster = strtoull(id, NULL, 16);
    json_error_t jerr;
    json_t *arr = json_loads(res->body, 0, &jerr);
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
        httpc_endpoint_t ep;
        httpc_response_t res;
        char why[200] = "";
        if (httpc_endpoint_parse(&ep, cm->peer_url.text, why, sizeof(why)) != 0) {
            snprintf(last, sizeof(last), "%s: %s", cm->peer_url.text, why);
            continue;
        }
        int rc = httpc_request(&ep, "GET", "/members", NULL, 2000, &res, why, sizeof(why));
        httpc_endpoint_free(&ep);
        if (rc != 0) {
            snprintf(last, sizeof(last), "cannot reach %s: %s", cm->peer_url.text, why);
            continue;
        }
        rc = parse_answer(&res, cfg, member, cluster, members, why, sizeof(why));
        httpc_response_free(&res);
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
