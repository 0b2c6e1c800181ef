/*
 * /v2/stats/self, /v2/stats/store and /v2/stats/leader, as etcd 3.4.23's
 * v2stats encodes them (Go's encoding/json of its structs: field order,
 * omitempty, followers keyed by id and so sorted as text).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

/* Go's time.Duration.String for a non-negative duration. */
static size_t format_duration(char *out, int64_t ns)
{
    if (ns <= 0)
        return (size_t)sprintf(out, "0s");
    if (ns < 1000)
        return (size_t)sprintf(out, "%" PRId64 "ns", ns);
    char frac[16];
    const char *unit;
    int64_t whole, part;
    int digits;
    if (ns < 1000000) {
        unit = "\xc2\xb5s";
        whole = ns / 1000;
        part = ns % 1000;
        digits = 3;
    } else if (ns < 1000000000) {
        unit = "ms";
        whole = ns / 1000000;
        part = ns % 1000000;
        digits = 6;
    } else {
        int64_t s = ns / 1000000000, h = s / 3600, mi = (s / 60) % 60;
        int64_t sec = s % 60, fr = ns % 1000000000;
        size_t n = 0;
        if (h)
            n += (size_t)sprintf(out + n, "%" PRId64 "h", h);
        if (h || mi)
            n += (size_t)sprintf(out + n, "%" PRId64 "m", mi);
        n += (size_t)sprintf(out + n, "%" PRId64, sec);
        if (fr) {
            int l = sprintf(frac, ".%09" PRId64, fr);
            while (frac[l - 1] == '0')
                l--;
            memcpy(out + n, frac, (size_t)l);
            n += (size_t)l;
        }
        out[n++] = 's';
        out[n] = '\0';
        return n;
    }
    size_t n = (size_t)sprintf(out, "%" PRId64, whole);
    if (part) {
        int l = sprintf(frac, ".%0*" PRId64, digits, part);
        while (frac[l - 1] == '0')
            l--;
        memcpy(out + n, frac, (size_t)l);
        n += (size_t)l;
    }
    n += (size_t)sprintf(out + n, "%s", unit);
    return n;
}

static void json_time(api_buf_t *b, int64_t ns)
{
    char ts[40];
    size_t n = api_format_rfc3339(ts, ns);
    api_buf_append(b, "\"", 1);
    api_buf_append(b, ts, n);
    api_buf_append(b, "\"", 1);
}

static void get_info(api_t *api, api_server_info_t *info)
{
    memset(info, 0, sizeof(*info));
    api->host.server_info(api->host.ctx, info);
}

/* A float64 field with Go's omitempty: left out when 0 (and never NaN or Inf). */
static void json_rate(api_buf_t *b, const char *name, double v)
{
    if (v == 0 || !isfinite(v))
        return;
    api_buf_append_str(b, ",\"");
    api_buf_append_str(b, name);
    api_buf_append_str(b, "\":");
    api_json_float(b, v);
}

/*
 * etcd's ServerStats.JSON. A follower shows the leader it last heard from
 * and since when (its own clock), as etcd's RecvAppendReq records them; the
 * rates appear only while appends flow (Go's omitempty on 0).
 */
static void stats_self(api_t *api, h2o_req_t *req)
{
    api_server_info_t info;
    get_info(api, &info);
    const char *name = "";
    for (size_t i = 0; i < info.n_members; i++)
        if (info.members[i].id == info.self_id && info.members[i].name)
            name = info.members[i].name;
    uint64_t leader = info.leader_info_id ? info.leader_info_id : info.leader_id;
    int64_t since = info.leader_start_time_ns ? info.leader_start_time_ns : info.start_time_ns;
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_buf_append_str(&b, "{\"name\":");
    api_json_string(&b, name, strlen(name));
    api_buf_append_str(&b, ",\"id\":");
    api_json_hex_id(&b, info.self_id);
    api_buf_append_str(&b, info.is_leader ? ",\"state\":\"StateLeader\""
                                          : ",\"state\":\"StateFollower\"");
    api_buf_append_str(&b, ",\"startTime\":");
    json_time(&b, info.start_time_ns);
    /* etcd's LeaderInfo.Name is "" until a leader is known. */
    api_buf_append_str(&b, ",\"leaderInfo\":{\"leader\":");
    if (leader != 0)
        api_json_hex_id(&b, leader);
    else
        api_buf_append_str(&b, "\"\"");
    api_buf_append_str(&b, ",\"uptime\":\"");
    char d[48];
    int64_t up = api_now_ns() - since;
    api_buf_append(&b, d, format_duration(d, up));
    api_buf_append_str(&b, "\",\"startTime\":");
    json_time(&b, since);
    api_buf_append_str(&b, "},\"recvAppendRequestCnt\":");
    api_buf_append_u64(&b, info.recv_append_requests);
    json_rate(&b, "recvPkgRate", info.recv_pkg_rate);
    json_rate(&b, "recvBandwidthRate", info.recv_bandwidth_rate);
    api_buf_append_str(&b, ",\"sendAppendRequestCnt\":");
    api_buf_append_u64(&b, info.send_append_requests);
    json_rate(&b, "sendPkgRate", info.send_pkg_rate);
    json_rate(&b, "sendBandwidthRate", info.send_bandwidth_rate);
    api_buf_append_str(&b, "}");
    api_send(api, req, 200, "application/json", b.data, b.len);
}

