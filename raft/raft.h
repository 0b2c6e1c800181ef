/*
 * raft/raft.h - a pure Raft consensus core (no I/O, no clock, no threads).
 *
 * The caller drives one `struct raft` per member:
 *   - raft_tick() once per tick (the only notion of time),
 *   - raft_step() with every message received from a peer,
 *   - raft_propose() / raft_propose_conf_change() / raft_read_index() /
 *     raft_transfer_leader() / raft_campaign() on behalf of clients,
 *   - raft_has_ready() / raft_ready(): a batch of work to do, in this order:
 *       1. persist hard_state, entries and snapshot (fsync);
 *       2. send messages (the core never needs an answer to any of them:
 *          any message may be lost, delayed, duplicated or reordered);
 *       3. apply the snapshot, then committed entries, in order; for a
 *          RAFT_ENTRY_CONF_CHANGE entry decode it with
 *          raft_decode_conf_change() and call raft_apply_conf_change();
 *       4. raft_advance().
 *     A leader may send its messages before persisting (thesis 10.2.1), but
 *     a follower must persist before it sends, because its acknowledgements
 *     promise that the entries are durable. Committed entries must never be
 *     applied before the entries and hard state of the same Ready are durable.
 *
 * Invariants the core maintains (checked by the simulator in tests/raft/sim):
 *   - Election Safety: at most one leader per term (paper 5.2).
 *   - Leader Append-Only: a leader never overwrites or deletes entries (5.3).
 *   - Log Matching: two logs holding an entry with the same index and term
 *     are identical up to that index (5.3).
 *   - Leader Completeness: an entry committed in a term is in the log of
 *     every leader of any later term (5.4).
 *   - State Machine Safety: no two members apply different entries at the
 *     same index (5.4.3).
 *   - The commit index never decreases while a node runs, and the persisted
 *     one never decreases across restarts.
 *
 * Memory: the core allocates only for its own state, the messages and
 * entries it hands out, and reports RAFT_ENOMEM when malloc fails. Every
 * buffer it hands out names its owner below. Buffers passed in are borrowed
 * for the duration of the call only: the core copies what it keeps.
 *
 * Membership (thesis 4): a configuration takes effect when its entry is
 * applied (raft_apply_conf_change), as in etcd. The leader accepts a new
 * change only once the previous one is applied; a node with a committed but
 * unapplied change does not campaign; a leader removed from the
 * configuration steps down (after a TimeoutNow to the most up-to-date
 * voter). The transport should refuse messages from removed members, as
 * etcd's does, so that a removed node cannot disrupt elections.
 *
 * Thread safety: none; one thread owns a `struct raft` and its storage.
 */
#ifndef METCD_RAFT_H
#define METCD_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Errors: 0 is success, every failure is one of these negative codes. */
#define RAFT_ERRORS(X)                                                                             \
    X(RAFT_ENOMEM, -1, "out of memory")                                                            \
    X(RAFT_ECOMPACTED, -2, "requested index is unavailable due to compaction")                     \
    X(RAFT_EUNAVAILABLE, -3, "requested entry at index is unavailable")                            \
    X(RAFT_ESNAPOUTOFDATE, -4, "requested index is older than the existing snapshot")              \
    X(RAFT_ENOLEADER, -5, "no leader")                                                             \
    X(RAFT_EPROPOSALDROPPED, -6, "proposal dropped")                                               \
    X(RAFT_EINVAL, -7, "invalid argument")                                                         \
    X(RAFT_ESTEPLOCAL, -8, "cannot step a local message")                                          \
    X(RAFT_ESTEPPEERNOTFOUND, -9, "cannot step a response from an unknown peer")                   \
    X(RAFT_EDECODE, -10, "malformed encoding")                                                     \
    X(RAFT_EVERSION, -11, "unsupported encoding version")                                          \
    X(RAFT_ESNAPTEMPUNAVAIL, -12, "snapshot is temporarily unavailable")                           \
    X(RAFT_ECONFCHANGE, -13, "invalid configuration change")                                       \
    X(RAFT_ENOTREADY, -14, "no ready batch outstanding")

enum {
#define RAFT_ERR_ENUM(name, code, msg) name = code,
    RAFT_ERRORS(RAFT_ERR_ENUM)
#undef RAFT_ERR_ENUM
};

