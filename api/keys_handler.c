/*
 * /v2/keys: reads from the store, writes through the host's propose(),
 * answered as etcd 3.4.23's v2http keysHandler answers.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/auth_int.h"

int64_t api_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * A write in flight. The request may go away (client closed) before the
 * backend answers: the request pool holds a slot pointing at the ticket, and
 * the slot's dispose hook detaches the ticket, so done() never touches a
 * freed request. Tickets are recycled through api->free_tickets.
 */
typedef struct ticket_slot {
    api_ticket_t *ticket;
} ticket_slot_t;

struct api_ticket {
    api_t *api;
    h2o_req_t *req; /* NULL once the request is gone */
    ticket_slot_t *slot;
    int64_t start_ns; /* for the apply-latency histogram */
    bool no_value_on_success;
    api_keys_req_t read; /* a quorum read waiting for its barrier (strings in req's pool) */
    api_ticket_t *next_free;
};

static void on_slot_dispose(void *p)
{
    ticket_slot_t *slot = p;
    if (slot->ticket != NULL) {
        slot->ticket->req = NULL;
        slot->ticket->slot = NULL;
    }
}

static api_ticket_t *ticket_new(api_t *api, h2o_req_t *req)
{
    api_ticket_t *t = api->free_tickets;
    if (t != NULL) {
        api->free_tickets = t->next_free;
    } else {
        t = malloc(sizeof(*t));
        if (t == NULL)
            abort();
    }
    memset(t, 0, sizeof(*t));
    t->api = api;
    t->req = req;
    t->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*t->slot), on_slot_dispose);
    t->slot->ticket = t;
    t->start_ns = api_now_ns();
    return t;
}

static void ticket_release(api_ticket_t *t)
{
    if (t->slot != NULL)
        t->slot->ticket = NULL;
    t->next_free = t->api->free_tickets;
    t->api->free_tickets = t;
}

void api_tickets_dispose(api_t *api)
{
    while (api->free_tickets != NULL) {
        api_ticket_t *t = api->free_tickets;
        api->free_tickets = t->next_free;
        free(t);
    }
}

static void add_raft_headers(api_t *api, h2o_req_t *req)
{
    uint64_t cluster_id, raft_index, raft_term;
    api_header_info(api, &cluster_id, &raft_index, &raft_term);
    api_add_header_u64(req, "x-raft-index", "X-Raft-Index", raft_index);
    api_add_header_u64(req, "x-raft-term", "X-Raft-Term", raft_term);
}

/* etcd's writeKeyEvent. Event.IsCreated: create, or a set with no prevNode. */
static int event_status(const store_event_t *ev)
{
    bool created =
        ev->action == STORE_ACTION_CREATE || (ev->action == STORE_ACTION_SET && !ev->has_prev_node);
    return created ? 201 : 200;
}

/* The headers of an event's answer: they read the host's state (inside its lock). */
static void add_event_headers(api_t *api, h2o_req_t *req, const store_event_t *ev)
{
    api_add_header_u64(req, "x-etcd-index", "X-Etcd-Index", ev->etcd_index);
    add_raft_headers(api, req);
}

/* The body, and the answer sent: reads only ev. */
static void send_event_body(api_t *api, h2o_req_t *req, const store_event_t *ev, bool no_value)
{
    bool shrink =
        no_value && (ev->action == STORE_ACTION_SET || ev->action == STORE_ACTION_CAS ||
                     ev->action == STORE_ACTION_CREATE || ev->action == STORE_ACTION_UPDATE);
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_buf_reserve(&b, shrink ? 64 : api_json_event_size_hint(ev));
    api_json_event(&b, ev, shrink);
    api_buf_append(&b, "\n", 1);
    api_send(api, req, event_status(ev), "application/json", b.data, b.len);
}

static void send_event(api_t *api, h2o_req_t *req, const store_event_t *ev, bool no_value)
{
    add_event_headers(api, req, ev);
    send_event_body(api, req, ev, no_value);
}

static void on_proposed(void *ctx, int rc, store_event_t *ev, store_error_t *err)
{
    api_ticket_t *t = ctx;
    api_t *api = t->api;
    api_metrics_observe_apply(api, (double)(api_now_ns() - t->start_ns) / 1e9);
    if (t->req != NULL) {
        h2o_req_t *req = t->req;
        if (rc == 0 && ev != NULL)
            send_event(api, req, ev, t->no_value_on_success);
        else if (rc == 0)
            api_send_v2_error(api, req, STORE_E_RAFT_INTERNAL, "no event", 0);
        else
            api_send_store_error(api, req, err);
    }
    if (ev != NULL)
        store_event_release(ev);
    if (rc != 0 && err != NULL)
        store_error_clear(err);
    ticket_release(t);
}