static void stats_store(api_t *api, h2o_req_t *req)
{
    store_stats_t s;
    store_get_stats(api->host.store, &s);
    s.watchers = store_watcher_count(api->host.store);
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {
        {"getsSuccess", s.gets_success},
        {"getsFail", s.gets_fail},
        {"setsSuccess", s.sets_success},
        {"setsFail", s.sets_fail},
        {"deleteSuccess", s.delete_success},
        {"deleteFail", s.delete_fail},
        {"updateSuccess", s.update_success},
        {"updateFail", s.update_fail},
        {"createSuccess", s.create_success},
        {"createFail", s.create_fail},
        {"compareAndSwapSuccess", s.compare_and_swap_success},
        {"compareAndSwapFail", s.compare_and_swap_fail},
        {"compareAndDeleteSuccess", s.compare_and_delete_success},
        {"compareAndDeleteFail", s.compare_and_delete_fail},
        {"expireCount", s.expire_count},
        {"watchers", s.watchers},
    };
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        api_buf_append_str(&b, i ? ",\"" : "{\"");
        api_buf_append_str(&b, f[i].name);
        api_buf_append_str(&b, "\":");
        api_buf_append_u64(&b, f[i].v);
    }
    api_buf_append_str(&b, "}");
    api_send(api, req, 200, "application/json", b.data, b.len);
}

void api_follower_stats_init(api_follower_stats_t *fs, uint64_t id)
{
    memset(fs, 0, sizeof(*fs));
    fs->id = id;
    fs->minimum_ms = 9223372036854775808.0; /* etcd's 1 << 63 */
}

/*
 * etcd's FollowerStats.Succ, step for step, so that rounding gives the same
 * digits: the running totals are rebuilt from the averages each time.
 */
void api_follower_stats_succeed(api_follower_stats_t *fs, int64_t latency_ns)
{
    double total = (double)fs->success * fs->average_ms;
    double total_square = (double)fs->success * fs->average_square_ms;
    fs->success++;
    fs->current_ms = (double)latency_ns / 1000000.0;
    if (fs->current_ms > fs->maximum_ms)
        fs->maximum_ms = fs->current_ms;
    if (fs->current_ms < fs->minimum_ms)
        fs->minimum_ms = fs->current_ms;
    fs->average_ms = (total + fs->current_ms) / (double)fs->success;
    fs->average_square_ms = (total_square + fs->current_ms * fs->current_ms) / (double)fs->success;
    fs->standard_deviation_ms = sqrt(fs->average_square_ms - fs->average_ms * fs->average_ms);
}

void api_follower_stats_fail(api_follower_stats_t *fs)
{
    fs->fail++;
}

/*
 * A NaN (the square root of a rounding error just below 0) would make Go's
 * encoder fail and etcd answer an empty body; it is shown as 0 instead.
 */
static void json_latency(api_buf_t *b, const char *name, double v, bool first)
{
    api_buf_append_str(b, first ? "\"" : ",\"");
    api_buf_append_str(b, name);
    api_buf_append_str(b, "\":");
    api_json_float(b, isfinite(v) ? v : 0);
}

typedef struct follower_key {
    char hex[20];
    const api_follower_stats_t *fs;
} follower_key_t;

static int cmp_follower_key(const void *a, const void *b)
{
    return strcmp(((const follower_key_t *)a)->hex, ((const follower_key_t *)b)->hex);
}

/*
 * etcd's LeaderStats.JSON: followers is a Go map keyed by the id's hex text,
 * so encoding/json writes them sorted as strings ("195268cd6cafdf88" before
 * "3bea59314a1c6ea"), not as numbers.
 */
static void stats_leader(api_t *api, h2o_req_t *req)
{
    api_server_info_t info;
    get_info(api, &info);
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    if (!info.is_leader) {
        api_buf_append_str(&b, "{\"message\":\"not current leader\"}");
        api_send(api, req, 403, "application/json", b.data, b.len);
        return;
    }
    follower_key_t *keys = h2o_mem_alloc_pool(&req->pool, (info.n_followers + 1) * sizeof(*keys));
    for (size_t i = 0; i < info.n_followers; i++) {
        size_t n = api_format_hex_id(keys[i].hex, info.followers[i].id);
        keys[i].hex[n] = '\0';
        keys[i].fs = &info.followers[i];
    }
    qsort(keys, info.n_followers, sizeof(*keys), cmp_follower_key);
    api_buf_append_str(&b, "{\"leader\":");
    api_json_hex_id(&b, info.self_id);
    api_buf_append_str(&b, ",\"followers\":{");
    for (size_t i = 0; i < info.n_followers; i++) {
        const api_follower_stats_t *fs = keys[i].fs;
        api_buf_append_str(&b, i ? ",\"" : "\"");
        api_buf_append_str(&b, keys[i].hex);
        api_buf_append_str(&b, "\":{\"latency\":{");
        json_latency(&b, "current", fs->current_ms, true);
        json_latency(&b, "average", fs->average_ms, false);
        json_latency(&b, "standardDeviation", fs->standard_deviation_ms, false);
        json_latency(&b, "minimum", fs->minimum_ms, false);
        json_latency(&b, "maximum", fs->maximum_ms, false);
        api_buf_append_str(&b, "},\"counts\":{\"fail\":");
        api_buf_append_u64(&b, fs->fail);
        api_buf_append_str(&b, ",\"success\":");
        api_buf_append_u64(&b, fs->success);
        api_buf_append_str(&b, "}}");
    }
    api_buf_append_str(&b, "}}");
    api_send(api, req, 200, "application/json", b.data, b.len);
}

void api_handle_stats(api_t *api, h2o_req_t *req, api_method_t m, const char *which, size_t len)
{
    if (m != API_M_GET) {
        api_send_method_not_allowed(api, req, "GET");
        return;
    }
    if (len == 4 && memcmp(which, "self", 4) == 0)
        stats_self(api, req);
    else if (len == 5 && memcmp(which, "store", 5) == 0)
        stats_store(api, req);
    else
        stats_leader(api, req);
}
