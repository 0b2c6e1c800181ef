/*
 * The raft node driver with other members: messages to and from the peer
 * transport, configuration changes and the member table, members'
 * published attributes, quorum reads (ReadIndex), proposals that wait for
 * a leader, heartbeat statistics and leadership transfer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian.h"
#include "common/log.h"
#include "src/server/node_int.h"

/* Conf-change context: proposer id, request id (0: nobody waits), then the
 * member (membership_member_encode). Bootstrap entries have proposer 0. */
#define CC_CONTEXT_HEADER 16

int node_propose_attributes(node_t *n, const uint8_t *data, size_t len);

const membership_t *node_members(const node_t *n)
{
    return &n->members;
}

/* ---- peers ---- */

static bool same_peer_urls(const membership_member_t *a, const membership_member_t *b)
{
    if (a->n_peer_urls != b->n_peer_urls)
        return false;
    for (size_t i = 0; i < a->n_peer_urls; i++)
        if (strcmp(a->peer_urls[i], b->peer_urls[i]) != 0)
            return false;
    return true;
}

void node_sync_peers(node_t *n)
{
    if (n->cfg.transport == NULL)
        return;
    for (size_t i = 0; i < n->members.n; i++) {
        const membership_member_t *mb = &n->members.members[i];
        if (mb->id == n->cfg.member_id)
            continue;
        /* Only what changed: updating a peer reopens its connections. */
        const membership_member_t *was = membership_find(&n->synced, mb->id);
        if (was != NULL && same_peer_urls(was, mb))
            continue;
        const char *const *urls = (const char *const *)mb->peer_urls;
        if (peer_add(n->cfg.transport, mb->id, urls, mb->n_peer_urls) == PEER_EEXIST)
            peer_update(n->cfg.transport, mb->id, urls, mb->n_peer_urls);
    }
    membership_free(&n->synced);
    membership_copy(&n->synced, &n->members);
    for (size_t i = 0; i < n->members.n_removed; i++)
        if (n->members.removed[i] != n->cfg.member_id)
            peer_remove(n->cfg.transport, n->members.removed[i]);
}

static follower_stats_t *follower(node_t *n, uint64_t id)
{
    for (size_t i = 0; i < n->n_followers; i++)
        if (n->followers[i].id == id)
            return &n->followers[i];
    n->followers = realloc(n->followers, (n->n_followers + 1) * sizeof(*n->followers));
    if (n->followers == NULL)
        abort();
    follower_stats_t *f = &n->followers[n->n_followers++];
    memset(f, 0, sizeof(*f));
    f->id = id;
    return f;
}

/* Messages a leader sends: they may go before its own copy is durable
 * (Raft thesis 10.2.1); every other message promises durable state. */
static bool leader_message(uint8_t type)
{
    return type == RAFT_MSG_APP || type == RAFT_MSG_HEARTBEAT || type == RAFT_MSG_SNAP ||
           type == RAFT_MSG_TIMEOUT_NOW;
}

void node_send_messages(node_t *n, bool early)
{
    struct raft_ready *rd = &n->rd;
    bool already = n->rd_sent;
    if (early)
        n->rd_sent = true;
    if (n->cfg.transport == NULL)
        return;
    for (size_t i = 0; i < rd->n_messages; i++) {
        const struct raft_message *m = &rd->messages[i];
        bool lead = leader_message(m->type);
        if (early ? !lead : (already && lead))
            continue;
        if (m->type == RAFT_MSG_APP)
            n->app_sent++;
        if (m->type == RAFT_MSG_HEARTBEAT) {
            follower_stats_t *f = follower(n, m->to);
            if (f->hb_sent_ns == 0)
                f->hb_sent_ns = node_now_mono();
        }
        peer_send(n->cfg.transport, m);
    }
}