/* etcd's v2 apply dispatch (etcdserver/v2_server.go), see V2-COMPAT.md "Model". */
static void build_write(const api_keys_req_t *kr, store_request_t *sr)
{
    memset(sr, 0, sizeof(*sr));
    sr->time_ns = api_now_ns();
    sr->key = kr->key;
    sr->key_len = kr->key_len;
    sr->value = kr->value;
    sr->value_len = kr->value_len;
    if (kr->prev_value != NULL) {
        sr->prev_value = kr->prev_value;
        sr->prev_value_len = kr->prev_value_len;
        sr->has_prev_value = true;
    }
    sr->prev_index = kr->prev_index;
    sr->ttl_sec = kr->ttl;
    sr->has_ttl = kr->has_ttl;
    sr->dir = kr->dir;
    sr->recursive = kr->recursive;
    sr->refresh = kr->refresh == 1;
    bool cond = kr->prev_index > 0 || kr->prev_value != NULL;
    switch (kr->method) {
    case API_M_POST:
        sr->op = STORE_OP_CREATE_UNIQUE;
        break;
    case API_M_DELETE:
        sr->op = cond ? STORE_OP_CAD : STORE_OP_DELETE;
        if (kr->recursive)
            sr->dir = true; /* etcd's store: recursive implies dir */
        break;
    default:
        if (kr->prev_exist == 1)
            sr->op = cond ? STORE_OP_CAS : STORE_OP_UPDATE;
        else if (kr->prev_exist == 0)
            sr->op = STORE_OP_CREATE; /* a prevValue is ignored */
        else
            sr->op = cond ? STORE_OP_CAS : STORE_OP_SET;
    }
}

static void do_write(api_t *api, h2o_req_t *req, const api_keys_req_t *kr)
{
    /*
     * Root is read only: PUT and a plain DELETE fail with 107 whatever the
     * flags, so they need no proposal. POST may create under the root, and a
     * compareAndDelete of the root is the store's 102 (etcd checks it later).
     */
    bool cond = kr->prev_index > 0 || kr->prev_value != NULL;
    if (kr->key_len == 1 && (kr->method == API_M_PUT || (kr->method == API_M_DELETE && !cond))) {
        api_send_v2_error(api, req, STORE_E_ROOT_RONLY, "/", store_index(api->host.store));
        return;
    }
    store_request_t sr;
    build_write(kr, &sr);
    api_ticket_t *t = ticket_new(api, req);
    t->no_value_on_success = kr->no_value_on_success;
    store_error_t err = {0};
    api_read_while_waiting(req);
    int rc = api->host.propose(api->host.ctx, &sr, on_proposed, t, &err);
    if (rc != 0) {
        if (t->req != NULL)
            api_send_store_error(api, req, &err);
        store_error_clear(&err);
        ticket_release(t);
    }
}

static void read_now(api_t *api, h2o_req_t *req, const api_keys_req_t *kr)
{
    store_t *store = api->host.store;
    api_watch_frame_t *kept = api_list_cache_find(api, kr);
    if (kept != NULL) {
        /* The same answer as the listing it was made for: nothing changed since. */
        store_count_successful_get(store);
        api_add_header_u64(req, "x-etcd-index", "X-Etcd-Index", store_index(store));
        add_raft_headers(api, req);
        api_leave(api);
        api_send_frame(api, req, 200, kept);
        api_enter(api);
        return;
    }
    store_event_t *ev = NULL;
    store_error_t err = {0};
    int rc =
        store_get(store, kr->key, kr->key_len, kr->recursive, kr->sorted, api_now_ns(), &ev, &err);
    if (rc != 0) {
        api_send_store_error(api, req, &err);
        store_error_clear(&err);
        return;
    }
    add_event_headers(api, req, ev);
    uint64_t replaced = store_replaced(store);
    /*
     * ev is this GET's own copy of the nodes (store_event_new_get), taken
     * at one index: encoding and sending it need no lock, so with several
     * loops the others go on meanwhile (most of a listing's time).
     */
    api_leave(api);
    api_watch_frame_t *f = NULL;
    if (api_list_cache_wants(ev)) {
        f = api_watch_frame_new(ev);
        api_send_frame(api, req, event_status(ev), f);
    } else {
        send_event_body(api, req, ev, false);
    }
    api_enter(api);
    if (f != NULL) {
        api_list_cache_put(api, kr, ev->etcd_index, replaced, f);
        api_watch_frame_release(f);
    }
    store_event_release(ev);
}

