/* raft/log.c - the raft log: a stable prefix read from storage and an
 * unstable suffix (entries and possibly a snapshot) not yet persisted.
 * Paper 5.3 (log replication) and 7 (compaction). */
#include "raft/raft_int.h"

#include <assert.h>

int raft_log_init(struct raft_log *l, struct raft_storage *s)
{
    memset(l, 0, sizeof(*l));
    l->storage = s;
    uint64_t first, last;
    int rc = s->first_index(s->ctx, &first);
    if (rc == 0)
        rc = s->last_index(s->ctx, &last);
    if (rc)
        return rc;
    l->offset = last + 1;
    l->committed = first - 1;
    l->applied = first - 1;
    return 0;
}

static void free_unstable(struct raft_log *l, size_t from)
{
    for (size_t i = from; i < l->n_ents; i++)
        free(l->ents[i].data);
    l->n_ents = from;
}

void raft_log_close(struct raft_log *l)
{
    free_unstable(l, 0);
    free(l->ents);
    raft_snapshot_free(&l->usnap);
    memset(l, 0, sizeof(*l));
}

uint64_t raft_log_first_index(struct raft_log *l)
{
    if (l->has_usnap)
        return l->usnap.meta.index + 1;
    uint64_t i = 0;
    l->storage->first_index(l->storage->ctx, &i);
    return i;
}

uint64_t raft_log_last_index(struct raft_log *l)
{
    if (l->n_ents)
        return l->offset + l->n_ents - 1;
    if (l->has_usnap)
        return l->usnap.meta.index;
    uint64_t i = 0;
    l->storage->last_index(l->storage->ctx, &i);
    return i;
}

uint64_t raft_log_persisted_last(struct raft_log *l)
{
    if (l->has_usnap)
        return 0;
    return l->n_ents ? l->offset - 1 : raft_log_last_index(l);
}

int raft_log_term(struct raft_log *l, uint64_t i, uint64_t *term)
{
    *term = 0;
    uint64_t dummy = raft_log_first_index(l) - 1;
    if (i < dummy || i > raft_log_last_index(l))
        return 0;
    /* The unstable part first. */
    if (i >= l->offset && l->n_ents) {
        *term = l->ents[i - l->offset].term;
        return 0;
    }
    if (l->has_usnap && i == l->usnap.meta.index) {
        *term = l->usnap.meta.term;
        return 0;
    }
    int rc = l->storage->term(l->storage->ctx, i, term);
    if (rc)
        *term = 0;
    return rc;
}

uint64_t raft_log_term_or_zero(struct raft_log *l, uint64_t i)
{
    uint64_t t;
    if (raft_log_term(l, i, &t))
        return 0;
    return t;
}

uint64_t raft_log_last_term(struct raft_log *l)
{
    return raft_log_term_or_zero(l, raft_log_last_index(l));
}

bool raft_log_match_term(struct raft_log *l, uint64_t i, uint64_t term)
{
    uint64_t t;
    if (raft_log_term(l, i, &t))
        return false;
    return t == term;
}

/* Paper 5.4.1: a log is more up-to-date if its last term is higher, or the
 * terms are equal and it is at least as long. */
bool raft_log_is_up_to_date(struct raft_log *l, uint64_t lasti, uint64_t term)
{
    uint64_t lt = raft_log_last_term(l);
    return term > lt || (term == lt && lasti >= raft_log_last_index(l));
}

static int unstable_truncate_and_append(struct raft_log *l, const struct raft_entry *ents, size_t n)
{
    uint64_t after = ents[0].index;
    if (after == l->offset + l->n_ents) {
        /* Plain append. */
    } else if (after <= l->offset) {
        /* Replace the whole unstable part: the storage suffix from `after`
         * is overwritten when these entries are persisted. */
        free_unstable(l, 0);
        l->offset = after;
    } else {
        free_unstable(l, after - l->offset);
    }
    if (l->n_ents + n > l->cap_ents) {
        size_t cap = l->cap_ents ? l->cap_ents : 16;
        while (cap < l->n_ents + n)
            cap *= 2;
        struct raft_entry *a = realloc(l->ents, cap * sizeof(*a));
        if (!a)
            return RAFT_ENOMEM;
        l->ents = a;
        l->cap_ents = cap;
    }
    for (size_t i = 0; i < n; i++) {
        if (raft_entry_copy(&l->ents[l->n_ents], &ents[i]))
            return RAFT_ENOMEM;
        l->n_ents++;
    }
    return 0;
}

int raft_log_append(struct raft_log *l, const struct raft_entry *ents, size_t n)
{
    if (n == 0)
        return 0;
    /* Committed entries are never overwritten (State Machine Safety, 5.4). */
    assert(ents[0].index > l->committed);
    if (ents[0].index <= l->committed)
        abort();
    return unstable_truncate_and_append(l, ents, n);
}

/* First entry whose term differs from ours (or that we lack), 0 if none. */
static uint64_t find_conflict(struct raft_log *l, const struct raft_entry *ents, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!raft_log_match_term(l, ents[i].index, ents[i].term))
            return ents[i].index;
    return 0;
}

int raft_log_maybe_append(struct raft_log *l, uint64_t index, uint64_t log_term, uint64_t commit,
                          const struct raft_entry *ents, size_t n, uint64_t *lastnew)
{
    /* Rule 2: reply false if the log has no entry at index with log_term. */
    if (!raft_log_match_term(l, index, log_term))
        return 0;
    *lastnew = index + n;
    uint64_t ci = find_conflict(l, ents, n);
    if (ci != 0) {
        /* Rule 3: a conflicting entry and all that follow it are deleted;
         * rule 4: new entries are appended. A conflict at or below the
         * commit index would mean a committed entry differs: impossible. */
        if (ci <= l->committed)
            abort();
        size_t skip = ci - (index + 1);
        int rc = raft_log_append(l, ents + skip, n - skip);
        if (rc)
            return rc;
    }
    /* Rule 5: commit up to min(leaderCommit, index of last new entry). */
    raft_log_commit_to(l, commit < *lastnew ? commit : *lastnew);
    return 1;
}

