/*
 * Taking a store snapshot without stopping the loop. A forked child holds a
 * copy-on-write image of the store as it was at the fork, streams
 * store_save() into snap_save_stream() and exits; the parent keeps serving
 * and learns the outcome when the child's end of a pipe closes. A store on
 * lmdb or leveldb is instead written by a thread from the engine's read
 * view (store_saver_run), which needs neither the tree in memory nor a
 * fork; its end of the pipe closes the same way. Only one snapshot runs at
 * a time.
 */
#ifndef METCD_SNAPSHOTTER_H
#define METCD_SNAPSHOTTER_H

#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <h2o.h>

#include "store/store.h"

/* status: 0 when the snapshot file (term, index) is durable, else -1. */
typedef void (*snapshotter_done_cb)(void *arg, int status, uint64_t index, uint64_t term);

typedef struct snapshotter {
    h2o_evloop_t *loop;
    const char *dir; /* borrowed */
    snapshotter_done_cb done;
    void *done_arg;
    pid_t pid; /* > 0 while a child runs */
    h2o_socket_t *sock;
    uint64_t index, term;
    /* The thread variant: running while saver is set. */
    store_saver_t *saver;
    pthread_t thread;
    int thread_fd; /* the thread's end of the pipe */
    int thread_rc;
    uint8_t *prefix; /* the thread's copy */
    size_t prefix_len;
    /* Test hook (node_config_t.crash_point), called as "snapshot-save" by
     * the child or thread before it writes; NULL in production. */
    void (*hook)(const char *where);
} snapshotter_t;

void snapshotter_init(snapshotter_t *ss, h2o_evloop_t *loop, const char *dir,
                      snapshotter_done_cb done, void *done_arg);

/*
 * Starts saving `prefix` (borrowed; the cluster section, see
 * node_encode_cluster_state) followed by `store` (the state after applying
 * raft entry `index` of `term`). The child has its own copy of both, so the
 * caller may free prefix when this returns. Returns 0, or -1 (fork or pipe
 * failed: nothing started). done is called later on the loop thread.
 */
int snapshotter_start(snapshotter_t *ss, const store_t *store, uint64_t index, uint64_t term,
                      const uint8_t *prefix, size_t prefix_len);

/*
 * The same from a saver (store_saver_new), written by a thread; the
 * snapshotter owns sv from here (freed on the loop thread when the thread
 * is done, or at once when this fails). Returns 0 or -1.
 */
int snapshotter_start_saver(snapshotter_t *ss, store_saver_t *sv, uint64_t index, uint64_t term,
                            const uint8_t *prefix, size_t prefix_len);

bool snapshotter_busy(const snapshotter_t *ss);

/* Kills a running child, or stops a running thread, and waits for it
 * (shutdown); done is not called. */
void snapshotter_cancel(snapshotter_t *ss);

#endif /* METCD_SNAPSHOTTER_H */
