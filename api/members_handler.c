/*
 * /v2/members and /v2/members/<id>, answered as etcd 3.4.23's v2http
 * membersHandler answers: GET lists (members sorted by id) or names the
 * leader; POST adds, DELETE removes, PUT changes peer URLs, each through the
 * host's member_change() and answered once the change is applied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth_int.h"
#include "common/log.h"

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

/* etcd's httptypes.Member; no client URLs is [] (etcd makes an empty slice). */
static void json_member(api_buf_t *b, const api_member_t *mb)
{
    api_buf_append_str(b, "{\"id\":");
    api_json_hex_id(b, mb->id);
    api_buf_append_str(b, ",\"name\":");
    api_json_string(b, mb->name ? mb->name : "", mb->name ? strlen(mb->name) : 0);
    api_buf_append_str(b, ",\"peerURLs\":");
    json_url_list(b, mb->peer_urls, mb->n_peer_urls);
    api_buf_append_str(b, ",\"clientURLs\":");
    json_url_list(b, mb->client_urls, mb->n_client_urls);
    api_buf_append_str(b, "}");
}

/* etcd's httptypes.HTTPError: {"message":...}, application/json, no newline. */
static void send_message(api_t *api, h2o_req_t *req, int status, const char *msg, size_t len)
{
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_buf_append_str(&b, "{\"message\":");
    api_json_string(&b, msg, len);
    api_buf_append_str(&b, "}");
    api_send(api, req, status, "application/json", b.data, b.len);
}

static void send_message_str(api_t *api, h2o_req_t *req, int status, const char *msg)
{
    send_message(api, req, status, msg, strlen(msg));
}

static void send_no_such_member(api_t *api, h2o_req_t *req, const char *id, size_t len)
{
    char msg[160];
    int n = snprintf(msg, sizeof(msg), "No such member: %.*s", (int)(len > 128 ? 128 : len), id);
    send_message(api, req, 404, msg, (size_t)n);
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
 * etcd's unmarshalRequest: the media type must be application/json (415),
 * and the body must decode into {"peerURLs":[...]} with valid URLs (400 with
 * Go's error text). Returns 0 with the sorted URLs in pool memory, or -1
 * once the error is sent.
 */
static int read_peer_urls(api_t *api, h2o_req_t *req, const char ***urls, size_t *n_urls)
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
        int n = snprintf(msg, sizeof(msg), "Bad Content-Type %s, accept application/json", media);
        send_message(api, req, 415, msg, (size_t)n);
        return -1;
    }
    api_buf_t err;
    api_buf_init(&err, &req->pool);
    if (api_members_parse_body(&req->pool, req->entity.base, req->entity.len, urls, n_urls, &err) !=
        0) {
        send_message(api, req, 400, err.data, err.len);
        return -1;
    }
    return 0;
}

/*
 * A change in flight. The client may go away before the change is applied:
 * as with keys_handler.c's tickets, the request pool holds a slot pointing
 * at the wait, whose dispose hook detaches it, so done() never touches a
 * freed request. Membership changes are rare: one malloc each.
 */
typedef struct member_wait member_wait_t;

typedef struct member_slot {
    member_wait_t *wait;
} member_slot_t;

struct member_wait {
    api_t *api;
    h2o_req_t *req; /* NULL once the request is gone */
    member_slot_t *slot;
    api_member_op_t op;
    uint64_t id;
};

static void on_member_slot_dispose(void *p)
{
    member_slot_t *slot = p;
    if (slot->wait != NULL) {
        slot->wait->req = NULL;
        slot->wait->slot = NULL;
    }
}

static void wait_free(member_wait_t *w)
{
    if (w->slot != NULL)
        w->slot->wait = NULL;
    free(w);
}

/*
 * The answer to a failed change. etcd's handler recognises only the errors
 * it expects for each method; anything else, membership errors included,
 * goes through etcdhttp.WriteError as a plain 500 "Internal Server Error"
 * (etcd 3.4.23 answers a PUT of a removed member that way).
 */
