/*
 * wal-bench: append+fdatasync throughput with group commit, and replay time.
 *
 *   wal-bench DIR [SECONDS] [REPLAY_ENTRIES]
 *
 * For batches of 1, 64 and 512 entries of 100 bytes: append a batch, sync,
 * repeat for SECONDS (default 3). Then "pipelined": the loop keeps appending
 * 64 entries and calling wal_sync_async() while fsyncs are in flight (the
 * server's pattern), with at most 8 batches outstanding. Then writes
 * REPLAY_ENTRIES (default 1000000) entries of 100 bytes and times wal_open()
 * reading them back. DIR must not exist or be empty; it is left behind.
 */
#include "wal/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void quiet(void *arg, const char *line)
{
    (void)arg, (void)line;
}

static wal_t *create(const char *dir, wal_sync_cb cb, void *arg)
{
    wal_options_t o = {.dir = dir, .on_sync = cb, .on_sync_arg = arg, .log = quiet};
    wal_t *w;
    char err[512];
    int rc = wal_create(&w, &o, "bench", 5, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "wal_create: %s\n", err);
        exit(1);
    }
    return w;
}

static void batches(const char *base, int batch, double secs)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/batch-%d", base, batch);
    wal_t *w = create(dir, NULL, NULL);
    uint8_t data[100];
    memset(data, 'x', sizeof(data));
    uint64_t index = 0, syncs = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < batch; i++)
            wal_append_entry(w, ++index, 1, 0, data, sizeof(data));
        if (wal_sync(w)) {
            fprintf(stderr, "sync failed\n");
            exit(1);
        }
        syncs++;
        t = now();
    } while (t - t0 < secs);
    printf("batch %4d: %9.0f entries/s  %7.0f fsyncs/s  %7.3f ms/fsync\n", batch,
           (double)index / (t - t0), (double)syncs / (t - t0), (t - t0) * 1000 / (double)syncs);
    wal_close(w);
}

typedef struct pipe_state {
    uint64_t done_batches;
} pipe_state_t;

static void on_sync(void *arg, const wal_sync_result_t *r)
{
    pipe_state_t *p = arg;
    if (r->status) {
        fprintf(stderr, "batch failed: %d\n", r->status);
        exit(1);
    }
    p->done_batches = r->batch;
}

static void pipelined(const char *base, int batch, double secs)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/pipelined-%d", base, batch);
    pipe_state_t ps = {0};
    wal_t *w = create(dir, on_sync, &ps);
    uint8_t data[100];
    memset(data, 'x', sizeof(data));
    uint64_t index = 0, submitted = wal_sync_async(w);
    ps.done_batches = submitted;
    double t0 = now(), t;
    do {
        while (submitted - ps.done_batches >= 8) {
            struct pollfd p = {.fd = wal_event_fd(w), .events = POLLIN};
            poll(&p, 1, 100);
            wal_poll(w);
        }
        for (int i = 0; i < batch; i++)
            wal_append_entry(w, ++index, 1, 0, data, sizeof(data));
        submitted = wal_sync_async(w);
        wal_poll(w);
        t = now();
    } while (t - t0 < secs);
    while (ps.done_batches < submitted) {
        struct pollfd p = {.fd = wal_event_fd(w), .events = POLLIN};
        poll(&p, 1, 100);
        wal_poll(w);
    }
    t = now();
    printf("pipelined %d/submit: %9.0f entries/s durable\n", batch, (double)index / (t - t0));
    wal_close(w);
}

/* Drops the directory's files from the page cache (they are clean after
 * the syncs), so that the next open reads from the disk. */
static void evict(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        int fd = openat(dirfd(d), de->d_name, O_RDONLY);
        if (fd >= 0) {
            fdatasync(fd);
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
    }
    if (d)
        closedir(d);
}

static double open_once(const char *dir, uint64_t n)
{
    wal_options_t o = {.dir = dir, .log = quiet};
    wal_read_result_t r;
    wal_t *w;
    char err[512];
    double t0 = now();
    int rc = wal_open(&w, &o, 0, 0, &r, err, sizeof(err));
    if (rc || r.n_entries != n) {
        fprintf(stderr, "replay: %d %s (%zu entries)\n", rc, err, r.n_entries);
        exit(1);
    }
    /* touch every entry as a caller would */
    uint64_t sum = 0;
    for (size_t i = 0; i < r.n_entries; i++)
        sum += r.entries[i].data[0] + r.entries[i].len;
    double t = now() - t0;
    if (sum == 0)
        printf("?\n");
    wal_read_result_free(&r);
    wal_close(w);
    return t;
}

static void replay(const char *base, uint64_t n)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/replay", base);
    wal_t *w = create(dir, NULL, NULL);
    uint8_t data[100];
    memset(data, 'y', sizeof(data));
    double t0 = now();
    for (uint64_t i = 1; i <= n; i++) {
        wal_append_entry(w, i, 1, 0, data, sizeof(data));
        if (i % 10000 == 0 && wal_sync(w))
            exit(1);
    }
    wal_sync(w);
    double tw = now() - t0;
    wal_close(w);
    double warm = open_once(dir, n);
    evict(dir);
    double cold = open_once(dir, n);
    printf("replay: wrote %" PRIu64 " entries in %.2f s; wal_open + reading every entry: "
           "%.3f s from the page cache (%.0f entries/s), %.3f s from the disk\n",
           n, tw, warm, (double)n / warm, cold);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: wal-bench DIR [SECONDS] [REPLAY_ENTRIES]\n");
        return 2;
    }
    double secs = argc > 2 ? atof(argv[2]) : 3;
    uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000;
    batches(argv[1], 1, secs);
    batches(argv[1], 64, secs);
    batches(argv[1], 512, secs);
    pipelined(argv[1], 64, secs);
    replay(argv[1], n);
    return 0;
}
