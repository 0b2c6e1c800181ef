/*
 * /version, /health and /v2/machines, byte for byte as etcd 3.4.23 answers
 * them (/v2/members: members_handler.c; /v2/stats: stats_handlers.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

static void get_info(api_t *api, api_server_info_t *info)
{
    memset(info, 0, sizeof(*info));
    api->host.server_info(api->host.ctx, info);
}

void api_handle_version(api_t *api, h2o_req_t *req, api_method_t m)
{
    if (m != API_M_GET) {
        api_send_method_not_allowed(api, req, "GET");
        return;
    }
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_buf_append_str(&b, "{\"etcdserver\":");
    api_json_string(&b, api->version, strlen(api->version));
    api_buf_append_str(&b, ",\"etcdcluster\":");
    api_json_string(&b, api->cluster_version, strlen(api->cluster_version));
    api_buf_append_str(&b, "}");
    api_send(api, req, 200, "application/json", b.data, b.len);
}

/* etcd writes the body without a Content-Type; Go sniffs text/plain. */
void api_handle_health(api_t *api, h2o_req_t *req, api_method_t m)
{
    if (m != API_M_GET) {
        api_send_method_not_allowed(api, req, "GET");
        return;
    }
    api_server_info_t info;
    get_info(api, &info);
    /* etcd serves clients only once its member has published its
     * attributes through raft (ReadyNotify); a metcd member serves earlier
     * and says it is healthy only from then on. */
    if (info.leader_id == 0 || info.not_ready) {
        /* Unhealthy goes through Go's http.Error: a newline and nosniff (etcd 3.4.23). */
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"),
                              0, "X-Content-Type-Options", H2O_STRLIT("nosniff"));
        api_send(api, req, 503, "text/plain; charset=utf-8",
                 H2O_STRLIT("{\"health\":\"false\"}\n"));
    } else {
        api_send(api, req, 200, "text/plain; charset=utf-8", H2O_STRLIT("{\"health\":\"true\"}"));
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* etcd's RaftCluster.ClientURLs(): every member's client URLs, sorted as text. */
void api_handle_machines(api_t *api, h2o_req_t *req, api_method_t m)
{
    if (m != API_M_GET && m != API_M_HEAD) {
        api_send_method_not_allowed(api, req, "GET,HEAD");
        return;
    }
    api_server_info_t info;
    get_info(api, &info);
    size_t n = 0;
    for (size_t i = 0; i < info.n_members; i++)
        n += info.members[i].n_client_urls;
    const char **urls = h2o_mem_alloc_pool(&req->pool, (n + 1) * sizeof(*urls));
    n = 0;
    for (size_t i = 0; i < info.n_members; i++)
        for (size_t j = 0; j < info.members[i].n_client_urls; j++)
            urls[n++] = info.members[i].client_urls[j];
    qsort(urls, n, sizeof(*urls), cmp_str);
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    for (size_t i = 0; i < n; i++) {
        if (i)
            api_buf_append(&b, ", ", 2);
        api_buf_append_str(&b, urls[i]);
    }
    api_send(api, req, 200, "text/plain; charset=utf-8", b.data ? b.data : "", b.len);
}

void api_json_hex_id(api_buf_t *b, uint64_t id)
{
    char s[20];
    size_t n = api_format_hex_id(s, id);
    api_buf_append(b, "\"", 1);
    api_buf_append(b, s, n);
    api_buf_append(b, "\"", 1);
}

/* grpc-gateway's answer to a path it does not know. */
void api_send_v3_not_found(api_t *api, h2o_req_t *req)
{
    api_send(api, req, 404, "text/plain; charset=utf-8", H2O_STRLIT("Not Found\n"));
}
