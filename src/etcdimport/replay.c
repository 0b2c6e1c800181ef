/*
 * Replaying etcd's committed WAL entries onto the store, as etcd 3.4 does
 * at start (etcdserver/server.go applyEntryNormal, applyConfChange;
 * etcdserver/apply_v2.go).
 *
 * A normal entry holds either an etcdserverpb.Request (the v2 API) or an
 * InternalRaftRequest (v3) whose field 2 may carry a v2 Request. v3-only
 * requests do not touch the v2 store and are skipped. Request fields:
 * 1 ID, 2 Method, 3 Path, 4 Val, 5 Dir, 6 PrevValue, 7 PrevIndex,
 * 8 PrevExist (unset = absent), 9 Expiration (Unix ns), 12 Recursive,
 * 15 Time (SYNC), 17 Refresh.
 *
 * etcd's changes to its cluster table (/0) use store indexes too: a member
 * added (one create), removed (a delete and a create under
 * /0/removed_members), updated (one update), its attributes published and
 * the cluster version set (one set each). They are kept as indexes only
 * (store_patch.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/etcdimport/etcdimport_int.h"

typedef struct etcd_request {
    const char *method, *path, *val, *prev_value;
    size_t method_len, path_len, val_len, prev_value_len;
    bool dir, recursive;
    int prev_exist, refresh; /* -1 unset */
    uint64_t prev_index;
    int64_t expiration, time_ns;
} etcd_request_t;

enum { C_SETS = 2, C_DELETES = 4, C_UPDATES = 6, C_CREATES = 8 };

static int decode_request(const uint8_t *p, size_t len, etcd_request_t *r)
{
    memset(r, 0, sizeof(*r));
    r->prev_exist = r->refresh = -1;
    eimp_pb_reader_t rd = {p, len};
    eimp_pb_field_t f;
    int rc;
    while ((rc = eimp_pb_next(&rd, &f)) == 1) {
        bool bytes = f.wire == EIMP_PB_BYTES, var = f.wire == EIMP_PB_VARINT;
        const char *s = (const char *)f.data;
        switch (f.num) {
        case 2:
            if (!bytes)
                return -1;
            r->method = s;
            r->method_len = f.len;
            break;
        case 3:
            if (!bytes)
                return -1;
            r->path = s;
            r->path_len = f.len;
            break;
        case 4:
            if (!bytes)
                return -1;
            r->val = s;
            r->val_len = f.len;
            break;
        case 6:
            if (!bytes)
                return -1;
            r->prev_value = s;
            r->prev_value_len = f.len;
            break;
        case 5:
            if (!var)
                return -1;
            r->dir = f.u != 0;
            break;
        case 7:
            if (!var)
                return -1;
            r->prev_index = f.u;
            break;
        case 8:
            if (!var)
                return -1;
            r->prev_exist = f.u != 0;
            break;
        case 9:
            if (!var)
                return -1;
            r->expiration = (int64_t)f.u;
            break;
        case 12:
            if (!var)
                return -1;
            r->recursive = f.u != 0;
            break;
        case 15:
            if (!var)
                return -1;
            r->time_ns = (int64_t)f.u;
            break;
        case 17:
            if (!var)
                return -1;
            r->refresh = f.u != 0;
            break;
        default:
            break;
        }
    }
    return rc;
}