/* Returns a static string describing `err` (never NULL). */
const char *raft_strerror(int err);

/* ID 0 means "none" everywhere (no vote, no leader). */
#define RAFT_NONE 0

enum raft_state {
    RAFT_FOLLOWER = 0,
    RAFT_CANDIDATE = 1,
    RAFT_LEADER = 2,
    RAFT_PRE_CANDIDATE = 3,
};
const char *raft_state_name(enum raft_state s);

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 0,      /* opaque data for the state machine; an empty
                                   one is a no-op to skip (a new leader's first
                                   entry, or a refused configuration change) */
    RAFT_ENTRY_CONF_CHANGE = 1, /* data is an encoded struct raft_conf_change */
};

/* A log entry. When handed out by the core, `data` is owned by whatever
 * owns the entry (a Ready, a message, a storage result); see there. */
struct raft_entry {
    uint64_t term;
    uint64_t index;
    uint8_t type; /* enum raft_entry_type */
    void *data;
    size_t len;
};

/* Persistent state that must be durable before messages are sent (paper
 * figure 2): current term, the vote cast in it, and the commit index. */
struct raft_hard_state {
    uint64_t term;
    uint64_t vote;
    uint64_t commit;
};

/* A cluster configuration. With joint consensus (thesis 4.3) both
 * `voters` and `voters_outgoing` must agree; outside it `voters_outgoing`
 * is empty. Learners receive the log but never vote nor count for quorum.
 * Arrays are owned by the struct holder; free with raft_conf_state_free(). */
struct raft_conf_state {
    uint64_t *voters;
    size_t n_voters;
    uint64_t *voters_outgoing;
    size_t n_voters_outgoing;
    uint64_t *learners;
    size_t n_learners;
    bool auto_leave; /* leave the joint configuration automatically */
};
void raft_conf_state_free(struct raft_conf_state *cs);
/* Deep copy; on RAFT_ENOMEM `dst` is left empty. */
int raft_conf_state_copy(struct raft_conf_state *dst, const struct raft_conf_state *src);

struct raft_snapshot_meta {
    uint64_t index; /* last entry covered by the snapshot */
    uint64_t term;  /* its term */
    struct raft_conf_state conf;
};

/* Snapshot: metadata plus opaque state-machine bytes. The core only carries
 * the bytes; the caller makes and applies them. */
struct raft_snapshot {
    struct raft_snapshot_meta meta;
    void *data;
    size_t len;
};
/* Frees the data and conf arrays and zeroes the struct. */
void raft_snapshot_free(struct raft_snapshot *s);
static inline bool raft_snapshot_is_empty(const struct raft_snapshot *s)
{
    return s->meta.index == 0;
}

enum raft_msg_type {
    RAFT_MSG_HUP = 0,              /* local: start an election */
    RAFT_MSG_BEAT = 1,             /* local: leader sends heartbeats */
    RAFT_MSG_PROP = 2,             /* proposal (forwarded by followers) */
    RAFT_MSG_APP = 3,              /* append entries (paper 5.3) */
    RAFT_MSG_APP_RESP = 4,         /* its answer */
    RAFT_MSG_VOTE = 5,             /* request vote (paper 5.2) */
    RAFT_MSG_VOTE_RESP = 6,        /* its answer */
    RAFT_MSG_SNAP = 7,             /* install snapshot (paper 7) */
    RAFT_MSG_HEARTBEAT = 8,        /* empty append carrying commit and read context */
    RAFT_MSG_HEARTBEAT_RESP = 9,   /* its answer */
    RAFT_MSG_UNREACHABLE = 10,     /* local: peer unreachable */
    RAFT_MSG_SNAP_STATUS = 11,     /* local: snapshot transfer finished */
    RAFT_MSG_CHECK_QUORUM = 12,    /* local: leader checks its quorum */
    RAFT_MSG_TRANSFER_LEADER = 13, /* leadership transfer (thesis 3.10) */
    RAFT_MSG_TIMEOUT_NOW = 14,     /* "campaign now" to the transferee */
    RAFT_MSG_READ_INDEX = 15,      /* ReadIndex request (thesis 6.4) */
    RAFT_MSG_READ_INDEX_RESP = 16, /* its answer */
    RAFT_MSG_PRE_VOTE = 17,        /* pre-vote request (thesis 9.6) */
    RAFT_MSG_PRE_VOTE_RESP = 18,   /* its answer */
    RAFT_MSG_TYPE_COUNT
};
const char *raft_msg_type_name(int type);