void node_step(node_t *n, const struct raft_message *m)
{
    if (n->raft == NULL || n->removed)
        return;
    if (m->type == RAFT_MSG_HEARTBEAT_RESP) {
        follower_stats_t *f = follower(n, m->from);
        if (f->hb_sent_ns != 0) {
            /* etcd's LeaderStats time each append's round trip; heartbeats
             * measure the same link without depending on load. */
            double ms = (double)(node_now_mono() - f->hb_sent_ns) / 1e6;
            f->hb_sent_ns = 0;
            f->current_ms = ms;
            if (f->samples == 0 || ms < f->min_ms)
                f->min_ms = ms;
            if (ms > f->max_ms)
                f->max_ms = ms;
            f->sum_ms += ms;
            f->sum_sq_ms += ms * ms;
            f->samples++;
        }
    } else if (m->type == RAFT_MSG_APP) {
        n->app_received++;
    } else if (m->type == RAFT_MSG_APP_RESP) {
        follower_stats_t *f = follower(n, m->from);
        if (m->reject)
            f->fail++;
        else
            f->success++;
    }
    int rc = raft_step(n->raft, m);
    if (rc != 0 && rc != RAFT_ESTEPPEERNOTFOUND)
        log_line('D', "raft", "step %s from %" PRIx64 ": %s", raft_msg_type_name(m->type), m->from,
                 raft_strerror(rc));
    node_check_leader(n);
}

void node_report_unreachable(node_t *n, uint64_t id)
{
    if (n->raft == NULL)
        return;
    follower(n, id)->fail++;
    raft_report_unreachable(n->raft, id);
}

void node_report_snapshot(node_t *n, uint64_t id, bool failed)
{
    if (n->raft != NULL)
        raft_report_snapshot(n->raft, id, failed);
}

size_t node_followers(const node_t *n, node_follower_info_t *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n->n_followers && k < max; i++) {
        const follower_stats_t *f = &n->followers[i];
        if (f->id == n->cfg.member_id || membership_find(&n->members, f->id) == NULL)
            continue;
        node_follower_info_t *o = &out[k++];
        memset(o, 0, sizeof(*o));
        o->id = f->id;
        o->samples = f->samples;
        o->current_ms = f->current_ms;
        o->min_ms = f->min_ms;
        o->max_ms = f->max_ms;
        if (f->samples > 0) {
            o->average_ms = f->sum_ms / (double)f->samples;
            double var = f->sum_sq_ms / (double)f->samples - o->average_ms * o->average_ms;
            o->stddev_ms = 0;
            if (var > 0) {
                /* Newton's square root: no libm needed for one figure. */
                double x = var;
                for (int it = 0; it < 30; it++)
                    x = 0.5 * (x + var / x);
                o->stddev_ms = x;
            }
        }
        o->success = f->success;
        o->fail = f->fail;
    }
    return k;
}

/* ---- configuration changes ---- */

