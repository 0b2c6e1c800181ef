/* Unit tests of snap/: save (whole and streamed), load the newest valid,
 * .broken renaming, the accept filter, purge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "snap/snap_int.h"
#include "tests/wal/wal_test_util.h"

static int warnings;
static char last_warning[9000];

static void on_log(void *arg, const char *line)
{
    (void)arg;
    warnings++;
    snprintf(last_warning, sizeof(last_warning), "%s", line);
}

static void fill(uint8_t *p, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

static void save(const char *dir, uint64_t term, uint64_t index, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    fill(p, len, index);
    char err[512];
    assert_int_equal(snap_save(dir, term, index, p, len, err, sizeof(err)), 0);
    free(p);
}

static void expect_loaded(const snap_loaded_t *s, uint64_t term, uint64_t index, size_t len)
{
    assert_int_equal(s->term, term);
    assert_int_equal(s->index, index);
    assert_int_equal(s->len, len);
    uint8_t *p = malloc(len ? len : 1);
    fill(p, len, index);
    assert_memory_equal(s->data, p, len);
    free(p);
}

static char *path_of(const char *dir, uint64_t term, uint64_t index)
{
    char name[64];
    snap_file_name(name, sizeof(name), term, index);
    char *p = malloc(strlen(dir) + 70);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static void test_save_load(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char sub[4200];
    snprintf(sub, sizeof(sub), "%s/member/snap", dir); /* created on demand */
    snap_loaded_t s;
    char err[512];
    assert_int_equal(snap_load_newest(sub, NULL, NULL, on_log, NULL, &s, err, sizeof(err)),
                     -ENOENT);
    save(sub, 1, 10, 1000);
    assert_int_equal(snap_load_newest(sub, NULL, NULL, on_log, NULL, &s, err, sizeof(err)), 0);
    expect_loaded(&s, 1, 10, 1000);
    snap_release(&s);
    save(sub, 1, 20, 0); /* an empty payload is valid */
    assert_int_equal(snap_load_newest(sub, NULL, NULL, on_log, NULL, &s, err, sizeof(err)), 0);
    expect_loaded(&s, 1, 20, 0);
    snap_release(&s);
    assert_int_equal(count_files(sub, ".tmp"), 0);
    rm_rf(dir);
    free(dir);
}

typedef struct producer {
    size_t total, chunk;
} producer_t;

static int produce(void *arg, snap_writer_t *sw)
{
    producer_t *p = arg;
    uint8_t *all = malloc(p->total);
    fill(all, p->total, 99);
    for (size_t off = 0; off < p->total; off += p->chunk) {
        size_t n = p->total - off < p->chunk ? p->total - off : p->chunk;
        int rc = snap_writer_write(sw, all + off, n);
        if (rc) {
            free(all);
            return rc;
        }
    }
    free(all);
    return 0;
}

static int produce_fail(void *arg, snap_writer_t *sw)
{
    (void)arg;
    snap_writer_write(sw, "abc", 3);
    return -EIO;
}

static void test_streamed(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    producer_t p = {.total = 3 * 1024 * 1024 + 17, .chunk = 4093};
    char err[512];
    assert_int_equal(snap_save_stream(dir, 3, 99, produce, &p, err, sizeof(err)), 0);
    snap_loaded_t s;
    assert_int_equal(snap_load_newest(dir, NULL, NULL, on_log, NULL, &s, err, sizeof(err)), 0);
    expect_loaded(&s, 3, 99, p.total);
    snap_release(&s);
    /* a producer that fails leaves nothing behind */
    assert_int_equal(snap_save_stream(dir, 3, 100, produce_fail, NULL, err, sizeof(err)), -EIO);
    assert_int_equal(count_files(dir, ".snap"), 1);
    assert_int_equal(count_files(dir, ".tmp"), 0);
    /* neither does an aborted writer */
    snap_writer_t *sw;
    assert_int_equal(snap_writer_begin(&sw, dir, 3, 101, err, sizeof(err)), 0);
    assert_int_equal(snap_writer_write(sw, "x", 1), 0);
    assert_int_equal(count_files(dir, ".tmp"), 1);
    snap_writer_abort(sw);
    assert_int_equal(count_files(dir, ".tmp"), 0);
    rm_rf(dir);
    free(dir);
}

/* Flips one bit of the byte at off in the file at path. */
static void flip_bit(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
}

