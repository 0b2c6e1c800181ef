/* raft/util.c - error strings, names, and ownership helpers for the public
 * structs (copies and frees). */
#include "raft/raft_int.h"

const char *raft_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define RAFT_ERR_CASE(name, code, msg)                                                             \
    case code:                                                                                     \
        return msg;
        RAFT_ERRORS(RAFT_ERR_CASE)
#undef RAFT_ERR_CASE
    default:
        return "unknown raft error";
    }
}

const char *raft_state_name(enum raft_state s)
{
    switch (s) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    case RAFT_PRE_CANDIDATE:
        return "pre-candidate";
    }
    return "?";
}

const char *raft_msg_type_name(int type)
{
    static const char *const names[RAFT_MSG_TYPE_COUNT] = {
        "Hup",           "Beat",           "Prop",        "App",
        "AppResp",       "Vote",           "VoteResp",    "Snap",
        "Heartbeat",     "HeartbeatResp",  "Unreachable", "SnapStatus",
        "CheckQuorum",   "TransferLeader", "TimeoutNow",  "ReadIndex",
        "ReadIndexResp", "PreVote",        "PreVoteResp",
    };
    if (type < 0 || type >= RAFT_MSG_TYPE_COUNT)
        return "?";
    return names[type];
}

void *raft_memdup(const void *p, size_t len)
{
    if (len == 0)
        return NULL;
    void *q = malloc(len);
    if (q)
        memcpy(q, p, len);
    return q;
}

bool raft_ids_contains(const uint64_t *ids, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

int raft_entry_copy(struct raft_entry *dst, const struct raft_entry *src)
{
    *dst = *src;
    dst->data = NULL;
    if (src->len) {
        dst->data = raft_memdup(src->data, src->len);
        if (!dst->data) {
            dst->len = 0;
            return RAFT_ENOMEM;
        }
    }
    return 0;
}

int raft_entries_copy(struct raft_entry **out, const struct raft_entry *src, size_t n)
{
    *out = NULL;
    if (n == 0)
        return 0;
    struct raft_entry *a = calloc(n, sizeof(*a));
    if (!a)
        return RAFT_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (raft_entry_copy(&a[i], &src[i]) != 0) {
            raft_entries_free(a, i);
            return RAFT_ENOMEM;
        }
    }
    *out = a;
    return 0;
}

void raft_entries_free(struct raft_entry *ents, size_t n)
{
    if (!ents)
        return;
    for (size_t i = 0; i < n; i++)
        free(ents[i].data);
    free(ents);
}

void raft_conf_state_free(struct raft_conf_state *cs)
{
    free(cs->voters);
    free(cs->voters_outgoing);
    free(cs->learners);
    memset(cs, 0, sizeof(*cs));
}

static int dup_ids(uint64_t **dst, const uint64_t *src, size_t n)
{
    *dst = NULL;
    if (n == 0)
        return 0;
    *dst = raft_memdup(src, n * sizeof(uint64_t));
    return *dst ? 0 : RAFT_ENOMEM;
}

int raft_conf_state_copy(struct raft_conf_state *dst, const struct raft_conf_state *src)
{
    struct raft_conf_state c = *src;
    c.voters = c.voters_outgoing = c.learners = NULL;
    if (dup_ids(&c.voters, src->voters, src->n_voters) ||
        dup_ids(&c.voters_outgoing, src->voters_outgoing, src->n_voters_outgoing) ||
        dup_ids(&c.learners, src->learners, src->n_learners)) {
        raft_conf_state_free(&c);
        memset(dst, 0, sizeof(*dst));
        return RAFT_ENOMEM;
    }
    *dst = c;
    return 0;
}

void raft_snapshot_free(struct raft_snapshot *s)
{
    raft_conf_state_free(&s->meta.conf);
    free(s->data);
    memset(s, 0, sizeof(*s));
}

int raft_snapshot_copy(struct raft_snapshot *dst, const struct raft_snapshot *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->meta.index = src->meta.index;
    dst->meta.term = src->meta.term;
    if (raft_conf_state_copy(&dst->meta.conf, &src->meta.conf))
        return RAFT_ENOMEM;
    if (src->len) {
        dst->data = raft_memdup(src->data, src->len);
        if (!dst->data) {
            raft_snapshot_free(dst);
            return RAFT_ENOMEM;
        }
        dst->len = src->len;
    }
    return 0;
}

void raft_message_free(struct raft_message *m)
{
    raft_entries_free(m->entries, m->n_entries);
    raft_snapshot_free(&m->snapshot);
    free(m->context);
    memset(m, 0, sizeof(*m));
}

void raft_conf_change_free(struct raft_conf_change *cc)
{
    free(cc->changes);
    free(cc->context);
    memset(cc, 0, sizeof(*cc));
}

void raft_buf_free(struct raft_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}
