/* raft/storage_mem.c - the in-memory storage: a snapshot, the entries
 * after it, and the hard state. Everything stored is a private copy. */
#include "raft/raft_int.h"

struct raft_storage_mem {
    struct raft_storage iface;
    struct raft_hard_state hs;
    struct raft_snapshot snap; /* newest snapshot */
    uint64_t ci, ct;           /* compaction point: last dropped index and its term */
    struct raft_entry *ents;   /* ents[i].index == ci + 1 + i */
    size_t n, cap;
};

static int mem_initial_state(void *ctx, struct raft_hard_state *hs, struct raft_conf_state *cs)
{
    struct raft_storage_mem *m = ctx;
    *hs = m->hs;
    return raft_conf_state_copy(cs, &m->snap.meta.conf);
}

static uint64_t mem_first(const struct raft_storage_mem *m)
{
    return m->ci + 1;
}

static uint64_t mem_last(const struct raft_storage_mem *m)
{
    return m->ci + m->n;
}

static int mem_entries(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                       struct raft_entry **out, size_t *n_out)
{
    struct raft_storage_mem *m = ctx;
    *out = NULL;
    *n_out = 0;
    if (lo <= m->ci)
        return RAFT_ECOMPACTED;
    if (hi > mem_last(m) + 1 || lo > hi)
        return RAFT_EUNAVAILABLE;
    size_t start = lo - mem_first(m), count = 0;
    uint64_t size = 0;
    while (lo + count < hi) {
        size += raft_entry_size(&m->ents[start + count]);
        if (count > 0 && size > max_bytes)
            break;
        count++;
    }
    *n_out = count;
    return raft_entries_copy(out, &m->ents[start], count);
}

static int mem_term(void *ctx, uint64_t i, uint64_t *term)
{
    struct raft_storage_mem *m = ctx;
    *term = 0;
    if (i < m->ci)
        return RAFT_ECOMPACTED;
    if (i == m->ci) {
        *term = m->ct;
        return 0;
    }
    if (i > mem_last(m))
        return RAFT_EUNAVAILABLE;
    *term = m->ents[i - mem_first(m)].term;
    return 0;
}

static int mem_first_index(void *ctx, uint64_t *index)
{
    *index = mem_first(ctx);
    return 0;
}

static int mem_last_index(void *ctx, uint64_t *index)
{
    *index = mem_last(ctx);
    return 0;
}

static int mem_snapshot(void *ctx, struct raft_snapshot *out)
{
    struct raft_storage_mem *m = ctx;
    return raft_snapshot_copy(out, &m->snap);
}

struct raft_storage_mem *raft_storage_mem_new(void)
{
    struct raft_storage_mem *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->iface = (struct raft_storage){
        .ctx = m,
        .initial_state = mem_initial_state,
        .entries = mem_entries,
        .term = mem_term,
        .first_index = mem_first_index,
        .last_index = mem_last_index,
        .snapshot = mem_snapshot,
    };
    return m;
}

void raft_storage_mem_free(struct raft_storage_mem *m)
{
    if (!m)
        return;
    raft_entries_free(m->ents, m->n);
    raft_snapshot_free(&m->snap);
    free(m);
}

struct raft_storage *raft_storage_mem_iface(struct raft_storage_mem *m)
{
    return &m->iface;
}

int raft_storage_mem_set_hard_state(struct raft_storage_mem *m, const struct raft_hard_state *hs)
{
    m->hs = *hs;
    return 0;
}

void raft_storage_mem_hard_state(const struct raft_storage_mem *m, struct raft_hard_state *hs)
{
    *hs = m->hs;
}

int raft_storage_mem_set_conf_state(struct raft_storage_mem *m, const struct raft_conf_state *cs)
{
    struct raft_conf_state c;
    if (raft_conf_state_copy(&c, cs))
        return RAFT_ENOMEM;
    raft_conf_state_free(&m->snap.meta.conf);
    m->snap.meta.conf = c;
    return 0;
}