int raft_log_slice(struct raft_log *l, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                   struct raft_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (lo > hi)
        return RAFT_EINVAL;
    uint64_t first = raft_log_first_index(l);
    if (lo < first)
        return RAFT_ECOMPACTED;
    if (hi > raft_log_last_index(l) + 1)
        return RAFT_EUNAVAILABLE;
    if (lo == hi)
        return 0;
    struct raft_entry *res = NULL;
    size_t cnt = 0;
    uint64_t size = 0;
    bool full = false;
    if (lo < l->offset) {
        uint64_t shi = hi < l->offset ? hi : l->offset;
        int rc = l->storage->entries(l->storage->ctx, lo, shi, max_bytes, &res, &cnt);
        if (rc == RAFT_EUNAVAILABLE)
            abort(); /* storage lost entries it reported */
        if (rc)
            return rc;
        for (size_t i = 0; i < cnt; i++)
            size += raft_entry_size(&res[i]);
        if (cnt < shi - lo)
            full = true; /* storage stopped at the byte limit */
    }
    if (!full && hi > l->offset) {
        uint64_t ulo = lo > l->offset ? lo : l->offset;
        size_t want = hi - ulo, base = ulo - l->offset, take = 0;
        while (take < want) {
            uint64_t s = raft_entry_size(&l->ents[base + take]);
            if (cnt + take > 0 && size + s > max_bytes)
                break;
            size += s;
            take++;
        }
        if (take) {
            struct raft_entry *a = realloc(res, (cnt + take) * sizeof(*a));
            if (!a) {
                raft_entries_free(res, cnt);
                return RAFT_ENOMEM;
            }
            res = a;
            for (size_t i = 0; i < take; i++) {
                if (raft_entry_copy(&res[cnt], &l->ents[base + i])) {
                    raft_entries_free(res, cnt);
                    return RAFT_ENOMEM;
                }
                cnt++;
            }
        }
    }
    *out = res;
    *n = cnt;
    return 0;
}

void raft_log_commit_to(struct raft_log *l, uint64_t tocommit)
{
    /* The commit index never decreases. */
    if (l->committed < tocommit) {
        if (raft_log_last_index(l) < tocommit)
            abort(); /* the log was corrupted, truncated or lost */
        l->committed = tocommit;
    }
}

/* Paper 5.4.2: a leader commits only entries of its own term by counting
 * replicas; earlier entries commit indirectly with them. */
bool raft_log_maybe_commit(struct raft_log *l, uint64_t max_index, uint64_t term)
{
    if (max_index > l->committed && raft_log_term_or_zero(l, max_index) == term) {
        raft_log_commit_to(l, max_index);
        return true;
    }
    return false;
}

void raft_log_applied_to(struct raft_log *l, uint64_t i)
{
    if (i == 0)
        return;
    if (l->committed < i || i < l->applied)
        abort();
    l->applied = i;
}

void raft_log_stable_to(struct raft_log *l, uint64_t i, uint64_t t)
{
    if (l->n_ents == 0 || i < l->offset || i >= l->offset + l->n_ents)
        return;
    /* Only if the entry is still the one that was persisted. */
    if (l->ents[i - l->offset].term != t)
        return;
    size_t drop = i + 1 - l->offset;
    for (size_t k = 0; k < drop; k++)
        free(l->ents[k].data);
    memmove(l->ents, l->ents + drop, (l->n_ents - drop) * sizeof(*l->ents));
    l->n_ents -= drop;
    l->offset = i + 1;
}

void raft_log_stable_snap_to(struct raft_log *l, uint64_t i)
{
    if (l->has_usnap && l->usnap.meta.index == i) {
        raft_snapshot_free(&l->usnap);
        l->has_usnap = false;
    }
}

int raft_log_restore(struct raft_log *l, const struct raft_snapshot *s)
{
    struct raft_snapshot c;
    if (raft_snapshot_copy(&c, s))
        return RAFT_ENOMEM;
    raft_snapshot_free(&l->usnap);
    l->usnap = c;
    l->has_usnap = true;
    free_unstable(l, 0);
    l->offset = s->meta.index + 1;
    l->committed = s->meta.index;
    return 0;
}

static uint64_t next_ents_start(struct raft_log *l)
{
    uint64_t first = raft_log_first_index(l);
    return l->applied + 1 > first ? l->applied + 1 : first;
}

bool raft_log_has_next_ents(struct raft_log *l)
{
    return l->committed + 1 > next_ents_start(l);
}

int raft_log_next_ents(struct raft_log *l, struct raft_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    uint64_t off = next_ents_start(l);
    if (l->committed + 1 <= off)
        return 0;
    return raft_log_slice(l, off, l->committed + 1, UINT64_MAX, out, n);
}

uint64_t raft_log_find_conflict_by_term(struct raft_log *l, uint64_t index, uint64_t term,
                                        uint64_t *found_term)
{
    uint64_t li = raft_log_last_index(l);
    if (index > li)
        index = li;
    for (;;) {
        uint64_t t;
        if (raft_log_term(l, index, &t)) {
            *found_term = 0;
            return index;
        }
        if (t <= term || index == 0) {
            *found_term = t;
            return index;
        }
        index--;
    }
}