static void send_change_error(api_t *api, h2o_req_t *req, api_member_op_t op, uint64_t id, int rc)
{
    char hex[20], msg[96];
    size_t n = api_format_hex_id(hex, id);
    hex[n] = '\0';
    if (rc == API_MEMBER_E_NOT_FOUND && op != API_MEMBER_ADD) {
        snprintf(msg, sizeof(msg), "No such member: %s", hex);
        send_message_str(api, req, 404, msg);
    } else if (rc == API_MEMBER_E_REMOVED && op == API_MEMBER_REMOVE) {
        snprintf(msg, sizeof(msg), "Member permanently removed: %s", hex);
        send_message_str(api, req, 410, msg);
    } else if (rc == API_MEMBER_E_ID_EXISTS && op == API_MEMBER_ADD) {
        send_message_str(api, req, 409, "membership: ID exists");
    } else if (rc == API_MEMBER_E_PEER_URL_EXISTS && op != API_MEMBER_REMOVE) {
        send_message_str(api, req, 409, "membership: peerURL exists");
    } else {
        send_message_str(api, req, 500, "Internal Server Error");
    }
}

/* etcd logs why a change failed (the client sees only the status). */
static void log_change_error(api_member_op_t op, uint64_t id, int rc, const char *message)
{
    if (rc != API_MEMBER_E_INTERNAL && message == NULL)
        return;
    char hex[20];
    size_t n = api_format_hex_id(hex, id);
    hex[n] = '\0';
    static const char *const what[] = {"adding", "removing", "updating"};
    log_line('E', "etcdserver/api/v2http", "error %s member %s (%s)", what[op],
             op == API_MEMBER_ADD ? "" : hex, message ? message : "internal error");
}

static void on_member_changed(void *ctx, int rc, const api_member_t *m, const char *message)
{
    member_wait_t *w = ctx;
    if (rc != 0)
        log_change_error(w->op, w->id, rc, message);
    if (w->req != NULL) {
        h2o_req_t *req = w->req;
        if (rc != 0) {
            send_change_error(w->api, req, w->op, w->id, rc);
        } else if (w->op == API_MEMBER_ADD && m != NULL) {
            api_buf_t b;
            api_buf_init(&b, &req->pool);
            json_member(&b, m);
            api_buf_append_str(&b, "\n");
            api_send(w->api, req, 201, "application/json", b.data, b.len);
        } else if (w->op == API_MEMBER_ADD) {
            send_message_str(w->api, req, 500, "Internal Server Error");
        } else {
            api_send(w->api, req, 204, NULL, "", 0);
        }
    }
    wait_free(w);
}

static void change(api_t *api, h2o_req_t *req, const api_member_change_t *ch)
{
    member_wait_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    w->api = api;
    w->req = req;
    w->op = ch->op;
    w->id = ch->id;
    w->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*w->slot), on_member_slot_dispose);
    w->slot->wait = w;
    int rc = api->host.member_change(api->host.ctx, ch, on_member_changed, w);
    if (rc != 0) {
        log_change_error(ch->op, ch->id, rc, NULL);
        if (w->req != NULL)
            send_change_error(api, req, ch->op, ch->id, rc);
        wait_free(w);
    }
}