static bool is(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static void add_hidden(eimp_replay_t *rp, uint8_t action, uint8_t counter)
{
    if (rp->n_pending == rp->cap_pending) {
        rp->cap_pending = rp->cap_pending ? 2 * rp->cap_pending : 8;
        rp->pending = realloc(rp->pending, rp->cap_pending * sizeof(*rp->pending));
        if (rp->pending == NULL)
            abort();
    }
    rp->pending[rp->n_pending++] = (eimp_hidden_change_t){action, counter};
}

int eimp_replay_flush(eimp_replay_t *rp, char *err, size_t err_len)
{
    if (rp->n_pending == 0)
        return 0;
    rp->store =
        eimp_store_patch(rp->store, rp->history_size, rp->pending, rp->n_pending, 0, err, err_len);
    rp->n_pending = 0;
    return rp->store ? 0 : -1;
}

/* A ConfChange {1: ID, 2: Type, 3: NodeID, 4: Context}. */
static int replay_conf_change(eimp_replay_t *rp, const eimp_entry_t *e)
{
    eimp_pb_reader_t rd = {e->data, e->len};
    eimp_pb_field_t f;
    uint64_t type = 0;
    int rc;
    while ((rc = eimp_pb_next(&rd, &f)) == 1)
        if (f.num == 2 && f.wire == EIMP_PB_VARINT)
            type = f.u;
    if (rc != 0)
        return -1;
    switch (type) {
    case 0: /* AddNode */
    case 3: /* AddLearnerNode */
        add_hidden(rp, STORE_ACTION_CREATE, C_CREATES);
        break;
    case 1: /* RemoveNode: the member's directory goes, a removed_members key comes */
        add_hidden(rp, STORE_ACTION_DELETE, C_DELETES);
        add_hidden(rp, STORE_ACTION_CREATE, C_CREATES);
        break;
    case 2: /* UpdateNode */
        add_hidden(rp, STORE_ACTION_UPDATE, C_UPDATES);
        break;
    default:
        break;
    }
    return 0;
}

/*
 * Whether an entry is an InternalRaftRequest, decided as etcd decides it
 * (pbutil.MaybeUnmarshal, then the plain Request as the fallback): its
 * field 1 (ID) is a varint and every other field a message (100: header,
 * 2: the v2 Request, the rest v3 requests); a v2 Request inside must decode.
 * A plain Request never passes: its field 2, the method, does not decode as
 * a Request ("PUT", "POST", "DELETE", "QGET", "SYNC" all start with bytes
 * that are not a valid tag there). *v2 is set when field 2 is present.
 */
static bool is_internal(const eimp_entry_t *e, const uint8_t **v2, size_t *v2_len)
{
    eimp_pb_reader_t rd = {e->data, e->len};
    eimp_pb_field_t f;
    int rc;
    *v2 = NULL;
    while ((rc = eimp_pb_next(&rd, &f)) == 1) {
        if (f.num == 1 ? f.wire != EIMP_PB_VARINT : f.wire != EIMP_PB_BYTES)
            return false;
        if (f.num == 2) {
            etcd_request_t r;
            if (decode_request(f.data, f.len, &r) != 0)
                return false;
            *v2 = f.data;
            *v2_len = f.len;
        }
    }
    return rc == 0;
}

static int apply(eimp_replay_t *rp, const store_request_t *req)
{
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    if (store_request_encode(req, &enc, &enc_len) != 0)
        abort();
    store_error_t serr = {0};
    /* A request etcd refused is refused here too, and uses no index. */
    store_apply(rp->store, enc, enc_len, NULL, &serr);
    store_error_clear(&serr);
    free(enc);
    return 0;
}

static int replay_request(eimp_replay_t *rp, const etcd_request_t *r, char *err, size_t err_len)
{
    rp->v2_requests++;
    store_request_t q = {0};
    if (is(r->method, r->method_len, "SYNC")) {
        if (eimp_replay_flush(rp, err, err_len) != 0)
            return -1;
        q.op = STORE_OP_SYNC;
        q.time_ns = r->time_ns;
        if (r->time_ns > rp->last_sync_ns)
            rp->last_sync_ns = r->time_ns;
        return apply(rp, &q);
    }
    bool put = is(r->method, r->method_len, "PUT"), post = is(r->method, r->method_len, "POST");
    bool del = is(r->method, r->method_len, "DELETE");
    if (!put && !post && !del)
        return 0; /* QGET and the like change nothing */
    size_t klen = 0;
    const char *key = eimp_map_path(r->path ? r->path : "", r->path_len, &klen, &rp->scratch);
    if (key == NULL) {
        /* The cluster table: a member's attributes, the cluster version. */
        add_hidden(rp,
                   put   ? STORE_ACTION_SET
                   : del ? STORE_ACTION_DELETE
                         : STORE_ACTION_CREATE,
                   put   ? C_SETS
                   : del ? C_DELETES
                         : C_CREATES);
        return 0;
    }
    if (eimp_replay_flush(rp, err, err_len) != 0)
        return -1;
    q.key = key;
    q.key_len = klen;
    q.value = r->val ? r->val : "";
    q.value_len = r->val_len;
    q.prev_value = r->prev_value;
    q.prev_value_len = r->prev_value_len;
    q.has_prev_value = r->prev_value_len > 0; /* etcd: "" means no condition */
    q.prev_index = r->prev_index;
    q.dir = r->dir;
    q.recursive = r->recursive;
    q.refresh = r->refresh == 1;
    bool cond = r->prev_index > 0 || r->prev_value_len > 0;
    if (post)
        q.op = STORE_OP_CREATE_UNIQUE;
    else if (del)
        q.op = cond ? STORE_OP_CAD : STORE_OP_DELETE;
    else if (r->prev_exist == 1)
        q.op = cond ? STORE_OP_CAS : STORE_OP_UPDATE;
    else if (r->prev_exist == 0)
        q.op = STORE_OP_CREATE;
    else
        q.op = cond ? STORE_OP_CAS : STORE_OP_SET;
    /* A deadline before 1970 (no client sends one) is due at once. */
    int64_t exp = r->expiration;
    if (exp != 0 && exp < 1000000000)
        exp = 1000000000;
    if (exp != 0) {
        /*
         * etcd proposes the deadline itself (now + ttl); the store takes a
         * time and a TTL. The deadline must come out exact, so the TTL is
         * the one a client would have seen at the time of the leader's
         * next SYNC (at most 500 ms later: close enough to round up to the
         * TTL the client asked for), else of its last one, else now; the
         * time follows from it.
         * The TTL only shows in this event's history copy.
         */
        int64_t t = rp->next_sync_ns;
        if (t <= 0 || t >= exp)
            t = rp->last_sync_ns;
        if (t <= 0 || t >= exp)
            t = rp->now_ns;
        int64_t ttl = 1, d = exp - (t > 0 ? t : 0);
        if (t > 0 && t < exp)
            ttl = d / 1000000000 + (d % 1000000000 != 0);
        q.has_ttl = true;
        q.ttl_sec = (uint64_t)ttl;
        q.time_ns = exp - ttl * 1000000000;
    } else {
        q.time_ns = rp->last_sync_ns;
    }
    return apply(rp, &q);
}

/* The v2 request an entry carries: 1 with *r, 0 for none (a conf change, an
 * empty or v3-only entry), -1 when it does not decode. */
static int entry_request(const eimp_entry_t *e, etcd_request_t *r, bool *v3)
{
    *v3 = false;
    if (e->type != 0 || e->len == 0)
        return 0;
    const uint8_t *p = e->data, *v2;
    size_t len = e->len, v2_len = 0;
    if (is_internal(e, &v2, &v2_len)) {
        if (v2 == NULL) {
            *v3 = true;
            return 0;
        }
        p = v2;
        len = v2_len;
    }
    return decode_request(p, len, r) == 0 && r->method != NULL ? 1 : -1;
}

int64_t eimp_entry_sync_time(const eimp_entry_t *e)
{
    etcd_request_t r;
    bool v3;
    return entry_request(e, &r, &v3) == 1 && is(r.method, r.method_len, "SYNC") ? r.time_ns : 0;
}

int eimp_replay_entry(eimp_replay_t *rp, const eimp_entry_t *e, char *err, size_t err_len)
{
    if (e->type == 1) {
        if (replay_conf_change(rp, e) == 0)
            return 0;
        snprintf(err, err_len, "entry %llu: the configuration change does not decode",
                 (unsigned long long)e->index);
        return -1;
    }
    etcd_request_t r;
    bool v3;
    int rc = entry_request(e, &r, &v3);
    if (rc < 0) {
        snprintf(err, err_len, "entry %llu: the request does not decode",
                 (unsigned long long)e->index);
        return -1;
    }
    if (rc == 0) {
        rp->skipped_v3 += v3;
        return 0; /* a new leader's empty entry, or v3 only */
    }
    return replay_request(rp, &r, err, err_len);
}