static void test_newest_valid_and_broken(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    save(dir, 1, 10, 500);
    save(dir, 1, 20, 600);
    save(dir, 2, 30, 700);
    save(dir, 2, 40, 800);
    char err[512];
    snap_loaded_t s;
    /* 40: a flipped bit */
    char *p40 = path_of(dir, 2, 40);
    flip_bit(p40, 100);
    FILE *f;
    /* 30: truncated */
    char *p30 = path_of(dir, 2, 30);
    assert_int_equal(truncate(p30, 200), 0);
    /* a leftover temporary file is ignored and removed */
    char tmp[4300];
    char *p90 = path_of(dir, 9, 90);
    snprintf(tmp, sizeof(tmp), "%s.tmp", p90);
    free(p90);
    f = fopen(tmp, "w");
    fputs("partial", f);
    fclose(f);
    warnings = 0;
    assert_int_equal(snap_load_newest(dir, NULL, NULL, on_log, NULL, &s, err, sizeof(err)), 0);
    expect_loaded(&s, 1, 20, 600);
    snap_release(&s);
    assert_int_equal(warnings, 2);
    assert_non_null(strstr(last_warning, "0000000000000002-000000000000001e.snap"));
    assert_int_equal(count_files(dir, ".broken"), 2);
    assert_int_equal(count_files(dir, ".snap"), 2);
    assert_int_equal(count_files(dir, ".tmp"), 0);
    char b40[4300];
    snprintf(b40, sizeof(b40), "%s.broken", p40);
    assert_int_equal(access(b40, F_OK), 0);
    /* a file whose header disagrees with its name is broken too */
    char *p10 = path_of(dir, 1, 10), *p50 = path_of(dir, 1, 50);
    uint8_t *buf = malloc(10000);
    f = fopen(p10, "rb");
    size_t n = fread(buf, 1, 10000, f);
    fclose(f);
    f = fopen(p50, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    free(buf);
    assert_int_equal(snap_load_newest(dir, NULL, NULL, on_log, NULL, &s, err, sizeof(err)), 0);
    expect_loaded(&s, 1, 20, 600);
    snap_release(&s);
    assert_non_null(strstr(last_warning, "does not match"));
    free(p40);
    free(p30);
    free(p10);
    free(p50);
    rm_rf(dir);
    free(dir);
}

/* A snapshot the caller holds elsewhere (covered) is not CRC-checked;
 * above the covered index it is, and a flipped bit there still breaks it. */
static void test_covered_skips_crc(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    save(dir, 1, 10, 500);
    save(dir, 1, 20, 600);
    char err[512];
    snap_loaded_t s;
    char *p20 = path_of(dir, 1, 20);
    flip_bit(p20, 100);
    warnings = 0;
    assert_int_equal(
        snap_load_newest_covered(dir, NULL, NULL, on_log, NULL, 20, &s, err, sizeof(err)), 0);
    /* Loaded as it is, the flipped byte included (the caller reads its head only). */
    assert_int_equal(s.index, 20);
    assert_int_equal(s.len, 600);
    snap_release(&s);
    assert_int_equal(warnings, 0);
    assert_int_equal(
        snap_load_newest_covered(dir, NULL, NULL, on_log, NULL, 19, &s, err, sizeof(err)), 0);
    expect_loaded(&s, 1, 10, 500);
    snap_release(&s);
    assert_int_equal(warnings, 1);
    assert_int_equal(count_files(dir, ".broken"), 1);
    free(p20);
    rm_rf(dir);
    free(dir);
}

static bool accept_below_20(void *arg, uint64_t term, uint64_t index)
{
    (void)arg, (void)term;
    return index < 20;
}

static void test_accept_filter(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    save(dir, 1, 10, 50);
    save(dir, 1, 20, 60);
    char err[512];
    snap_loaded_t s;
    warnings = 0;
    assert_int_equal(
        snap_load_newest(dir, accept_below_20, NULL, on_log, NULL, &s, err, sizeof(err)), 0);
    expect_loaded(&s, 1, 10, 50);
    snap_release(&s);
    assert_int_equal(warnings, 0); /* skipped, not broken */
    assert_int_equal(count_files(dir, ".snap"), 2);
    rm_rf(dir);
    free(dir);
}

static void test_purge(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    for (uint64_t i = 1; i <= 8; i++)
        save(dir, 1 + i / 3, i * 100, 10);
    assert_int_equal(snap_purge(dir, 0), 0);
    assert_int_equal(count_files(dir, ".snap"), 8);
    assert_int_equal(snap_purge(dir, 5), 3);
    assert_int_equal(count_files(dir, ".snap"), 5);
    for (uint64_t i = 1; i <= 8; i++) {
        char *p = path_of(dir, 1 + i / 3, i * 100);
        assert_int_equal(access(p, F_OK) == 0, i > 3);
        free(p);
    }
    assert_int_equal(snap_purge(dir, 5), 0);
    rm_rf(dir);
    free(dir);
}

static void *saver(void *arg)
{
    const char *dir = arg;
    for (uint64_t i = 1; i <= 20; i++)
        save(dir, 1, i, 5000);
    return NULL;
}

static void test_save_from_threads(void **state)
{
    (void)state;
    char *a = make_tmpdir(), *b = make_tmpdir();
    pthread_t ta, tb;
    pthread_create(&ta, NULL, saver, a);
    pthread_create(&tb, NULL, saver, b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    char err[512];
    snap_loaded_t s;
    assert_int_equal(snap_load_newest(a, NULL, NULL, on_log, NULL, &s, err, sizeof(err)), 0);
    expect_loaded(&s, 1, 20, 5000);
    snap_release(&s);
    assert_int_equal(snap_load_newest(b, NULL, NULL, on_log, NULL, &s, err, sizeof(err)), 0);
    expect_loaded(&s, 1, 20, 5000);
    snap_release(&s);
    rm_rf(a);
    rm_rf(b);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_streamed),
        cmocka_unit_test(test_newest_valid_and_broken),
        cmocka_unit_test(test_covered_skips_crc),
        cmocka_unit_test(test_accept_filter),
        cmocka_unit_test(test_purge),
        cmocka_unit_test(test_save_from_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
