/* src/peer/mem.c - the in-memory transport and the network it runs on.
 *
 * Every member of a test cluster gets a transport on one shared net and
 * one loop. Messages are encoded at send() and decoded at delivery, so the
 * wire encoding is exercised as over TCP, and delivered on a later loop
 * turn, never inside send(): a driver that relies on synchronous delivery
 * would break on the real network. The net can cut a pair of members
 * (both directions) and drop a seeded fraction of messages, the faults the
 * raft simulator models, now under the real node driver. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "src/peer/peer_int.h"

#define MEM_SNAP_CHUNK (64u << 10)

struct mem_transport;

struct mem_packet {
    struct mem_packet *next;
    uint64_t from, to;
    uint8_t *bytes; /* raft_encode_message output, owned */
    size_t len;
    int snap_fd; /* MSG_SNAP: the sender's snapshot file (owned), else -1 */
    uint64_t snap_size;
};

struct mem_cut {
    uint64_t a, b;
};

struct peer_mem_net {
    h2o_loop_t *loop;
    uint64_t rng;
    double drop;
    struct mem_cut *cuts;
    size_t n_cuts;
    struct mem_transport **members;
    size_t n_members;
    struct mem_packet *head, **tail;
    size_t n_pending;
    h2o_timeout_t zero;
    h2o_timeout_entry_t entry;
};

struct mem_transport {
    peer_transport_t base;
    struct peer_mem_net *net;
    struct peer_config cfg;
    char *version;
    struct peer_set peers;
    struct peer_defer defer;
    struct peer_log_limit log_limit[PEER_LOG_LIMIT_SLOTS];
};

