/*
 * /metrics in the Prometheus text format (version 0.0.4): HTTP requests by
 * method and status, pending watches, keys, the store index, and the time
 * from propose() to its answer as a histogram.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/auth_int.h"

static const double latency_bounds[API_LATENCY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
};

static int method_slot(api_method_t m)
{
    return (int)m >= 0 && (int)m < API_METRIC_METHODS ? (int)m : 0;
}

/*
 * Every loop counts into the same table, some answers outside the host's
 * lock (a GET is sent after it): columns are claimed and counts added with
 * atomics.
 */
void api_metrics_count(api_t *api, api_method_t m, int status)
{
    api_metrics_t *mt = api->metrics;
    int col = -1;
    for (int i = 0; i < API_METRIC_STATUSES; i++) {
        int seen = __atomic_load_n(&mt->statuses[i], __ATOMIC_ACQUIRE);
        if (seen == 0) {
            int zero = 0;
            if (__atomic_compare_exchange_n(&mt->statuses[i], &zero, status, false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                seen = status;
            else
                seen = zero; /* another loop claimed it first */
        }
        if (seen == status) {
            col = i;
            break;
        }
    }
    if (col < 0)
        return; /* more distinct statuses than columns: not counted */
    __atomic_fetch_add(&mt->requests[method_slot(m)][col], 1, __ATOMIC_RELAXED);
}

/* Inside the host's lock (answers to writes are sent there). */
void api_metrics_observe_apply(api_t *api, double seconds)
{
    api_metrics_t *mt = api->metrics;
    for (int i = 0; i < API_LATENCY_BUCKETS; i++) {
        if (seconds <= latency_bounds[i]) {
            mt->latency_buckets[i]++;
            break;
        }
    }
    mt->latency_count++;
    mt->latency_sum += seconds;
}

static void appendf(api_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void appendf(api_buf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        api_buf_append(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

void api_handle_metrics(api_t *api, h2o_req_t *req, api_method_t m)
{
    if (m != API_M_GET && m != API_M_HEAD) {
        api_send_method_not_allowed(api, req, "GET,HEAD");
        return;
    }
    api_metrics_t *mt = api->metrics;
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_buf_append_str(&b, "# HELP metcd_http_requests_total HTTP requests answered, by method "
                           "and status code.\n# TYPE metcd_http_requests_total counter\n");
    for (int mi = 0; mi < API_METRIC_METHODS; mi++)
        for (int c = 0; c < API_METRIC_STATUSES; c++) {
            int status = __atomic_load_n(&mt->statuses[c], __ATOMIC_ACQUIRE);
            uint64_t n = __atomic_load_n(&mt->requests[mi][c], __ATOMIC_RELAXED);
            if (status == 0)
                break;
            if (n != 0)
                appendf(&b, "metcd_http_requests_total{method=\"%s\",code=\"%d\"} %llu\n",
                        api_method_name((api_method_t)mi), status, (unsigned long long)n);
        }
    /*
     * etcd's server gauges, under etcd's names, so that dashboards and
     * alerts written for an etcd cluster read a metcd member unchanged.
     */
    api_server_info_t info = {0};
    api->host.server_info(api->host.ctx, &info);
    appendf(&b,
            "# HELP etcd_server_has_leader Whether or not a leader exists. 1 is existence, 0 is "
            "not.\n# TYPE etcd_server_has_leader gauge\netcd_server_has_leader %d\n",
            info.leader_id != 0);
    appendf(&b,
            "# HELP etcd_server_is_leader Whether or not this member is a leader. 1 if is, 0 "
            "otherwise.\n# TYPE etcd_server_is_leader gauge\netcd_server_is_leader %d\n",
            info.is_leader);
    appendf(&b,
            "# HELP etcd_server_leader_changes_seen_total The number of leader changes seen.\n"
            "# TYPE etcd_server_leader_changes_seen_total counter\n"
            "etcd_server_leader_changes_seen_total %llu\n",
            (unsigned long long)info.leader_changes);
    appendf(&b,
            "# HELP etcd_server_proposals_committed_total The total number of consensus "
            "proposals committed.\n# TYPE etcd_server_proposals_committed_total gauge\n"
            "etcd_server_proposals_committed_total %llu\n",
            (unsigned long long)info.proposals_committed);
    appendf(&b,
            "# HELP etcd_server_proposals_applied_total The total number of consensus proposals "
            "applied.\n# TYPE etcd_server_proposals_applied_total gauge\n"
            "etcd_server_proposals_applied_total %llu\n",
            (unsigned long long)info.proposals_applied);
    appendf(&b,
            "# HELP etcd_server_proposals_pending The current number of pending proposals to "
            "commit.\n# TYPE etcd_server_proposals_pending gauge\n"
            "etcd_server_proposals_pending %llu\n",
            (unsigned long long)info.proposals_pending);
    appendf(&b,
            "# HELP etcd_server_proposals_failed_total The total number of failed proposals "
            "seen.\n# TYPE etcd_server_proposals_failed_total counter\n"
            "etcd_server_proposals_failed_total %llu\n",
            (unsigned long long)info.proposals_failed);
    /* The peer transport's counters, under etcd's rafthttp metric names;
     * IDs in lower-case hex as etcd labels them. */
    api_buf_append_str(&b, "# HELP etcd_network_active_peers The current number of active peer "
                           "connections.\n# TYPE etcd_network_active_peers gauge\n");
    for (size_t i = 0; i < info.n_peers; i++)
        appendf(&b, "etcd_network_active_peers{Local=\"%llx\",Remote=\"%llx\"} %d\n",
                (unsigned long long)info.self_id, (unsigned long long)info.peers[i].id,
                info.peers[i].active);
    api_buf_append_str(&b, "# HELP etcd_network_peer_received_bytes_total The total number of "
                           "bytes received from peers.\n# TYPE "
                           "etcd_network_peer_received_bytes_total counter\n");
    for (size_t i = 0; i < info.n_peers; i++)
        appendf(&b, "etcd_network_peer_received_bytes_total{From=\"%llx\"} %llu\n",
                (unsigned long long)info.peers[i].id,
                (unsigned long long)info.peers[i].received_bytes);
    api_buf_append_str(&b, "# HELP etcd_network_peer_sent_bytes_total The total number of bytes "
                           "sent to peers.\n# TYPE etcd_network_peer_sent_bytes_total counter\n");
    for (size_t i = 0; i < info.n_peers; i++)
        appendf(&b, "etcd_network_peer_sent_bytes_total{To=\"%llx\"} %llu\n",
                (unsigned long long)info.peers[i].id, (unsigned long long)info.peers[i].sent_bytes);
    api_buf_append_str(&b, "# HELP etcd_network_peer_sent_failures_total The total number of "
                           "send failures from peers.\n# TYPE "
                           "etcd_network_peer_sent_failures_total counter\n");
    for (size_t i = 0; i < info.n_peers; i++)
        appendf(&b, "etcd_network_peer_sent_failures_total{To=\"%llx\"} %llu\n",
                (unsigned long long)info.peers[i].id,
                (unsigned long long)info.peers[i].sent_failures);
    store_t *s = api->host.store;
    appendf(&b,
            "# HELP metcd_watchers Pending watch requests.\n# TYPE metcd_watchers gauge\n"
            "metcd_watchers %zu\n",
            mt->watches);
    appendf(&b,
            "# HELP metcd_keys Keys and directories in the store.\n# TYPE metcd_keys gauge\n"
            "metcd_keys %llu\n",
            (unsigned long long)store_node_count(s));
    appendf(&b,
            "# HELP metcd_store_index The store index.\n# TYPE metcd_store_index gauge\n"
            "metcd_store_index %llu\n",
            (unsigned long long)store_index(s));
    appendf(&b,
            "# HELP metcd_auth_failed_logins_total Requests whose credentials did not check "
            "(wrong password, unknown user, unreadable Authorization header).\n"
            "# TYPE metcd_auth_failed_logins_total counter\nmetcd_auth_failed_logins_total %llu\n",
            (unsigned long long)mt->failed_logins);
    api_buf_append_str(&b, "# HELP metcd_apply_latency_seconds Time from proposing a write to "
                           "its answer.\n# TYPE metcd_apply_latency_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i < API_LATENCY_BUCKETS; i++) {
        cum += mt->latency_buckets[i];
        appendf(&b, "metcd_apply_latency_seconds_bucket{le=\"%g\"} %llu\n", latency_bounds[i],
                (unsigned long long)cum);
    }
    appendf(&b, "metcd_apply_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
            (unsigned long long)mt->latency_count);
    appendf(&b, "metcd_apply_latency_seconds_sum %.9f\n", mt->latency_sum);
    appendf(&b, "metcd_apply_latency_seconds_count %llu\n", (unsigned long long)mt->latency_count);
    api_send(api, req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
}