static int cmp_member_id(const void *a, const void *b)
{
    uint64_t x = (*(const api_member_t *const *)a)->id, y = (*(const api_member_t *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* etcd's RaftCluster.Members(): sorted by id (numerically). */
static void send_list(api_t *api, h2o_req_t *req, const api_server_info_t *info)
{
    const api_member_t **sorted =
        h2o_mem_alloc_pool(&req->pool, (info->n_members + 1) * sizeof(*sorted));
    for (size_t i = 0; i < info->n_members; i++)
        sorted[i] = &info->members[i];
    qsort(sorted, info->n_members, sizeof(*sorted), cmp_member_id);
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_buf_append_str(&b, "{\"members\":[");
    for (size_t i = 0; i < info->n_members; i++) {
        if (i)
            api_buf_append(&b, ",", 1);
        json_member(&b, sorted[i]);
    }
    api_buf_append_str(&b, "]}\n");
    api_send(api, req, 200, "application/json", b.data, b.len);
}

static const api_member_t *find_member(const api_server_info_t *info, uint64_t id)
{
    for (size_t i = 0; i < info->n_members; i++)
        if (info->members[i].id == id)
            return &info->members[i];
    return NULL;
}

/* Go's http.Error(w, "Method Not Allowed", 405): etcd's getID on a path without an id. */
static void send_no_id(api_t *api, h2o_req_t *req)
{
    api_send_method_not_allowed(api, req, NULL);
}

typedef struct members_call {
    api_method_t m;
    const char *sub;
    size_t len;
} members_call_t;

static void serve(api_t *api, h2o_req_t *req, void *arg)
{
    members_call_t *c = arg;
    api_method_t m = c->m;
    const char *sub = c->sub;
    size_t len = c->len;
    api_add_cluster_id(api, req);
    api_server_info_t info;
    memset(&info, 0, sizeof(info));
    api->host.server_info(api->host.ctx, &info);
    bool can_change = api->host.member_change != NULL;
    api_member_change_t ch = {.op = API_MEMBER_ADD};
    const char **urls = NULL;
    size_t n_urls = 0;
    switch (m) {
    case API_M_POST:
        /* etcd's POST ignores the path: POST /v2/members/<anything> adds too. */
        if (read_peer_urls(api, req, &urls, &n_urls) != 0)
            return;
        if (!can_change) {
            send_message_str(api, req, 500, "membership changes are not supported");
            return;
        }
        ch.peer_urls = urls;
        ch.n_peer_urls = n_urls;
        change(api, req, &ch);
        return;
    case API_M_DELETE:
    case API_M_PUT:
        if (len == 0) {
            send_no_id(api, req);
            return;
        }
        if (parse_hex_id(sub, len, &ch.id) != 0) {
            send_no_such_member(api, req, sub, len);
            return;
        }
        if (m == API_M_PUT && read_peer_urls(api, req, &urls, &n_urls) != 0)
            return;
        if (!can_change) {
            if (find_member(&info, ch.id) != NULL) {
                send_message_str(api, req, 500, "membership changes are not supported");
            } else {
                char hex[20];
                send_no_such_member(api, req, hex, api_format_hex_id(hex, ch.id));
            }
            return;
        }
        ch.op = m == API_M_PUT ? API_MEMBER_UPDATE : API_MEMBER_REMOVE;
        ch.peer_urls = urls;
        ch.n_peer_urls = n_urls;
        change(api, req, &ch);
        return;
    default:
        break;
    }
    if (len == 0) {
        send_list(api, req, &info);
        return;
    }
    if (len == 6 && memcmp(sub, "leader", 6) == 0) {
        const api_member_t *leader = info.leader_id ? find_member(&info, info.leader_id) : NULL;
        if (leader == NULL) {
            send_message_str(api, req, 503, "During election"); /* etcd 3.4.23's text */
            return;
        }
        api_buf_t b;
        api_buf_init(&b, &req->pool);
        json_member(&b, leader);
        api_buf_append_str(&b, "\n");
        api_send(api, req, 200, "application/json", b.data, b.len);
        return;
    }
    send_message_str(api, req, 404, "Not found");
}

void api_handle_members(api_t *api, h2o_req_t *req, api_method_t m, const char *sub, size_t len)
{
    if (m != API_M_GET && m != API_M_POST && m != API_M_DELETE && m != API_M_PUT) {
        api_send_method_not_allowed(api, req, "GET,POST,DELETE,PUT");
        return;
    }
    members_call_t *c = h2o_mem_alloc_pool(&req->pool, sizeof(*c));
    *c = (members_call_t){.m = m, .sub = sub, .len = len};
    /* etcd's hasWriteRootAccess: reads are open to all; changes need the root role. */
    if (m == API_M_GET) {
        serve(api, req, c);
        return;
    }
    api_auth_require_root(api, req, serve, c);
}
