/*
 * Crash test: a child process appends and syncs entries and reports each
 * durable index over a pipe; the parent SIGKILLs it at a random moment,
 * reopens the log and checks that every entry reported durable is there,
 * intact. Seeded (METCD_SEED, default 1) and bounded (ROUNDS rounds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/wal/wal_test_util.h"

#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define ROUNDS 30
#define SEG    (64 * 1024)

static void fill(uint8_t *buf, uint64_t index, size_t len)
{
    uint64_t x = index * 0x9E3779B97F4A7C15ull + 7;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)(x | 1);
    }
}

static size_t len_of(uint64_t index)
{
    return 1 + (size_t)(index * 131 % 700);
}

static void quiet(void *arg, const char *line)
{
    (void)arg, (void)line;
}

/* The child: never returns. */
static void child(const char *dir, int wfd, unsigned seed)
{
    wal_options_t o = {.dir = dir, .segment_size = SEG, .log = quiet};
    wal_t *w;
    wal_read_result_t r;
    char err[512];
    int rc = wal_open(&w, &o, 0, 0, &r, err, sizeof(err));
    if (rc == -ENOENT)
        rc = wal_create(&w, &o, "crash", 5, err, sizeof(err));
    else
        wal_read_result_free(&r);
    if (rc) {
        fprintf(stderr, "child: %s\n", err);
        _exit(2);
    }
    uint64_t next = wal_last_index(w) + 1;
    uint8_t buf[1024];
    srand(seed);
    for (;;) {
        int n = 1 + rand() % 40;
        for (int i = 0; i < n; i++, next++) {
            size_t l = len_of(next);
            fill(buf, next, l);
            if (wal_append_entry(w, next, 1, 0, buf, l))
                _exit(3);
        }
        wal_hard_state_t hs = {1, 1, next - 1};
        wal_append_hard_state(w, &hs);
        if (wal_sync(w))
            _exit(4);
        uint64_t durable = next - 1;
        if (write(wfd, &durable, sizeof(durable)) != sizeof(durable))
            _exit(5);
    }
}

static void test_crash(void **state)
{
    (void)state;
    const char *s = getenv("METCD_SEED");
    unsigned seed = s ? (unsigned)strtoul(s, NULL, 10) : 1;
    srand(seed);
    char *dir = make_tmpdir();
    uint64_t reported = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        unsigned cseed = (unsigned)rand();
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child(dir, p[1], cseed);
        }
        close(p[1]);
        /* let it write for a while: first wait for one report, then a
         * random 0-40 ms, then kill */
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        assert_true(poll(&pf, 1, 20000) == 1);
        struct timespec ts = {0, (long)(rand() % 40) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        uint64_t v;
        ssize_t got;
        while ((got = read(p[0], &v, sizeof(v))) == sizeof(v))
            if (v > reported)
                reported = v;
        close(p[0]);

        wal_options_t o = {.dir = dir, .segment_size = SEG, .log = quiet};
        wal_t *w;
        wal_read_result_t r;
        char err[512] = "";
        int rc = wal_open(&w, &o, 0, 0, &r, err, sizeof(err));
        if (rc)
            fail_msg("round %d: reopen failed: %d %s", round, rc, err);
        if (r.n_entries < reported)
            fail_msg("round %d: %zu entries, %" PRIu64 " were reported durable", round, r.n_entries,
                     reported);
        uint8_t buf[1024];
        for (size_t i = 0; i < r.n_entries; i++) {
            const wal_entry_t *e = &r.entries[i];
            assert_int_equal(e->index, i + 1);
            assert_int_equal(e->len, len_of(e->index));
            fill(buf, e->index, e->len);
            assert_memory_equal(e->data, buf, e->len);
        }
        assert_memory_equal(r.metadata, "crash", 5);
        wal_read_result_free(&r);
        wal_close(w);
    }
    assert_true(reported > 0);
    print_message("seed %u: %d kills, %" PRIu64 " entries durable, %zu segments\n", seed, ROUNDS,
                  reported, count_files(dir, ".wal"));
    rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
