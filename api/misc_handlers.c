/*
 * /version, /health, /v2/machines, /v2/members, /v2/members/leader and
 * /v2/stats/{self,store,leader}, byte for byte as etcd 3.4.23 answers them.
 */
#include <inttypes.h>
#include <stdio.h>
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
    if (info.leader_id == 0)
        api_send(api, req, 503, "text/plain; charset=utf-8", H2O_STRLIT("{\"health\":\"false\"}"));
    else
        api_send(api, req, 200, "text/plain; charset=utf-8", H2O_STRLIT("{\"health\":\"true\"}"));
}

void api_handle_machines(api_t *api, h2o_req_t *req, api_method_t m)
{
    if (m != API_M_GET && m != API_M_HEAD) {
        api_send_method_not_allowed(api, req, "GET,HEAD");
        return;
    }
    api_server_info_t info;
    get_info(api, &info);
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    bool first = true;
    for (size_t i = 0; i < info.n_members; i++) {
        for (size_t j = 0; j < info.members[i].n_client_urls; j++) {
            if (!first)
                api_buf_append(&b, ", ", 2);
            first = false;
            api_buf_append_str(&b, info.members[i].client_urls[j]);
        }
    }
    api_send(api, req, 200, "text/plain; charset=utf-8", b.data ? b.data : "", b.len);
}

static void json_hex_id(api_buf_t *b, uint64_t id)
{
    char s[20];
    size_t n = api_format_hex_id(s, id);
    api_buf_append(b, "\"", 1);
    api_buf_append(b, s, n);
    api_buf_append(b, "\"", 1);
}

static void json_url_list(api_buf_t *b, const char *const *urls, size_t n)
{
    api_buf_append(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            api_buf_append(b, ",", 1);
        api_json_string(b, urls[i], strlen(urls[i]));
    }
    api_buf_append(b, "]", 1);
}

static void json_member(api_buf_t *b, const api_member_t *mb)
{
    api_buf_append_str(b, "{\"id\":");
    json_hex_id(b, mb->id);
    api_buf_append_str(b, ",\"name\":");
    api_json_string(b, mb->name ? mb->name : "", mb->name ? strlen(mb->name) : 0);
    api_buf_append_str(b, ",\"peerURLs\":");
    json_url_list(b, mb->peer_urls, mb->n_peer_urls);
    api_buf_append_str(b, ",\"clientURLs\":");
    json_url_list(b, mb->client_urls, mb->n_client_urls);
    api_buf_append_str(b, "}");
}

static void send_members_message(api_t *api, h2o_req_t *req, int status, const char *msg)
{
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_buf_append_str(&b, "{\"message\":");
    api_json_string(&b, msg, strlen(msg));
    api_buf_append_str(&b, "}");
    api_send(api, req, status, "application/json", b.data, b.len);
}

/* Go's strconv.ParseUint(s, 16, 64), as types.IDFromString uses it. */
static int parse_hex_id(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 16)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

/*
 * Whether a JSON text ends before its value does (Go: "unexpected end of
 * JSON input"): nothing but spaces, an open string, or open brackets.
 */
static bool json_truncated(const char *s, size_t len)
{
    size_t depth = 0, i = 0;
    bool in_string = false, seen_value = false;
    for (; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        seen_value = true;
        if (c == '"')
            in_string = true;
        else if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && depth > 0)
            depth--;
    }
    return !seen_value || in_string || depth > 0 || i > len;
}

/*
 * etcd's unmarshalRequest: the media type must be application/json (415),
 * and the body must decode. Returns 0 when the body may be used.
 */
static int check_json_request(api_t *api, h2o_req_t *req)
{
    const char *ct = "";
    size_t ct_len = 0;
    ssize_t hi = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (hi != -1) {
        ct = req->headers.entries[hi].value.base;
        ct_len = req->headers.entries[hi].value.len;
    }
    char media[128];
    const char *semi = memchr(ct, ';', ct_len);
    size_t ml = semi ? (size_t)(semi - ct) : ct_len;
    if (ml >= sizeof(media))
        ml = sizeof(media) - 1;
    memcpy(media, ct, ml);
    media[ml] = '\0';
    if (semi != NULL) {
        /* Only a media type with parameters is trimmed and lower-cased. */
        char *b = media;
        while (*b == ' ' || *b == '\t')
            b++;
        size_t l = strlen(b);
        while (l > 0 && (b[l - 1] == ' ' || b[l - 1] == '\t'))
            b[--l] = '\0';
        for (size_t i = 0; i < l; i++)
            if (b[i] >= 'A' && b[i] <= 'Z')
                b[i] = (char)(b[i] - 'A' + 'a');
        memmove(media, b, l + 1);
    }
    if (strcmp(media, "application/json") != 0) {
        char msg[192];
        snprintf(msg, sizeof(msg), "Bad Content-Type %s, accept application/json", media);
        send_members_message(api, req, 415, msg);
        return -1;
    }
    if (json_truncated(req->entity.base, req->entity.len)) {
        send_members_message(api, req, 400, "unexpected end of JSON input");
        return -1;
    }
    return 0;
}