/* A message between members. Messages handed out in a Ready own their
 * entries (and their data), snapshot and context: valid until raft_advance().
 * Messages given to raft_step() are borrowed for the call. */
struct raft_message {
    uint8_t type; /* enum raft_msg_type */
    uint64_t to;
    uint64_t from;
    uint64_t term;
    uint64_t log_term; /* APP: term of entry `index`; VOTE: last log term;
                          APP_RESP reject: term of the conflict hint */
    uint64_t index;    /* APP: index preceding entries; VOTE: last index */
    uint64_t commit;
    bool reject;
    uint64_t reject_hint; /* APP_RESP reject: follower's hint index */
    struct raft_entry *entries;
    size_t n_entries;
    struct raft_snapshot snapshot; /* RAFT_MSG_SNAP only */
    void *context;                 /* read context, or transfer marker on VOTE */
    size_t context_len;
};
/* Frees everything a message owns (entries, data, snapshot, context). */
void raft_message_free(struct raft_message *m);

/* Volatile state that the application may want to observe. */
struct raft_soft_state {
    uint64_t lead;
    enum raft_state state;
};

/* Result of a ReadIndex request: once the state machine has applied
 * `index`, a read for the request tagged `context` is linearizable. */
struct raft_read_state {
    uint64_t index;
    void *context; /* owned by the Ready */
    size_t context_len;
};

/* A batch of work produced by raft_ready(). Everything it points to is
 * owned by the Ready itself (deep copies): valid until raft_advance(),
 * which frees it, even if the caller steps other messages in between. */
struct raft_ready {
    bool has_soft_state;
    struct raft_soft_state soft_state;
    bool has_hard_state;
    struct raft_hard_state hard_state;
    struct raft_entry *entries; /* to persist, contiguous, may overwrite */
    size_t n_entries;           /* the stored suffix from entries[0].index */
    bool has_snapshot;
    struct raft_snapshot snapshot; /* to persist and then apply */
    struct raft_entry *committed;  /* to apply, in order */
    size_t n_committed;
    struct raft_message *messages; /* to send after persisting */
    size_t n_messages;
    struct raft_read_state *read_states;
    size_t n_read_states;
    bool must_sync; /* entries or a changed term/vote need an fsync */
};

/* ---- storage interface (read only for the core) ---------------------- */

/* The core reads persisted state through this. Results that carry memory
 * (entries, snapshot) are allocated by the storage and owned by the core,
 * which frees them with raft_entries_free() / raft_snapshot_free(). */
struct raft_storage {
    void *ctx;
    /* The hard state and the configuration at the last persisted point. */
    int (*initial_state)(void *ctx, struct raft_hard_state *hs, struct raft_conf_state *cs);
    /* Entries [lo, hi), at least one if any exist, then stop before the
     * total data size exceeds max_bytes. RAFT_ECOMPACTED if lo is below
     * first_index, RAFT_EUNAVAILABLE if hi is past last_index + 1. */
    int (*entries)(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes, struct raft_entry **out,
                   size_t *n_out);
    /* Term of entry i, for first_index - 1 <= i <= last_index. */
    int (*term)(void *ctx, uint64_t i, uint64_t *term);
    int (*first_index)(void *ctx, uint64_t *index);
    int (*last_index)(void *ctx, uint64_t *index);
    /* The newest snapshot; RAFT_ESNAPTEMPUNAVAIL if it is being made. */
    int (*snapshot)(void *ctx, struct raft_snapshot *out);
};

/* Frees an array of entries and their data (as returned by storage). */
void raft_entries_free(struct raft_entry *ents, size_t n);
/* Size of an entry counted against byte limits. */
static inline uint64_t raft_entry_size(const struct raft_entry *e)
{
    return (uint64_t)e->len + 24;
}

/* In-memory storage (tests, the simulator, and a cache for the WAL).
 * It holds copies of everything appended to it. */
struct raft_storage_mem;
/* Returns NULL on ENOMEM. `storage` is filled with the interface view. */
struct raft_storage_mem *raft_storage_mem_new(void);
void raft_storage_mem_free(struct raft_storage_mem *m);
struct raft_storage *raft_storage_mem_iface(struct raft_storage_mem *m);
int raft_storage_mem_set_hard_state(struct raft_storage_mem *m, const struct raft_hard_state *hs);
/* Bootstrap a new cluster: the configuration in force at index 0. Every
 * member, including one added later, starts from the same bootstrap
 * configuration (configuration changes are replayed on top of it). */