static void on_read_barrier(void *ctx, int rc, store_error_t *err)
{
    api_ticket_t *t = ctx;
    if (t->req != NULL) {
        if (rc == 0)
            read_now(t->api, t->req, &t->read);
        else
            api_send_store_error(t->api, t->req, err);
    }
    if (rc != 0 && err != NULL)
        store_error_clear(err);
    ticket_release(t);
}

/*
 * GET without wait. quorum=true goes through the host's read barrier
 * (ReadIndex) when it has one; without one (a single member) it is served
 * like a plain GET, from the local store.
 */
static void do_read(api_t *api, h2o_req_t *req, const api_keys_req_t *kr)
{
    if (!kr->quorum || api->host.read_barrier == NULL) {
        read_now(api, req, kr);
        return;
    }
    api_ticket_t *t = ticket_new(api, req);
    t->read = *kr;
    store_error_t err = {0};
    if (api->host.read_barrier(api->host.ctx, on_read_barrier, t, &err) != 0) {
        api_send_store_error(api, req, &err);
        store_error_clear(&err);
        ticket_release(t);
    }
}

typedef struct keys_gate {
    api_keys_req_t kr;
    const char *path; /* the URL path after /v2/keys, as etcd checks it */
    size_t path_len;
} keys_gate_t;

static void on_identified(api_t *api, h2o_req_t *req, const api_auth_ident_t *id, void *arg)
{
    keys_gate_t *g = arg;
    api_keys_req_t *kr = &g->kr;
    bool write = kr->method != API_M_GET && kr->method != API_M_HEAD;
    if (!api_auth_key_access(api, req, id, g->path, g->path_len, kr->recursive, write)) {
        /* etcd's writeKeyNoAuth: error 110 with index 0. */
        api_send_v2_error(api, req, STORE_E_UNAUTHORIZED, "Insufficient credentials", 0);
        return;
    }
    /* The auth records' place in the store: no key reaches it (see auth_int.h). */
    if (api_auth_key_is_reserved(kr->key, kr->key_len)) {
        api_send_v2_error(api, req, STORE_E_KEY_IS_PRESERVED, NULL, store_index(api->host.store));
        return;
    }
    switch (kr->method) {
    case API_M_GET:
    case API_M_HEAD:
        /* etcd turns a quorum GET into a QGET before it looks at wait: no watch. */
        if (kr->wait && !kr->quorum) {
            api_watch_start(api, req, kr);
            return;
        }
        do_read(api, req, kr);
        return;
    default:
        do_write(api, req, kr);
    }
}

void api_handle_keys(api_t *api, h2o_req_t *req, api_method_t m, const char *key_part,
                     size_t key_part_len)
{
    if (m != API_M_GET && m != API_M_HEAD && m != API_M_PUT && m != API_M_POST &&
        m != API_M_DELETE) {
        api_send_method_not_allowed(api, req, "HEAD,GET,PUT,POST,DELETE");
        return;
    }
    api_add_cluster_id(api, req);
    const char *query = NULL;
    size_t query_len = 0;
    if (req->query_at != SIZE_MAX) {
        query = req->path.base + req->query_at + 1;
        query_len = req->path.len - req->query_at - 1;
    }
    const char *ct = NULL;
    size_t ct_len = 0;
    ssize_t hi = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (hi != -1) {
        ct = req->headers.entries[hi].value.base;
        ct_len = req->headers.entries[hi].value.len;
    }
    /*
     * Go's ParseForm reads a PUT or POST form body up to its limit (10 MiB,
     * max_request_bytes here) and fails past it: etcd answers 400, error
     * 210, cause "http: POST too large". Other bodies are never read, so
     * their size does not matter (below h2o's own limit, see server.c).
     */
    if ((m == API_M_PUT || m == API_M_POST) && req->entity.base != NULL &&
        req->entity.len > api->cfg.max_request_bytes && api_media_type_is_form(ct, ct_len)) {
        api_send_v2_error(api, req, STORE_E_INVALID_FORM, "http: POST too large", 0);
        return;
    }
    api_keys_req_t kr;
    api_parse_error_t perr;
    if (api_keys_parse(&req->pool, m, key_part, key_part_len, query, query_len, ct, ct_len,
                       req->entity.base, req->entity.len, &kr, &perr) != 0) {
        /* Request errors carry index 0 (etcd's NewRequestError). */
        api_send_v2_error(api, req, perr.code, perr.cause, 0);
        return;
    }
    /* etcd checks access once the request parses, with the URL's path after /v2/keys. */
    keys_gate_t *g = h2o_mem_alloc_pool(&req->pool, sizeof(*g));
    g->kr = kr;
    g->path = key_part;
    g->path_len = key_part_len;
    api_auth_identify(api, req, on_identified, g);
}