static void truncate_from(struct raft_storage_mem *m, size_t keep)
{
    for (size_t i = keep; i < m->n; i++)
        free(m->ents[i].data);
    m->n = keep;
}

int raft_storage_mem_append(struct raft_storage_mem *m, const struct raft_entry *ents, size_t n)
{
    if (n == 0)
        return 0;
    uint64_t first = mem_first(m);
    /* Skip what the snapshot already covers. */
    while (n > 0 && ents[0].index < first) {
        ents++;
        n--;
    }
    if (n == 0)
        return 0;
    if (ents[0].index > mem_last(m) + 1)
        return RAFT_EINVAL; /* a hole in the log */
    truncate_from(m, ents[0].index - first);
    if (m->n + n > m->cap) {
        size_t cap = m->cap ? m->cap : 16;
        while (cap < m->n + n)
            cap *= 2;
        struct raft_entry *a = realloc(m->ents, cap * sizeof(*a));
        if (!a)
            return RAFT_ENOMEM;
        m->ents = a;
        m->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        if (raft_entry_copy(&m->ents[m->n], &ents[i]))
            return RAFT_ENOMEM;
        m->n++;
    }
    return 0;
}

int raft_storage_mem_apply_snapshot(struct raft_storage_mem *m, const struct raft_snapshot *s)
{
    if (s->meta.index <= m->snap.meta.index)
        return RAFT_ESNAPOUTOFDATE;
    struct raft_snapshot c;
    if (raft_snapshot_copy(&c, s))
        return RAFT_ENOMEM;
    raft_snapshot_free(&m->snap);
    m->snap = c;
    truncate_from(m, 0);
    m->ci = s->meta.index;
    m->ct = s->meta.term;
    return 0;
}

int raft_storage_mem_create_snapshot(struct raft_storage_mem *m, uint64_t index,
                                     const struct raft_conf_state *cs, const void *data, size_t len)
{
    if (index <= m->snap.meta.index)
        return RAFT_ESNAPOUTOFDATE;
    struct raft_snapshot c = {0};
    int rc = mem_term(m, index, &c.meta.term);
    if (rc)
        return rc;
    c.meta.index = index;
    if (raft_conf_state_copy(&c.meta.conf, cs))
        return RAFT_ENOMEM;
    if (len) {
        c.data = raft_memdup(data, len);
        if (!c.data) {
            raft_snapshot_free(&c);
            return RAFT_ENOMEM;
        }
        c.len = len;
    }
    raft_snapshot_free(&m->snap);
    m->snap = c;
    return 0;
}

static int mem_drop(struct raft_storage_mem *m, uint64_t index)
{
    if (index <= m->ci)
        return RAFT_ECOMPACTED;
    if (index > mem_last(m))
        return RAFT_EUNAVAILABLE;
    size_t drop = index - m->ci;
    m->ct = m->ents[drop - 1].term;
    for (size_t i = 0; i < drop; i++)
        free(m->ents[i].data);
    memmove(m->ents, m->ents + drop, (m->n - drop) * sizeof(*m->ents));
    m->n -= drop;
    m->ci = index;
    /* Give back an array left mostly empty (after a start that read a long
     * log, or a slow snapshot): it never shrinks otherwise. */
    if (m->cap > 1024 && m->n < m->cap / 4) {
        struct raft_entry *a = realloc(m->ents, (m->cap / 2) * sizeof(*a));
        if (a) {
            m->ents = a;
            m->cap /= 2;
        }
    }
    return 0;
}

int raft_storage_mem_compact(struct raft_storage_mem *m, uint64_t index)
{
    /* Only what a snapshot covers may go: a restart replays the rest. */
    if (index > m->ci && index > m->snap.meta.index)
        return RAFT_EUNAVAILABLE;
    return mem_drop(m, index);
}

int raft_storage_mem_trim(struct raft_storage_mem *m, uint64_t index)
{
    return mem_drop(m, index);
}