int raft_storage_mem_set_conf_state(struct raft_storage_mem *m, const struct raft_conf_state *cs);
/* Appends entries (copied), truncating any conflicting suffix. Entries
 * already covered by the snapshot are ignored. */
int raft_storage_mem_append(struct raft_storage_mem *m, const struct raft_entry *ents, size_t n);
/* Replaces everything with a snapshot (copied); RAFT_ESNAPOUTOFDATE if
 * older than the current one. */
int raft_storage_mem_apply_snapshot(struct raft_storage_mem *m, const struct raft_snapshot *s);
/* Records a snapshot of the state machine at applied `index` (<= last
 * index) with configuration `cs` and bytes `data` (copied). */
int raft_storage_mem_create_snapshot(struct raft_storage_mem *m, uint64_t index,
                                     const struct raft_conf_state *cs, const void *data,
                                     size_t len);
/* Drops entries up to and including `index`, which a snapshot must cover
 * (RAFT_EUNAVAILABLE otherwise; RAFT_ECOMPACTED if already dropped).
 * Compacting below the snapshot keeps entries for slow followers. */
int raft_storage_mem_compact(struct raft_storage_mem *m, uint64_t index);
/* Drops entries up to and including `index` although no snapshot covers
 * them: for a caller whose state machine has applied them and whose own
 * log (a WAL) still holds them for a restart. Until a newer snapshot is
 * created, a follower behind `index` cannot be caught up (the leader
 * does not send a snapshot older than its log's start). */
int raft_storage_mem_trim(struct raft_storage_mem *m, uint64_t index);
void raft_storage_mem_hard_state(const struct raft_storage_mem *m, struct raft_hard_state *hs);

/* ---- membership changes --------------------------------------------- */

enum raft_conf_change_type {
    RAFT_CC_ADD_NODE = 0,    /* add a voter (or promote a learner) */
    RAFT_CC_REMOVE_NODE = 1, /* remove a voter or learner */
    RAFT_CC_UPDATE_NODE = 2, /* no change to the configuration (metadata) */
    RAFT_CC_ADD_LEARNER = 3, /* add a learner (a voter cannot be demoted) */
};

struct raft_conf_change_single {
    uint8_t type; /* enum raft_conf_change_type */
    uint64_t node_id;
};

/* A configuration change. One change that alters at most one voter is
 * applied directly (thesis 4.1, one server at a time). Anything else
 * (several changes, or `joint` set) goes through a joint configuration
 * (thesis 4.3): the leader leaves it automatically once it is applied.
 * Zero changes while in a joint configuration means "leave it".
 * `context` is opaque to the core (the server keeps member URLs there). */
struct raft_conf_change {
    bool joint;
    struct raft_conf_change_single *changes;
    size_t n_changes;
    void *context;
    size_t context_len;
};
void raft_conf_change_free(struct raft_conf_change *cc);

/* ---- the node ------------------------------------------------------- */

struct raft_config {
    uint64_t id;                  /* this member, != 0 */
    int election_tick;            /* ticks without a leader before campaigning;
                                     randomized in [election_tick, 2*election_tick) */
    int heartbeat_tick;           /* leader heartbeat interval, < election_tick */
    struct raft_storage *storage; /* read by the core, written by the caller */
    uint64_t applied;             /* last applied index on restart (0: from the snapshot) */
    uint64_t max_size_per_msg;    /* bytes of entries per APP message (0: one entry) */
    size_t max_inflight_msgs;     /* APP messages in flight per follower */
    bool check_quorum;            /* step down without a quorum; leader lease */
    bool pre_vote;                /* thesis 9.6 */
    bool disable_proposal_forwarding;
    uint64_t seed; /* seeds the election-timeout PRNG */
};

struct raft;

/* Creates a node from `cfg` and the storage's persisted state. On success
 * *out is owned by the caller (raft_free). */
int raft_new(const struct raft_config *cfg, struct raft **out);
void raft_free(struct raft *r);

