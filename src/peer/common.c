/* src/peer/common.c - error strings, allocation policy and config checks
 * shared by the TCP and in-memory transports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/peer/peer_int.h"

const char *peer_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define PEER_ERR_CASE(name, code, msg)                                                             \
    case code:                                                                                     \
        return msg;
        PEER_ERRORS(PEER_ERR_CASE)
#undef PEER_ERR_CASE
    default:
        return "unknown peer transport error";
    }
}

void peer_oom(size_t n)
{
    fprintf(stderr, "metcd: out of memory allocating %zu bytes in the peer transport\n", n);
    abort();
}

void *peer_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        peer_oom(n);
    return p;
}

void *peer_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        peer_oom(n * size);
    return p;
}

void *peer_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        peer_oom(n);
    return q;
}

char *peer_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = peer_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void peer_config_defaults(struct peer_config *c)
{
    if (c->version == NULL)
        c->version = "3.4.23";
    /* etcd's streams buffer 4096 messages (streamBufSize) before dropping. */
    if (c->queue_len == 0)
        c->queue_len = 4096;
    if (c->backoff_min_ms == 0)
        c->backoff_min_ms = 100;
    if (c->backoff_max_ms == 0)
        c->backoff_max_ms = 1000;
    if (c->backoff_max_ms < c->backoff_min_ms)
        c->backoff_max_ms = c->backoff_min_ms;
    if (c->handshake_ms == 0)
        c->handshake_ms = 5000;
    if (c->max_frame == 0)
        c->max_frame = PEER_DEFAULT_MAX_FRAME;
}

int peer_check_outgoing(const struct peer_config *c, const struct raft_message *m)
{
    switch (m->type) {
    case RAFT_MSG_HUP:
    case RAFT_MSG_BEAT:
    case RAFT_MSG_UNREACHABLE:
    case RAFT_MSG_SNAP_STATUS:
    case RAFT_MSG_CHECK_QUORUM:
        return PEER_EINVAL; /* local messages never leave the node */
    default:
        break;
    }
    if (m->type >= RAFT_MSG_TYPE_COUNT || m->from != c->self_id || m->to == 0 ||
        m->to == c->self_id)
        return PEER_EINVAL;
    return 0;
}

bool peer_log_allow(struct peer_log_limit *slots, uint64_t id, int what)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1;
    struct peer_log_limit *oldest = &slots[0];
    for (int i = 0; i < PEER_LOG_LIMIT_SLOTS; i++) {
        struct peer_log_limit *l = &slots[i];
        if (l->at_ms != 0 && l->id == id && l->what == what) {
            if (now - l->at_ms < 60000)
                return false;
            l->at_ms = now;
            return true;
        }
        if (l->at_ms < oldest->at_ms)
            oldest = l;
    }
    *oldest = (struct peer_log_limit){id, what, now};
    return true;
}

bool peer_tls_dial_ok(const char *err)
{
    return err == NULL || err == h2o_socket_error_ssl_cert_name_mismatch ||
           err == h2o_socket_error_ssl_cert_invalid;
}
