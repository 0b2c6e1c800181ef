/* raft/encoding.c - versioned binary encoding of messages, entries, hard
 * state, snapshot metadata and configuration changes, for the wire and the
 * disk. All integers are little-endian and fixed width; every object starts
 * with RAFT_ENCODING_VERSION. Decoders check every length against the bytes
 * that remain before allocating anything. */
#include "raft/raft_int.h"

/* ---- writer ---- */

static int reserve(struct raft_buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return RAFT_ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

static int put_bytes(struct raft_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (reserve(b, n))
        return RAFT_ENOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static int put_u8(struct raft_buf *b, uint8_t v)
{
    return put_bytes(b, &v, 1);
}

static int put_u32(struct raft_buf *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    return put_bytes(b, x, 4);
}

static int put_u64(struct raft_buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    return put_bytes(b, x, 8);
}

static int put_blob(struct raft_buf *b, const void *p, size_t n)
{
    if (n > UINT32_MAX)
        return RAFT_EINVAL;
    int rc = put_u32(b, (uint32_t)n);
    return rc ? rc : put_bytes(b, p, n);
}

static int put_ids(struct raft_buf *b, const uint64_t *ids, size_t n)
{
    int rc = put_u32(b, (uint32_t)n);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = put_u64(b, ids[i]);
    return rc;
}

/* ---- reader ---- */

struct reader {
    const uint8_t *p;
    size_t len, pos;
    int err;
};

static bool need(struct reader *r, size_t n)
{
    if (r->err)
        return false;
    if (r->len - r->pos < n) {
        r->err = RAFT_EDECODE;
        return false;
    }
    return true;
}

static uint8_t get_u8(struct reader *r)
{
    if (!need(r, 1))
        return 0;
    return r->p[r->pos++];
}

static uint32_t get_u32(struct reader *r)
{
    if (!need(r, 4))
        return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)r->p[r->pos + i] << (8 * i);
    r->pos += 4;
    return v;
}

static uint64_t get_u64(struct reader *r)
{
    if (!need(r, 8))
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->p[r->pos + i] << (8 * i);
    r->pos += 8;
    return v;
}

/* A length-prefixed blob, copied into *out (NULL when empty). */
static void get_blob(struct reader *r, void **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    uint32_t len = get_u32(r);
    if (!need(r, len))
        return;
    if (len) {
        *out = malloc(len);
        if (!*out) {
            r->err = RAFT_ENOMEM;
            return;
        }
        memcpy(*out, r->p + r->pos, len);
        *n = len;
    }
    r->pos += len;
}

static void get_ids(struct reader *r, uint64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    uint32_t cnt = get_u32(r);
    if (!need(r, (size_t)cnt * 8))
        return;
    if (cnt == 0)
        return;
    *ids = malloc((size_t)cnt * sizeof(uint64_t));
    if (!*ids) {
        r->err = RAFT_ENOMEM;
        return;
    }
    for (uint32_t i = 0; i < cnt; i++)
        (*ids)[i] = get_u64(r);
    *n = cnt;
}

static void get_version(struct reader *r)
{
    uint8_t v = get_u8(r);
    if (!r->err && v != RAFT_ENCODING_VERSION)
        r->err = RAFT_EVERSION;
}

/* ---- entries ---- */

#define ENTRY_MIN_SIZE (1 + 1 + 8 + 8 + 4)

int raft_encode_entry(struct raft_buf *b, const struct raft_entry *e)
{
    int rc = put_u8(b, RAFT_ENCODING_VERSION);
    if (!rc)
        rc = put_u8(b, e->type);
    if (!rc)
        rc = put_u64(b, e->term);
    if (!rc)
        rc = put_u64(b, e->index);
    if (!rc)
        rc = put_blob(b, e->data, e->len);
    return rc;
}

static void get_entry(struct reader *r, struct raft_entry *e)
{
    memset(e, 0, sizeof(*e));
    get_version(r);
    e->type = get_u8(r);
    if (!r->err && e->type > RAFT_ENTRY_CONF_CHANGE)
        r->err = RAFT_EDECODE;
    e->term = get_u64(r);
    e->index = get_u64(r);
    get_blob(r, &e->data, &e->len);
}

int raft_decode_entry(const void *buf, size_t len, struct raft_entry *e, size_t *used)
{
    struct reader r = {buf, len, 0, 0};
    get_entry(&r, e);
    if (r.err) {
        free(e->data);
        memset(e, 0, sizeof(*e));
        return r.err;
    }
    if (used)
        *used = r.pos;
    return 0;
}

/* ---- hard state ---- */

int raft_encode_hard_state(struct raft_buf *b, const struct raft_hard_state *hs)
{
    int rc = put_u8(b, RAFT_ENCODING_VERSION);
    if (!rc)
        rc = put_u64(b, hs->term);
    if (!rc)
        rc = put_u64(b, hs->vote);
    if (!rc)
        rc = put_u64(b, hs->commit);
    return rc;
}

int raft_decode_hard_state(const void *buf, size_t len, struct raft_hard_state *hs)
{
    struct reader r = {buf, len, 0, 0};
    get_version(&r);
    hs->term = get_u64(&r);
    hs->vote = get_u64(&r);
    hs->commit = get_u64(&r);
    if (!r.err && r.pos != len)
        r.err = RAFT_EDECODE;
    if (r.err)
        memset(hs, 0, sizeof(*hs));
    return r.err;
}

/* ---- snapshot metadata ---- */

int raft_encode_snapshot_meta(struct raft_buf *b, const struct raft_snapshot_meta *m)
{
    int rc = put_u8(b, RAFT_ENCODING_VERSION);
    if (!rc)
        rc = put_u64(b, m->index);
    if (!rc)
        rc = put_u64(b, m->term);
    if (!rc)
        rc = put_u8(b, m->conf.auto_leave);
    if (!rc)
        rc = put_ids(b, m->conf.voters, m->conf.n_voters);
    if (!rc)
        rc = put_ids(b, m->conf.voters_outgoing, m->conf.n_voters_outgoing);
    if (!rc)
        rc = put_ids(b, m->conf.learners, m->conf.n_learners);
    return rc;
}

static void get_snapshot_meta(struct reader *r, struct raft_snapshot_meta *m)
{
    memset(m, 0, sizeof(*m));
    get_version(r);
    m->index = get_u64(r);
    m->term = get_u64(r);
    uint8_t al = get_u8(r);
    if (!r->err && al > 1)
        r->err = RAFT_EDECODE;
    m->conf.auto_leave = al;
    get_ids(r, &m->conf.voters, &m->conf.n_voters);
    get_ids(r, &m->conf.voters_outgoing, &m->conf.n_voters_outgoing);
    get_ids(r, &m->conf.learners, &m->conf.n_learners);
}

int raft_decode_snapshot_meta(const void *buf, size_t len, struct raft_snapshot_meta *m,
                              size_t *used)
{
    struct reader r = {buf, len, 0, 0};
    get_snapshot_meta(&r, m);
    if (r.err) {
        raft_conf_state_free(&m->conf);
        memset(m, 0, sizeof(*m));
        return r.err;
    }
    if (used)
        *used = r.pos;
    return 0;
}

/* ---- messages ---- */

int raft_encode_message(struct raft_buf *b, const struct raft_message *m)
{
    int rc = put_u8(b, RAFT_ENCODING_VERSION);
    uint64_t fields[7] = {m->to,    m->from,   m->term,       m->log_term,
                          m->index, m->commit, m->reject_hint};
    if (!rc)
        rc = put_u8(b, m->type);
    if (!rc)
        rc = put_u8(b, m->reject ? 1 : 0);
    for (int i = 0; i < 7 && !rc; i++)
        rc = put_u64(b, fields[i]);
    if (!rc && m->n_entries > UINT32_MAX)
        rc = RAFT_EINVAL;
    if (!rc)
        rc = put_u32(b, (uint32_t)m->n_entries);
    for (size_t i = 0; i < m->n_entries && !rc; i++)
        rc = raft_encode_entry(b, &m->entries[i]);
    bool snap = m->type == RAFT_MSG_SNAP;
    if (!rc)
        rc = put_u8(b, snap);
    if (!rc && snap)
        rc = raft_encode_snapshot_meta(b, &m->snapshot.meta);
    if (!rc && snap)
        rc = put_blob(b, m->snapshot.data, m->snapshot.len);
    if (!rc)
        rc = put_blob(b, m->context, m->context_len);
    return rc;
}

int raft_decode_message(const void *buf, size_t len, struct raft_message *m)
{
    struct reader r = {buf, len, 0, 0};
    memset(m, 0, sizeof(*m));
    get_version(&r);
    m->type = get_u8(&r);
    if (!r.err && m->type >= RAFT_MSG_TYPE_COUNT)
        r.err = RAFT_EDECODE;
    uint8_t flags = get_u8(&r);
    if (!r.err && flags > 1)
        r.err = RAFT_EDECODE;
    m->reject = flags & 1;
    m->to = get_u64(&r);
    m->from = get_u64(&r);
    m->term = get_u64(&r);
    m->log_term = get_u64(&r);
    m->index = get_u64(&r);
    m->commit = get_u64(&r);
    m->reject_hint = get_u64(&r);
    uint32_t n = get_u32(&r);
    if (!r.err && (size_t)n > (r.len - r.pos) / ENTRY_MIN_SIZE)
        r.err = RAFT_EDECODE;
    if (!r.err && n) {
        m->entries = calloc(n, sizeof(*m->entries));
        if (!m->entries)
            r.err = RAFT_ENOMEM;
        for (uint32_t i = 0; i < n && !r.err; i++) {
            get_entry(&r, &m->entries[i]);
            m->n_entries = i + 1; /* freed on error too */
        }
    }
    uint8_t snap = get_u8(&r);
    if (!r.err && (snap > 1 || (snap == 1) != (m->type == RAFT_MSG_SNAP)))
        r.err = RAFT_EDECODE;
    if (!r.err && snap) {
        get_snapshot_meta(&r, &m->snapshot.meta);
        get_blob(&r, &m->snapshot.data, &m->snapshot.len);
    }
    get_blob(&r, &m->context, &m->context_len);
    if (!r.err && r.pos != len)
        r.err = RAFT_EDECODE; /* trailing bytes */
    if (r.err) {
        raft_message_free(m);
        return r.err;
    }
    return 0;
}

/* ---- configuration changes ---- */

int raft_encode_conf_change(struct raft_buf *b, const struct raft_conf_change *cc)
{
    int rc = put_u8(b, RAFT_ENCODING_VERSION);
    if (!rc)
        rc = put_u8(b, cc->joint ? 1 : 0);
    if (!rc)
        rc = put_u32(b, (uint32_t)cc->n_changes);
    for (size_t i = 0; i < cc->n_changes && !rc; i++) {
        rc = put_u8(b, cc->changes[i].type);
        if (!rc)
            rc = put_u64(b, cc->changes[i].node_id);
    }
    if (!rc)
        rc = put_blob(b, cc->context, cc->context_len);
    return rc;
}

int raft_decode_conf_change(const void *buf, size_t len, struct raft_conf_change *cc)
{
    struct reader r = {buf, len, 0, 0};
    memset(cc, 0, sizeof(*cc));
    get_version(&r);
    uint8_t joint = get_u8(&r);
    if (!r.err && joint > 1)
        r.err = RAFT_EDECODE;
    cc->joint = joint;
    uint32_t n = get_u32(&r);
    if (!r.err && (size_t)n > (r.len - r.pos) / 9)
        r.err = RAFT_EDECODE;
    if (!r.err && n) {
        cc->changes = calloc(n, sizeof(*cc->changes));
        if (!cc->changes)
            r.err = RAFT_ENOMEM;
        else
            cc->n_changes = n;
        for (uint32_t i = 0; i < n && !r.err; i++) {
            cc->changes[i].type = get_u8(&r);
            if (!r.err && cc->changes[i].type > RAFT_CC_ADD_LEARNER)
                r.err = RAFT_EDECODE;
            cc->changes[i].node_id = get_u64(&r);
        }
    }
    get_blob(&r, &cc->context, &cc->context_len);
    if (!r.err && r.pos != len)
        r.err = RAFT_EDECODE;
    if (r.err) {
        raft_conf_change_free(cc);
        return r.err;
    }
    return 0;
}