/* Advances logical time by one tick. */
int raft_tick(struct raft *r);
/* Feeds a message received from a peer (borrowed for the call). Local
 * types are refused (RAFT_ESTEPLOCAL); responses from peers outside the
 * configuration give RAFT_ESTEPPEERNOTFOUND, which the caller may ignore. */
int raft_step(struct raft *r, const struct raft_message *m);
/* Proposes opaque data (copied). RAFT_ENOLEADER when no leader is known,
 * RAFT_EPROPOSALDROPPED when the leader cannot take it (transfer in
 * progress, not a member, forwarding disabled). Success means only that the
 * proposal was appended or forwarded: it is committed once it shows up in
 * Ready.committed, and may be lost silently (a forwarded proposal, or a
 * leader that loses its term): callers match entries to requests by
 * content and time out. */
int raft_propose(struct raft *r, const void *data, size_t len);
/* Proposes a configuration change (encoded into a conf-change entry). */
int raft_propose_conf_change(struct raft *r, const struct raft_conf_change *cc);
/* Applies a committed configuration change. If `out` is not NULL it
 * receives the resulting configuration (caller frees it), to store with
 * the next snapshot. */
int raft_apply_conf_change(struct raft *r, const struct raft_conf_change *cc,
                           struct raft_conf_state *out);
/* Starts an election now (as after an election timeout). */
int raft_campaign(struct raft *r);
/* Requests a linearizable read point (thesis 6.4, ReadIndex in safe mode).
 * `ctx` (copied) identifies the request in Ready.read_states. */
int raft_read_index(struct raft *r, const void *ctx, size_t len);
/* Asks the leader to hand leadership to `transferee` (thesis 3.10). */
int raft_transfer_leader(struct raft *r, uint64_t transferee);
/* The transport failed to reach `id`: probe it again. */
int raft_report_unreachable(struct raft *r, uint64_t id);
/* The transport finished (or failed) sending a snapshot to `id`. */
int raft_report_snapshot(struct raft *r, uint64_t id, bool failed);

bool raft_has_ready(const struct raft *r);
/* Fills *rd (deep copies, owned by rd until raft_advance). Only one Ready
 * may be outstanding. */
int raft_ready(struct raft *r, struct raft_ready *rd);
/* Acknowledges that `rd` was persisted, sent and applied; frees it. */
int raft_advance(struct raft *r, struct raft_ready *rd);
/* Frees a Ready without acknowledging it (shutdown). */
void raft_ready_free(struct raft_ready *rd);

struct raft_status {
    uint64_t id;
    struct raft_hard_state hs;
    struct raft_soft_state ss;
    uint64_t applied;
    uint64_t last_index;
    uint64_t first_index;
    uint64_t lead_transferee;
    bool is_learner;
    bool is_member; /* present in the current configuration */
};
void raft_get_status(const struct raft *r, struct raft_status *st);
/* Term of entry i in the node's log (0 if unknown). */
uint64_t raft_log_term_at(struct raft *r, uint64_t i);

/* ---- encoding (wire and disk) ------------------------------------------
 * Versioned little-endian binary. Encoders append to a growable buffer;
 * decoders never read past `len`, never trust counts, and return
 * RAFT_EDECODE / RAFT_EVERSION on bad input (outputs then left empty).
 * Decoded objects own their memory (free with the matching _free). */
struct raft_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};
void raft_buf_free(struct raft_buf *b);

#define RAFT_ENCODING_VERSION 1

int raft_encode_message(struct raft_buf *b, const struct raft_message *m);
int raft_decode_message(const void *buf, size_t len, struct raft_message *m);
int raft_encode_entry(struct raft_buf *b, const struct raft_entry *e);
/* Decodes one entry; *used receives the bytes consumed. */
int raft_decode_entry(const void *buf, size_t len, struct raft_entry *e, size_t *used);
int raft_encode_hard_state(struct raft_buf *b, const struct raft_hard_state *hs);
int raft_decode_hard_state(const void *buf, size_t len, struct raft_hard_state *hs);
int raft_encode_snapshot_meta(struct raft_buf *b, const struct raft_snapshot_meta *meta);
int raft_decode_snapshot_meta(const void *buf, size_t len, struct raft_snapshot_meta *meta,
                              size_t *used);
int raft_encode_conf_change(struct raft_buf *b, const struct raft_conf_change *cc);
int raft_decode_conf_change(const void *buf, size_t len, struct raft_conf_change *cc);

#endif
