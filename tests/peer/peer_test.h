/* tests/peer/peer_test.h - a loop, member fixtures and bounded waits for
 * the peer transport tests. Every wait is bounded by a deadline. */
#ifndef METCD_TESTS_PEER_TEST_H
#define METCD_TESTS_PEER_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>

#include "src/peer/peer.h"

#define MAX_RECORDED 8192

/* One member under test: its transport and what its handler saw. */
struct member {
    uint64_t id;
    peer_transport_t *t;
    int port; /* TCP: the listening port */
    char url[64];
    /* received messages, in arrival order */
    uint8_t types[MAX_RECORDED];
    uint64_t froms[MAX_RECORDED];
    uint64_t indexes[MAX_RECORDED];
    size_t n_received;
    size_t n_snap_msgs;
    uint64_t unreachable[16]; /* count per peer id (ids < 16) */
    int snap_sent_ok, snap_sent_failed;
    int removed_by;
    /* snapshots: the file to send, and where received ones go */
    const char *snap_source;
    bool refuse_snapshots;
    char snap_dest[64];
    int snap_end_ok, snap_end_failed;
};

static h2o_evloop_t *test_loop;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop until cond(arg) holds or `ms` pass; returns cond(arg). */
static bool run_until(bool (*cond)(void *), void *arg, unsigned ms)
{
    uint64_t deadline = now_ms() + ms;
    while (!cond(arg)) {
        if (now_ms() >= deadline)
            return false;
        h2o_evloop_run(test_loop, 10);
    }
    return true;
}

/* Runs the loop for about `ms`. */
static void run_for(unsigned ms)
{
    uint64_t deadline = now_ms() + ms;
    while (now_ms() < deadline)
        h2o_evloop_run(test_loop, 10);
}

/* ---- handler -------------------------------------------------------------- */

static void h_on_message(void *ctx, const struct raft_message *m)
{
    struct member *mb = ctx;
    assert_int_equal(m->to, mb->id);
    if (mb->n_received < MAX_RECORDED) {
        mb->types[mb->n_received] = m->type;
        mb->froms[mb->n_received] = m->from;
        mb->indexes[mb->n_received] = m->index;
    }
    mb->n_received++;
    if (m->type == RAFT_MSG_SNAP)
        mb->n_snap_msgs++;
}

static void h_on_unreachable(void *ctx, uint64_t id)
{
    struct member *mb = ctx;
    if (id < 16)
        mb->unreachable[id]++;
}

static void h_on_snapshot_sent(void *ctx, uint64_t id, bool failed)
{
    (void)id;
    struct member *mb = ctx;
    if (failed)
        mb->snap_sent_failed++;
    else
        mb->snap_sent_ok++;
}

static void h_on_removed(void *ctx, uint64_t by)
{
    struct member *mb = ctx;
    mb->removed_by = (int)by;
}

static int h_snapshot_open(void *ctx, uint64_t index, uint64_t term, uint64_t *size)
{
    (void)index;
    (void)term;
    struct member *mb = ctx;
    if (mb->snap_source == NULL)
        return -1;
    int fd = open(mb->snap_source, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    off_t end = lseek(fd, 0, SEEK_END);
    lseek(fd, 0, SEEK_SET);
    *size = (uint64_t)end;
    return fd;
}

static int h_snapshot_receive_begin(void *ctx, uint64_t from, uint64_t index, uint64_t term,
                                    uint64_t size)
{
    (void)from;
    (void)index;
    (void)term;
    (void)size;
    struct member *mb = ctx;
    if (mb->refuse_snapshots)
        return -1;
    snprintf(mb->snap_dest, sizeof(mb->snap_dest), "/tmp/metcd-peer-snap-XXXXXX");
    return mkstemp(mb->snap_dest);
}

static int h_snapshot_receive_end(void *ctx, int fd, bool ok)
{
    struct member *mb = ctx;
    close(fd);
    if (ok)
        mb->snap_end_ok++;
    else
        mb->snap_end_failed++;
    return ok ? 0 : -1;
}

static int h_http(void *ctx, const char *method, const char *path, char **body, size_t *len,
                  const char **ctype)
{
    struct member *mb = ctx;
    (void)method;
    char buf[128];
    if (strcmp(path, "/members") == 0)
        snprintf(buf, sizeof(buf), "[{\"id\":\"%llx\"}]", (unsigned long long)mb->id);
    else if (strcmp(path, "/version") == 0)
        snprintf(buf, sizeof(buf), "{\"etcdserver\":\"3.4.23\",\"etcdcluster\":\"3.4.0\"}");
    else
        return 404;
    *body = strdup(buf);
    *len = strlen(buf);
    *ctype = "application/json";
    return 200;
}

static struct peer_config member_config(struct member *mb, uint64_t id, uint64_t cluster)
{
    mb->id = id;
    struct peer_config cfg = {
        .loop = test_loop,
        .self_id = id,
        .cluster_id = cluster,
        .backoff_min_ms = 20,
        .backoff_max_ms = 100,
        .handshake_ms = 2000,
        .handler =
            {
                .ctx = mb,
                .on_message = h_on_message,
                .on_unreachable = h_on_unreachable,
                .on_snapshot_sent = h_on_snapshot_sent,
                .on_removed = h_on_removed,
                .snapshot_open = h_snapshot_open,
                .snapshot_receive_begin = h_snapshot_receive_begin,
                .snapshot_receive_end = h_snapshot_receive_end,
                .http = h_http,
            },
    };
    return cfg;
}

static struct raft_message heartbeat(uint64_t from, uint64_t to, uint64_t index)
{
    struct raft_message m = {.type = RAFT_MSG_HEARTBEAT, .from = from, .to = to, .term = 1};
    m.index = index;
    return m;
}

#endif
