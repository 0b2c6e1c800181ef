#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snap/snap.h"
#include "common/log.h"
#include "src/server/snapshotter.h"

void snapshotter_init(snapshotter_t *ss, h2o_evloop_t *loop, const char *dir,
                      snapshotter_done_cb done, void *done_arg)
{
    memset(ss, 0, sizeof(*ss));
    ss->loop = loop;
    ss->dir = dir;
    ss->done = done;
    ss->done_arg = done_arg;
}

bool snapshotter_busy(const snapshotter_t *ss)
{
    return ss->pid > 0 || ss->saver != NULL;
}

static int write_to_snap(void *ctx, const void *buf, size_t len)
{
    return snap_writer_write(ctx, buf, len);
}

typedef struct produce_arg {
    const store_t *store;
    const uint8_t *prefix;
    size_t prefix_len;
} produce_arg_t;

static int produce(void *arg, snap_writer_t *sw)
{
    const produce_arg_t *a = arg;
    if (a->prefix_len > 0 && snap_writer_write(sw, a->prefix, a->prefix_len) != 0)
        return -1;
    return store_save(a->store, write_to_snap, sw);
}

/* The child: no loop, no threads, only the frozen store and the files. */
static void child_main(snapshotter_t *ss, const produce_arg_t *arg, int keep_fd, pid_t parent)
{
    /*
     * Die with the parent: a member killed while its snapshot child runs
     * must not leave a writer behind when it restarts on the directory.
     */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    /* Drop every inherited descriptor (sockets, the WAL, the data directory
     * lock) but stderr and the pipe that tells the parent we are done. */
    for (int fd = 3; fd < keep_fd; fd++)
        close(fd);
    closefrom(keep_fd + 1);
    if (ss->hook)
        ss->hook("snapshot-save");
    char err[512] = "";
    int rc = snap_save_stream(ss->dir, ss->term, ss->index, produce, (void *)arg, err, sizeof(err));
    if (rc != 0) {
        log_line('E', "etcdserver", "failed to save the snapshot at index %" PRIu64 ": %s",
                 ss->index, err);
        _exit(1);
    }
    _exit(0);
}

/* Ends the thread variant: joins it, frees what it used; its status. */
static int thread_finish(snapshotter_t *ss)
{
    pthread_join(ss->thread, NULL);
    store_saver_free(ss->saver);
    ss->saver = NULL;
    free(ss->prefix);
    ss->prefix = NULL;
    return ss->thread_rc == 0 ? 0 : -1;
}

static void on_child_done(h2o_socket_t *sock, const char *err)
{
    snapshotter_t *ss = sock->data;
    (void)err;
    /* The pipe only ever reaches EOF: the child has exited (or is exiting). */
    h2o_socket_read_stop(sock);
    h2o_socket_close(sock);
    ss->sock = NULL;
    if (ss->saver) {
        int status = thread_finish(ss);
        ss->done(ss->done_arg, status, ss->index, ss->term);
        return;
    }
    int st = 0;
    pid_t r;
    do
        r = waitpid(ss->pid, &st, 0);
    while (r < 0 && errno == EINTR);
    ss->pid = 0;
    int status = (r > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) ? 0 : -1;
    ss->done(ss->done_arg, status, ss->index, ss->term);
}

int snapshotter_start(snapshotter_t *ss, const store_t *store, uint64_t index, uint64_t term,
                      const uint8_t *prefix, size_t prefix_len)
{
    if (ss->pid > 0)
        return -1;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    ss->index = index;
    ss->term = term;
    pid_t parent = getpid();
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        produce_arg_t arg = {store, prefix, prefix_len};
        child_main(ss, &arg, p[1], parent);
    }
    close(p[1]);
    ss->pid = pid;
    ss->sock = h2o_evloop_socket_create(ss->loop, p[0], H2O_SOCKET_FLAG_DONT_READ);
    ss->sock->data = ss;
    h2o_socket_read_start(ss->sock, on_child_done);
    return 0;
}

static int produce_saver(void *arg, snap_writer_t *sw)
{
    snapshotter_t *ss = arg;
    if (ss->prefix_len > 0 && snap_writer_write(sw, ss->prefix, ss->prefix_len) != 0)
        return -1;
    return store_saver_run(ss->saver, write_to_snap, sw);
}

static void *thread_main(void *arg)
{
    snapshotter_t *ss = arg;
    if (ss->hook)
        ss->hook("snapshot-save");
    char err[512] = "";
    ss->thread_rc =
        snap_save_stream(ss->dir, ss->term, ss->index, produce_saver, ss, err, sizeof(err));
    if (ss->thread_rc != 0)
        log_line('E', "etcdserver", "failed to save the snapshot at index %" PRIu64 ": %s",
                 ss->index, err);
    close(ss->thread_fd); /* the loop sees EOF: done */
    return NULL;
}

int snapshotter_start_saver(snapshotter_t *ss, store_saver_t *sv, uint64_t index, uint64_t term,
                            const uint8_t *prefix, size_t prefix_len)
{
    int p[2];
    if (snapshotter_busy(ss) || pipe2(p, O_CLOEXEC) != 0) {
        store_saver_free(sv);
        return -1;
    }
    ss->index = index;
    ss->term = term;
    ss->saver = sv;
    ss->thread_fd = p[1];
    ss->thread_rc = -1;
    ss->prefix_len = prefix_len;
    ss->prefix = malloc(prefix_len ? prefix_len : 1);
    if (ss->prefix == NULL)
        abort();
    memcpy(ss->prefix, prefix, prefix_len);
    if (pthread_create(&ss->thread, NULL, thread_main, ss) != 0) {
        close(p[0]);
        close(p[1]);
        store_saver_free(sv);
        ss->saver = NULL;
        free(ss->prefix);
        ss->prefix = NULL;
        return -1;
    }
    ss->sock = h2o_evloop_socket_create(ss->loop, p[0], H2O_SOCKET_FLAG_DONT_READ);
    ss->sock->data = ss;
    h2o_socket_read_start(ss->sock, on_child_done);
    return 0;
}

void snapshotter_cancel(snapshotter_t *ss)
{
    if (ss->saver) {
        store_saver_cancel(ss->saver);
        thread_finish(ss);
        if (ss->sock != NULL) {
            h2o_socket_read_stop(ss->sock);
            h2o_socket_close(ss->sock);
            ss->sock = NULL;
        }
        return;
    }
    if (ss->pid <= 0)
        return;
    kill(ss->pid, SIGKILL);
    while (waitpid(ss->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    ss->pid = 0;
    if (ss->sock != NULL) {
        h2o_socket_read_stop(ss->sock);
        h2o_socket_close(ss->sock);
        ss->sock = NULL;
    }
}