void node_apply_conf_change(node_t *n, const struct raft_entry *e)
{
    struct raft_conf_change cc;
    if (raft_decode_conf_change(e->data, e->len, &cc) != 0) {
        log_line('E', "etcdserver", "entry %" PRIu64 " is not a configuration change; skipped",
                 e->index);
        return;
    }
    struct raft_conf_state cs = {0};
    int rc = raft_apply_conf_change(n->raft, &cc, &cs);
    if (rc == 0) {
        raft_conf_state_free(&n->conf);
        n->conf = cs;
    } else {
        log_line('E', "etcdserver", "configuration change at %" PRIu64 " refused: %s", e->index,
                 raft_strerror(rc));
    }
    uint64_t proposer = 0, req = 0;
    membership_member_t mb = {0};
    bool have_member = false;
    if (cc.context_len >= CC_CONTEXT_HEADER) {
        proposer = le_get64(cc.context);
        req = le_get64((uint8_t *)cc.context + 8);
        have_member = membership_member_decode((uint8_t *)cc.context + CC_CONTEXT_HEADER,
                                               cc.context_len - CC_CONTEXT_HEADER, &mb) == 0;
    }
    for (size_t i = 0; rc == 0 && i < cc.n_changes; i++) {
        const struct raft_conf_change_single *ch = &cc.changes[i];
        switch (ch->type) {
        case RAFT_CC_ADD_NODE:
        case RAFT_CC_ADD_LEARNER:
            if (have_member && mb.id == ch->node_id) {
                membership_add(&n->members, &mb);
                log_line('I', "etcdserver/membership",
                         "added member %" PRIx64 " %s to cluster %" PRIx64, mb.id,
                         mb.n_peer_urls ? mb.peer_urls[0] : "", n->members.cluster_id);
            }
            break;
        case RAFT_CC_REMOVE_NODE:
            membership_remove(&n->members, ch->node_id);
            log_line('I', "etcdserver/membership",
                     "removed member %" PRIx64 " from cluster %" PRIx64, ch->node_id,
                     n->members.cluster_id);
            if (ch->node_id == n->cfg.member_id && !n->removed) {
                n->removed = true;
                log_line('W', "etcdserver",
                         "the member has been permanently removed from the cluster");
                if (n->cfg.on_removed != NULL)
                    n->cfg.on_removed(n->cfg.cb_ctx);
            }
            break;
        case RAFT_CC_UPDATE_NODE:
            if (have_member && mb.id == ch->node_id) {
                membership_update_peer_urls(&n->members, mb.id, (const char *const *)mb.peer_urls,
                                            mb.n_peer_urls);
                log_line('I', "etcdserver/membership",
                         "updated member %" PRIx64 " in cluster %" PRIx64, mb.id,
                         n->members.cluster_id);
            }
            break;
        default:
            break;
        }
    }
    membership_member_free(&mb);
    raft_conf_change_free(&cc);
    if (n->started)
        node_sync_peers(n);
    waiter_t w;
    if (proposer == n->cfg.member_id && req != 0 && waiters_take(n, req, &w)) {
        if (rc == 0) {
            w.cb(w.ctx, 0, NULL, NULL);
        } else {
            store_error_t err = {0};
            store_error_set(&err, STORE_E_RAFT_INTERNAL, "etcdserver: configuration change refused",
                            0);
            w.cb(w.ctx, -STORE_E_RAFT_INTERNAL, NULL, &err);
            store_error_clear(&err);
        }
    }
}

int node_propose_member(node_t *n, node_member_op_t op, const membership_member_t *mb,
                        node_done_cb cb, void *cb_ctx, store_error_t *err)
{
    if (n->raft == NULL || n->lead == RAFT_NONE || n->removed)
        return store_error_set(err, STORE_E_RAFT_INTERNAL, "etcdserver: no leader", 0);
    uint64_t id = ++n->next_request_id;
    uint8_t *menc = NULL;
    size_t mlen = 0;
    membership_member_encode(mb, &menc, &mlen);
    uint8_t *ctx = malloc(CC_CONTEXT_HEADER + mlen);
    if (ctx == NULL)
        abort();
    le_put64(ctx, n->cfg.member_id);
    le_put64(ctx + 8, id);
    memcpy(ctx + CC_CONTEXT_HEADER, menc, mlen);
    free(menc);
    struct raft_conf_change_single ch = {.node_id = mb->id};
    ch.type = op == NODE_MEMBER_ADD      ? RAFT_CC_ADD_NODE
              : op == NODE_MEMBER_REMOVE ? RAFT_CC_REMOVE_NODE
                                         : RAFT_CC_UPDATE_NODE;
    struct raft_conf_change cc = {
        .changes = &ch, .n_changes = 1, .context = ctx, .context_len = CC_CONTEXT_HEADER + mlen};
    waiters_push(
        &n->waiters,
        (waiter_t){id, cb, cb_ctx, node_now_mono() + (int64_t)n->cfg.request_timeout_ms * 1000000});
    int rc = raft_propose_conf_change(n->raft, &cc);
    free(ctx);
    if (rc != 0) {
        n->waiters.n--;
        return store_error_set(err, STORE_E_RAFT_INTERNAL,
                               rc == RAFT_ENOLEADER ? "etcdserver: no leader"
                                                    : "etcdserver: configuration change dropped",
                               0);
    }
    return 0;
}

/* The conf-change entry that adds mb at bootstrap (proposer 0: nobody
 * waits). *out is malloc'd; the caller frees it. */