/*
 * etcd's membersHandler. Listing and the leader are served; membership
 * changes (POST, PUT, DELETE) are checked as etcd checks them, and a valid
 * one is refused with 500: this member cannot change the cluster.
 */
void api_handle_members(api_t *api, h2o_req_t *req, api_method_t m, const char *sub, size_t len)
{
    if (m != API_M_GET && m != API_M_POST && m != API_M_DELETE && m != API_M_PUT) {
        api_send_method_not_allowed(api, req, "GET,POST,DELETE,PUT");
        return;
    }
    api_add_cluster_id(api, req);
    api_server_info_t info;
    get_info(api, &info);
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    if (m == API_M_POST) {
        if (check_json_request(api, req) == 0)
            send_members_message(api, req, 500, "membership changes are not supported");
        return;
    }
    if (m == API_M_DELETE || m == API_M_PUT) {
        uint64_t id;
        char msg[160];
        if (parse_hex_id(sub, len, &id) != 0) {
            snprintf(msg, sizeof(msg), "No such member: %.*s", (int)(len > 100 ? 100 : len), sub);
            send_members_message(api, req, 404, msg);
            return;
        }
        if (m == API_M_PUT && check_json_request(api, req) != 0)
            return;
        for (size_t i = 0; i < info.n_members; i++) {
            if (info.members[i].id == id) {
                send_members_message(api, req, 500, "membership changes are not supported");
                return;
            }
        }
        char hex[20];
        api_format_hex_id(hex, id);
        snprintf(msg, sizeof(msg), "No such member: %s", hex);
        send_members_message(api, req, 404, msg);
        return;
    }
    if (len == 0) {
        api_buf_append_str(&b, "{\"members\":[");
        for (size_t i = 0; i < info.n_members; i++) {
            if (i)
                api_buf_append(&b, ",", 1);
            json_member(&b, &info.members[i]);
        }
        api_buf_append_str(&b, "]}\n");
        api_send(api, req, 200, "application/json", b.data, b.len);
        return;
    }
    if (len == 6 && memcmp(sub, "leader", 6) == 0) {
        for (size_t i = 0; i < info.n_members; i++) {
            if (info.leader_id != 0 && info.members[i].id == info.leader_id) {
                json_member(&b, &info.members[i]);
                api_buf_append_str(&b, "\n");
                api_send(api, req, 200, "application/json", b.data, b.len);
                return;
            }
        }
        send_members_message(api, req, 503, "During leader election");
        return;
    }
    send_members_message(api, req, 404, "Not found");
}

/* grpc-gateway's answer to a path it does not know. */
void api_send_v3_not_found(api_t *api, h2o_req_t *req)
{
    api_send(api, req, 404, "text/plain; charset=utf-8", H2O_STRLIT("Not Found\n"));
}

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

static void stats_self(api_t *api, h2o_req_t *req)
{
    api_server_info_t info;
    get_info(api, &info);
    const char *name = "";
    for (size_t i = 0; i < info.n_members; i++)
        if (info.members[i].id == info.self_id && info.members[i].name)
            name = info.members[i].name;
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_buf_append_str(&b, "{\"name\":");
    api_json_string(&b, name, strlen(name));
    api_buf_append_str(&b, ",\"id\":");
    json_hex_id(&b, info.self_id);
    api_buf_append_str(&b, info.is_leader ? ",\"state\":\"StateLeader\""
                                          : ",\"state\":\"StateFollower\"");
    api_buf_append_str(&b, ",\"startTime\":");
    json_time(&b, info.start_time_ns);
    api_buf_append_str(&b, ",\"leaderInfo\":{\"leader\":");
    json_hex_id(&b, info.leader_id);
    api_buf_append_str(&b, ",\"uptime\":\"");
    char d[48];
    int64_t up = info.is_leader ? api_now_ns() - info.leader_start_time_ns : 0;
    api_buf_append(&b, d, format_duration(d, up));
    api_buf_append_str(&b, "\",\"startTime\":");
    if (info.is_leader)
        json_time(&b, info.leader_start_time_ns);
    else
        api_buf_append_str(&b, "\"0001-01-01T00:00:00Z\"");
    api_buf_append_str(&b, "},\"recvAppendRequestCnt\":");
    api_buf_append_u64(&b, info.recv_append_requests);
    api_buf_append_str(&b, ",\"sendAppendRequestCnt\":");
    api_buf_append_u64(&b, info.send_append_requests);
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
    api_buf_append_str(&b, "{\"leader\":");
    json_hex_id(&b, info.self_id);
    api_buf_append_str(&b, ",\"followers\":{}}");
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
