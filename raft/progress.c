/* raft/progress.c - what the leader knows of one follower (thesis 3.5 and
 * etcd's probe / replicate / snapshot flow control), and the window of
 * in-flight APP messages that bounds pipelining. */
#include "raft/raft_int.h"

void raft_progress_reset(struct raft_progress *pr, uint64_t next)
{
    pr->match = 0;
    pr->next = next;
    pr->state = RAFT_PROGRESS_PROBE;
    pr->probe_sent = false;
    pr->pending_snapshot = 0;
    pr->ins.start = pr->ins.count = 0;
}

static void reset_state(struct raft_progress *pr, enum raft_progress_state st)
{
    pr->probe_sent = false;
    pr->pending_snapshot = 0;
    pr->state = st;
    pr->ins.start = pr->ins.count = 0;
}

void raft_progress_become_probe(struct raft_progress *pr)
{
    /* After a snapshot, probe from just past it: the follower has at
     * least that much once it reports success. */
    if (pr->state == RAFT_PROGRESS_SNAPSHOT) {
        uint64_t ps = pr->pending_snapshot;
        reset_state(pr, RAFT_PROGRESS_PROBE);
        pr->next = (pr->match + 1 > ps + 1) ? pr->match + 1 : ps + 1;
    } else {
        reset_state(pr, RAFT_PROGRESS_PROBE);
        pr->next = pr->match + 1;
    }
}

void raft_progress_become_replicate(struct raft_progress *pr)
{
    reset_state(pr, RAFT_PROGRESS_REPLICATE);
    pr->next = pr->match + 1;
}

void raft_progress_become_snapshot(struct raft_progress *pr, uint64_t snapi)
{
    reset_state(pr, RAFT_PROGRESS_SNAPSHOT);
    pr->pending_snapshot = snapi;
}

/* An acknowledgement up to n: returns false if it is stale. */
bool raft_progress_maybe_update(struct raft_progress *pr, uint64_t n)
{
    bool updated = false;
    if (pr->match < n) {
        pr->match = n;
        updated = true;
        pr->probe_sent = false;
    }
    if (pr->next < n + 1)
        pr->next = n + 1;
    return updated;
}

void raft_progress_optimistic_update(struct raft_progress *pr, uint64_t n)
{
    pr->next = n + 1;
}

/* A rejection of the APP whose previous index was `rejected`. Returns false
 * if it is stale (out of order). The follower's hint lets the leader skip a
 * whole conflicting term per round trip (paper 5.3, end). */
bool raft_progress_maybe_decr_to(struct raft_progress *pr, uint64_t rejected, uint64_t match_hint)
{
    if (pr->state == RAFT_PROGRESS_REPLICATE) {
        if (rejected <= pr->match)
            return false;
        pr->next = pr->match + 1;
        return true;
    }
    if (pr->next - 1 != rejected)
        return false;
    uint64_t n = rejected < match_hint + 1 ? rejected : match_hint + 1;
    pr->next = n < 1 ? 1 : n;
    if (pr->next <= pr->match)
        pr->next = pr->match + 1;
    pr->probe_sent = false;
    return true;
}

bool raft_progress_is_paused(const struct raft_progress *pr)
{
    switch (pr->state) {
    case RAFT_PROGRESS_PROBE:
        return pr->probe_sent;
    case RAFT_PROGRESS_REPLICATE:
        return raft_inflights_full(&pr->ins);
    case RAFT_PROGRESS_SNAPSHOT:
        return true;
    }
    return true;
}

bool raft_inflights_full(const struct raft_inflights *in)
{
    return in->count == in->size;
}

void raft_inflights_add(struct raft_inflights *in, uint64_t idx)
{
    if (raft_inflights_full(in))
        abort(); /* callers check is_paused first */
    in->buf[(in->start + in->count) % in->size] = idx;
    in->count++;
}

/* Frees every in-flight message whose last index is <= to. */
void raft_inflights_free_le(struct raft_inflights *in, uint64_t to)
{
    while (in->count > 0 && in->buf[in->start] <= to) {
        in->start = (in->start + 1) % in->size;
        in->count--;
    }
    if (in->count == 0)
        in->start = 0;
}

void raft_inflights_free_first(struct raft_inflights *in)
{
    if (in->count == 0)
        return;
    in->start = (in->start + 1) % in->size;
    in->count--;
}