void node_bootstrap_entry(const membership_member_t *mb, uint8_t **out, size_t *len);
void node_bootstrap_entry(const membership_member_t *mb, uint8_t **out, size_t *len)
{
    uint8_t *menc = NULL;
    size_t mlen = 0;
    membership_member_encode(mb, &menc, &mlen);
    uint8_t *ctx = calloc(1, CC_CONTEXT_HEADER + mlen);
    if (ctx == NULL)
        abort();
    memcpy(ctx + CC_CONTEXT_HEADER, menc, mlen);
    free(menc);
    struct raft_conf_change_single ch = {.type = RAFT_CC_ADD_NODE, .node_id = mb->id};
    struct raft_conf_change cc = {
        .changes = &ch, .n_changes = 1, .context = ctx, .context_len = CC_CONTEXT_HEADER + mlen};
    struct raft_buf b = {0};
    if (raft_encode_conf_change(&b, &cc) != 0)
        abort();
    free(ctx);
    *out = b.data;
    *len = b.len;
}

/* The conf-change entry that removes member id, proposed by nobody (used
 * by --force-new-cluster). *out is malloc'd; the caller frees it. */
void node_removal_entry(uint64_t id, uint8_t **out, size_t *len);
void node_removal_entry(uint64_t id, uint8_t **out, size_t *len)
{
    uint8_t ctx[CC_CONTEXT_HEADER] = {0};
    struct raft_conf_change_single ch = {.type = RAFT_CC_REMOVE_NODE, .node_id = id};
    struct raft_conf_change cc = {
        .changes = &ch, .n_changes = 1, .context = ctx, .context_len = sizeof(ctx)};
    struct raft_buf b = {0};
    if (raft_encode_conf_change(&b, &cc) != 0)
        abort();
    *out = b.data;
    *len = b.len;
}

/* ---- attributes ---- */

void node_apply_attributes(node_t *n, uint64_t index, uint64_t from, const uint8_t *data,
                           size_t len)
{
    membership_member_t mb;
    if (membership_member_decode(data, len, &mb) != 0 || mb.id != from) {
        log_line('E', "etcdserver", "member attributes from %" PRIx64 " are malformed", from);
        return;
    }
    if (membership_set_attributes(&n->members, mb.id, mb.name, (const char *const *)mb.client_urls,
                                  mb.n_client_urls) == 0) {
        log_line('I', "etcdserver", "published {Name:%s} of member %" PRIx64 " to cluster %" PRIx64,
                 mb.name, mb.id, n->members.cluster_id);
        /* Only an entry proposed by this run counts: the ones replayed from
         * the log were published by an earlier start. */
        if (mb.id == n->cfg.member_id && index > n->boot_index)
            n->published = true;
    }
    membership_member_free(&mb);
}

/* A member publishes its name and client URLs through raft once it has a
 * leader, and again until it sees them applied (etcd's publish loop). Like
 * etcd it does so on every start, even with unchanged attributes: a member
 * is ready (healthy) only once an entry of its own run is committed and
 * applied, so its commit index is past everything an earlier run acknowledged. */
static void publish(node_t *n, int64_t now)
{
    const membership_member_t *self = membership_find(&n->members, n->cfg.member_id);
    if (self == NULL || n->removed)
        return;
    if (now < n->publish_at)
        return;
    n->publish_at =
        now + (int64_t)(n->cfg.request_timeout_ms ? n->cfg.request_timeout_ms : 1000) * 1000000;
    membership_member_t mb = {.id = n->cfg.member_id,
                              .name = (char *)(n->cfg.name ? n->cfg.name : ""),
                              .client_urls = (char **)n->cfg.client_urls,
                              .n_client_urls = n->cfg.n_client_urls};
    uint8_t *enc = NULL;
    size_t len = 0;
    membership_member_encode(&mb, &enc, &len);
    node_propose_attributes(n, enc, len);
    free(enc);
}

/* ---- reads and proposals that wait for a leader ---- */

int node_read_barrier(node_t *n, void (*done)(void *ctx, int rc, store_error_t *err), void *ctx)
{
    if (n->n_reads == n->cap_reads) {
        n->cap_reads = n->cap_reads ? n->cap_reads * 2 : 16;
        n->reads = realloc(n->reads, n->cap_reads * sizeof(*n->reads));
        if (n->reads == NULL)
            abort();
    }
    int64_t now = node_now_mono();
    n->reads[n->n_reads++] = (read_waiter_t){
        .id = ++n->next_read_id,
        .done = done,
        .ctx = ctx,
        .deadline = now + (int64_t)n->cfg.request_timeout_ms * 1000000,
    };
    node_retry(n, now);
    return 0;
}