/* splitmix64: small, seedable, good enough for fault injection. */
static uint64_t next_random(struct peer_mem_net *net)
{
    uint64_t z = (net->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool is_cut(const struct peer_mem_net *net, uint64_t a, uint64_t b)
{
    for (size_t i = 0; i < net->n_cuts; i++)
        if ((net->cuts[i].a == a && net->cuts[i].b == b) ||
            (net->cuts[i].a == b && net->cuts[i].b == a))
            return true;
    return false;
}

static struct mem_transport *member(const struct peer_mem_net *net, uint64_t id)
{
    for (size_t i = 0; i < net->n_members; i++)
        if (net->members[i]->cfg.self_id == id)
            return net->members[i];
    return NULL;
}

static void packet_free(struct mem_packet *p)
{
    if (p->snap_fd >= 0)
        close(p->snap_fd);
    free(p->bytes);
    free(p);
}

/* Copies the sender's file into the receiver's, chunk by chunk. */
static bool copy_snapshot(int from_fd, int to_fd, uint64_t size)
{
    char buf[MEM_SNAP_CHUNK];
    uint64_t done = 0;
    while (done < size) {
        size_t want = size - done < sizeof(buf) ? (size_t)(size - done) : sizeof(buf);
        ssize_t n = read(from_fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(to_fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return false;
            off += w;
        }
        done += (uint64_t)n;
    }
    return true;
}

/* Delivers a MSG_SNAP: data first, the message only if it all arrived. */
static bool deliver_snapshot(struct mem_transport *dst, struct mem_packet *p,
                             const struct raft_message *m)
{
    const struct peer_handler *h = &dst->cfg.handler;
    int fd = h->snapshot_receive_begin(h->ctx, p->from, m->snapshot.meta.index,
                                       m->snapshot.meta.term, p->snap_size);
    if (fd < 0)
        return false;
    bool ok = copy_snapshot(p->snap_fd, fd, p->snap_size);
    if (h->snapshot_receive_end(h->ctx, fd, ok) != 0 || !ok)
        return false;
    h->on_message(h->ctx, m);
    return true;
}

/* Delivers one packet; false if it was lost. */
static bool deliver(struct peer_mem_net *net, struct mem_packet *p, struct mem_transport *src)
{
    struct mem_transport *dst = member(net, p->to);
    if (dst == NULL || is_cut(net, p->from, p->to)) {
        peer_defer_push(&src->defer, PEER_EV_UNREACHABLE, p->to, true);
        return false;
    }
    if (net->drop > 0 && (double)(next_random(net) >> 11) * 0x1.0p-53 < net->drop)
        return false;
    if (peer_set_is_removed(&dst->peers, p->from)) {
        if (peer_log_allow(dst->log_limit, p->from, 410))
            log_line('W', PEER_LOG_COMPONENT, "dropped message from removed member %" PRIx64,
                     p->from);
        return false;
    }
    struct peer_entry *e = peer_set_find(&dst->peers, p->from);
    if (e == NULL) {
        if (peer_log_allow(dst->log_limit, p->from, 404))
            log_line('W', PEER_LOG_COMPONENT, "dropped message from unknown member %" PRIx64,
                     p->from);
        return false;
    }
    if (src->cfg.cluster_id != dst->cfg.cluster_id) {
        if (peer_log_allow(dst->log_limit, p->from, 412))
            log_line('W', PEER_LOG_COMPONENT,
                     "dropped message from %" PRIx64 ": cluster ID mismatch (local %" PRIx64
                     ", remote %" PRIx64 ")",
                     p->from, dst->cfg.cluster_id, src->cfg.cluster_id);
        return false;
    }
    struct raft_message m;
    if (raft_decode_message(p->bytes, p->len, &m) != 0)
        return false;
    e->stats.received_bytes += p->len + (p->snap_fd >= 0 ? p->snap_size : 0);
    e->stats.received_msgs++;
    bool ok = true;
    if (m.type == RAFT_MSG_SNAP)
        ok = deliver_snapshot(dst, p, &m);
    else
        dst->cfg.handler.on_message(dst->cfg.handler.ctx, &m);
    raft_message_free(&m);
    return ok;
}

static void on_deliver(h2o_timeout_entry_t *entry)
{
    struct peer_mem_net *net = H2O_STRUCT_FROM_MEMBER(struct peer_mem_net, entry, entry);
    /* Take this turn's packets; what handlers send now goes to the next. */
    struct mem_packet *p = net->head;
    net->head = NULL;
    net->tail = &net->head;
    while (p != NULL) {
        struct mem_packet *next = p->next;
        net->n_pending--;
        struct mem_transport *src = member(net, p->from);
        if (src != NULL) {
            bool is_snap = p->snap_fd >= 0;
            bool ok = deliver(net, p, src);
            /* the sender may have gone in a handler: look it up again */
            src = member(net, p->from);
            if (src != NULL && is_snap)
                peer_defer_push(&src->defer, PEER_EV_SNAP_SENT, p->to, !ok);
        }
        packet_free(p);
        p = next;
    }
}

static void push(struct peer_mem_net *net, struct mem_packet *p)
{
    p->next = NULL;
    *net->tail = p;
    net->tail = &p->next;
    net->n_pending++;
    if (!h2o_timeout_is_linked(&net->entry))
        h2o_timeout_link(net->loop, &net->zero, &net->entry);
}

/* ---- ops ---------------------------------------------------------------- */

static int mem_add_peer(peer_transport_t *base, uint64_t id, const char *const *urls, size_t n)
{
    struct mem_transport *t = (struct mem_transport *)base;
    if (id == 0 || id == t->cfg.self_id)
        return PEER_EINVAL;
    if (peer_set_is_removed(&t->peers, id))
        return PEER_EREMOVED;
    if (peer_set_find(&t->peers, id))
        return PEER_EEXIST;
    peer_set_add(&t->peers, id, urls, n);
    return 0;
}

static int mem_update_peer(peer_transport_t *base, uint64_t id, const char *const *urls, size_t n)
{
    struct mem_transport *t = (struct mem_transport *)base;
    struct peer_entry *e = peer_set_find(&t->peers, id);
    if (e == NULL)
        return PEER_ENOENT;
    peer_set_set_urls(e, urls, n);
    return 0;
}

static int mem_remove_peer(peer_transport_t *base, uint64_t id)
{
    struct mem_transport *t = (struct mem_transport *)base;
    peer_set_remove(&t->peers, id);
    return 0;
}

static int mem_send(peer_transport_t *base, const struct raft_message *m)
{
    struct mem_transport *t = (struct mem_transport *)base;
    int rc = peer_check_outgoing(&t->cfg, m);
    if (rc)
        return rc;
    bool snap = m->type == RAFT_MSG_SNAP;
    struct peer_entry *e = peer_set_find(&t->peers, m->to);
    struct mem_packet *p = peer_xcalloc(1, sizeof(*p));
    p->from = m->from;
    p->to = m->to;
    p->snap_fd = -1;
    struct raft_buf b = {0};
    bool ok = e != NULL && raft_encode_message(&b, m) == 0 && b.len <= t->cfg.max_frame;
    p->bytes = b.data;
    p->len = b.len;
    if (ok && snap) {
        const struct peer_handler *h = &t->cfg.handler;
        p->snap_fd = h->snapshot_open ? h->snapshot_open(h->ctx, m->snapshot.meta.index,
                                                         m->snapshot.meta.term, &p->snap_size)
                                      : -1;
        ok = p->snap_fd >= 0;
    }
    if (!ok) {
        if (e != NULL)
            e->stats.send_failures++;
        peer_defer_push(&t->defer, snap ? PEER_EV_SNAP_SENT : PEER_EV_UNREACHABLE, m->to, true);
        packet_free(p);
        return 0;
    }
    e->stats.sent_bytes += p->len + p->snap_size;
    e->stats.sent_msgs++;
    push(t->net, p);
    return 0;
}

static int mem_stats(peer_transport_t *base, uint64_t id, struct peer_stats *out)
{
    struct mem_transport *t = (struct mem_transport *)base;
    struct peer_entry *e = peer_set_find(&t->peers, id);
    if (e == NULL)
        return PEER_ENOENT;
    *out = e->stats;
    out->active = !is_cut(t->net, t->cfg.self_id, id) && member(t->net, id) != NULL;
    return 0;
}

static void mem_free(peer_transport_t *base)
{
    struct mem_transport *t = (struct mem_transport *)base;
    struct peer_mem_net *net = t->net;
    for (size_t i = 0; i < net->n_members; i++)
        if (net->members[i] == t) {
            net->members[i] = net->members[--net->n_members];
            break;
        }
    peer_set_dispose(&t->peers);
    peer_defer_dispose(&t->defer);
    free(t->version);
    free(t);
}

static const struct peer_ops mem_ops = {
    .add_peer = mem_add_peer,
    .update_peer = mem_update_peer,
    .remove_peer = mem_remove_peer,
    .send = mem_send,
    .stats = mem_stats,
    .free = mem_free,
};

int peer_mem_new(struct peer_mem_net *net, const struct peer_config *cfg, peer_transport_t **out)
{
    if (net == NULL || cfg->self_id == 0 || cfg->handler.on_message == NULL ||
        cfg->handler.snapshot_receive_begin == NULL || cfg->handler.snapshot_receive_end == NULL)
        return PEER_EINVAL;
    if (member(net, cfg->self_id) != NULL)
        return PEER_EEXIST;
    struct mem_transport *t = peer_xcalloc(1, sizeof(*t));
    t->base.ops = &mem_ops;
    t->net = net;
    t->cfg = *cfg;
    peer_config_defaults(&t->cfg);
    t->version = peer_xstrdup(t->cfg.version);
    t->cfg.version = t->version;
    t->cfg.loop = net->loop;
    peer_defer_init(&t->defer, net->loop, &t->cfg.handler);
    net->members = peer_xrealloc(net->members, (net->n_members + 1) * sizeof(*net->members));
    net->members[net->n_members++] = t;
    *out = &t->base;
    return 0;
}

/* ---- the net ------------------------------------------------------------ */

struct peer_mem_net *peer_mem_net_new(void *loop, uint64_t seed)
{
    struct peer_mem_net *net = peer_xcalloc(1, sizeof(*net));
    net->loop = loop;
    net->rng = seed;
    net->tail = &net->head;
    h2o_timeout_init(net->loop, &net->zero, 0);
    net->entry.cb = on_deliver;
    return net;
}

void peer_mem_net_free(struct peer_mem_net *net)
{
    if (net == NULL)
        return;
    while (net->head != NULL) {
        struct mem_packet *p = net->head;
        net->head = p->next;
        packet_free(p);
    }
    if (h2o_timeout_is_linked(&net->entry))
        h2o_timeout_unlink(&net->entry);
    h2o_timeout_dispose(net->loop, &net->zero);
    free(net->cuts);
    free(net->members);
    free(net);
}

void peer_mem_net_cut(struct peer_mem_net *net, uint64_t a, uint64_t b)
{
    if (is_cut(net, a, b))
        return;
    net->cuts = peer_xrealloc(net->cuts, (net->n_cuts + 1) * sizeof(*net->cuts));
    net->cuts[net->n_cuts++] = (struct mem_cut){a, b};
}

void peer_mem_net_heal(struct peer_mem_net *net, uint64_t a, uint64_t b)
{
    for (size_t i = 0; i < net->n_cuts; i++)
        if ((net->cuts[i].a == a && net->cuts[i].b == b) ||
            (net->cuts[i].a == b && net->cuts[i].b == a)) {
            net->cuts[i] = net->cuts[--net->n_cuts];
            return;
        }
}

void peer_mem_net_heal_all(struct peer_mem_net *net)
{
    net->n_cuts = 0;
}

void peer_mem_net_set_drop(struct peer_mem_net *net, double fraction)
{
    net->drop = fraction < 0 ? 0 : fraction > 1 ? 1 : fraction;
}

size_t peer_mem_net_pending(const struct peer_mem_net *net)
{
    return net->n_pending;
}