void node_note_read_states(node_t *n)
{
    for (size_t i = 0; i < n->rd.n_read_states; i++) {
        const struct raft_read_state *rs = &n->rd.read_states[i];
        if (rs->context_len != 8)
            continue;
        uint64_t id = le_get64(rs->context);
        for (size_t j = 0; j < n->n_reads; j++)
            if (n->reads[j].id == id && n->reads[j].index == 0)
                n->reads[j].index = rs->index;
    }
    node_answer_reads(n);
}

void node_answer_reads(node_t *n)
{
    size_t keep = 0;
    for (size_t i = 0; i < n->n_reads; i++) {
        read_waiter_t r = n->reads[i];
        /* Linearizable once this member has applied the read index (thesis
         * 6.4: the leader confirmed it still leads at that index). */
        if (r.index != 0 && r.index <= n->applied)
            r.done(r.ctx, 0, NULL);
        else
            n->reads[keep++] = r;
    }
    n->n_reads = keep;
}

void node_retry(node_t *n, int64_t now)
{
    if (n->raft == NULL || n->lead == RAFT_NONE)
        return;
    /* Proposals kept while no leader was known, in their order. */
    size_t done = 0;
    while (done < n->n_pending) {
        pending_prop_t *p = &n->pending[done];
        if (raft_propose(n->raft, p->data, p->len) != 0)
            break;
        free(p->data);
        done++;
    }
    /* n->pending stays NULL until a proposal first waits for a leader, and
     * memmove with a NULL pointer is undefined even for 0 bytes (C11
     * 7.24.1p2; UBSan reports it on every leader change). */
    if (done > 0) {
        memmove(n->pending, n->pending + done, (n->n_pending - done) * sizeof(*n->pending));
        n->n_pending -= done;
    }
    /* Reads: asked once a leader is known, and again if a leader change
     * lost the request (etcd's read loop retries the same way). */
    int64_t again = (int64_t)(n->cfg.election_ms ? n->cfg.election_ms : 1000) * 1000000;
    for (size_t i = 0; i < n->n_reads; i++) {
        read_waiter_t *r = &n->reads[i];
        if (r->index != 0 || (r->issued && r->reissue > now))
            continue;
        uint8_t ctx[8];
        le_put64(ctx, r->id);
        if (raft_read_index(n->raft, ctx, sizeof(ctx)) == 0) {
            r->issued = true;
            r->reissue = now + again;
        }
    }
    if (!n->published)
        publish(n, now);
}

/* ---- leadership transfer ---- */

bool node_transfer_leadership(node_t *n, unsigned timeout_ms)
{
    if (n->raft == NULL || n->lead != n->cfg.member_id || n->conf.n_voters < 2)
        return false;
    uint64_t to = 0;
    for (size_t i = 0; i < n->conf.n_voters && to == 0; i++) {
        uint64_t id = n->conf.voters[i];
        if (id == n->cfg.member_id)
            continue;
        struct peer_stats st;
        if (n->cfg.transport == NULL || (peer_stats(n->cfg.transport, id, &st) == 0 && st.active))
            to = id;
    }
    if (to == 0)
        return false;
    log_line('I', "etcdserver", "%" PRIx64 " starts leadership transfer to %" PRIx64,
             n->cfg.member_id, to);
    raft_transfer_leader(n->raft, to);
    int64_t end = node_now_mono() + (int64_t)timeout_ms * 1000000;
    while (node_now_mono() < end) {
        node_process(n);
        h2o_evloop_run(n->loop, 10);
        node_process(n);
        if (n->lead != n->cfg.member_id && n->lead != RAFT_NONE) {
            log_line('I', "etcdserver", "leadership transferred from %" PRIx64 " to %" PRIx64,
                     n->cfg.member_id, n->lead);
            return true;
        }
    }
    log_line('W', "etcdserver", "leadership transfer to %" PRIx64 " did not finish in %u ms", to,
             timeout_ms);
    return false;
}
