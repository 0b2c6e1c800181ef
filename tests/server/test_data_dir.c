/*
 * The data directory: created 0700 with member/ inside, locked against a
 * second user, clear errors for paths that cannot be a directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/server/data_dir.h"

static char base[64];

static int setup(void **state)
{
    (void)state;
    snprintf(base, sizeof(base), "/tmp/metcd-data-dir-XXXXXX");
    return mkdtemp(base) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_creates_and_locks(void **state)
{
    (void)state;
    char dir[128], member[160];
    snprintf(dir, sizeof(dir), "%s/a/b/data", base);
    snprintf(member, sizeof(member), "%s/member", dir);
    char err[256];
    int fd = -1, fd2 = -1;
    assert_int_equal(data_dir_open(dir, &fd, err, sizeof(err)), 0);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(member, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);

    /* flock is per open file: a second open in this process conflicts too. */
    assert_int_equal(data_dir_open(dir, &fd2, err, sizeof(err)), DATA_DIR_E_LOCKED);
    assert_int_equal(fd2, -1);
    assert_non_null(strstr(err, "is in use by another member"));
    assert_non_null(strstr(err, "/member/.lock"));

    /* Released with the fd: the directory can be opened again. */
    close(fd);
    assert_int_equal(data_dir_open(dir, &fd2, err, sizeof(err)), 0);
    close(fd2);
}

static void test_errors(void **state)
{
    (void)state;
    char file[128], below[160];
    snprintf(file, sizeof(file), "%s/file", base);
    int f = open(file, O_CREAT | O_WRONLY, 0600);
    assert_true(f >= 0);
    close(f);
    char err[256];
    int fd = 7;
    assert_int_equal(data_dir_open(file, &fd, err, sizeof(err)), -1);
    assert_int_equal(fd, -1);
    assert_non_null(strstr(err, "is not a directory"));
    snprintf(below, sizeof(below), "%s/sub", file);
    assert_int_equal(data_dir_open(below, &fd, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot create directory"));
    assert_null(strchr(err, '\n'));
}

/* A directory "holds a log" here when it has a file named "log". */
static bool fake_has_log(const char *dir)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/log", dir);
    return access(p, F_OK) == 0;
}

static void touch(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "mkdir -p '%s' && touch '%s/%s'", dir, dir, name);
    assert_int_equal(system(p), 0);
}

/* --wal-dir: the WAL path, and the data dirs a member must not start empty beside. */
static void test_wal_dir(void **state)
{
    (void)state;
    char dir[128], inside[192], snap[192], wal[160], err[512];
    snprintf(dir, sizeof(dir), "%s/d", base);
    snprintf(inside, sizeof(inside), "%s/member/wal", dir);
    snprintf(snap, sizeof(snap), "%s/member/snap", dir);
    snprintf(wal, sizeof(wal), "%s/w", base);
    char *p = data_dir_wal_path(dir, NULL);
    assert_string_equal(p, inside);
    free(p);
    p = data_dir_wal_path(dir, wal);
    assert_string_equal(p, wal);
    free(p);
    /* Nothing anywhere: a new member. */
    assert_int_equal(data_dir_check_wal(dir, wal, fake_has_log, err, sizeof(err)), 0);
    assert_int_equal(data_dir_check_wal(dir, NULL, fake_has_log, err, sizeof(err)), 0);
    /* A log under the data dir, none in --wal-dir. */
    touch(inside, "log");
    assert_int_equal(data_dir_check_wal(dir, wal, fake_has_log, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "holds no log but"));
    assert_int_equal(data_dir_check_wal(dir, NULL, fake_has_log, err, sizeof(err)), 0);
    assert_int_equal(data_dir_check_wal(dir, inside, fake_has_log, err, sizeof(err)), 0);
    /* Snapshots and no log where the WAL is looked for. */
    touch(snap, "0000000000000002-0000000000000064.snap");
    assert_int_equal(data_dir_check_wal(dir, wal, fake_has_log, err, sizeof(err)), -1);
    touch(wal, "log");
    assert_int_equal(data_dir_check_wal(dir, wal, fake_has_log, err, sizeof(err)), 0);
    snprintf(p = malloc(256), 256, "rm -rf '%s'", inside);
    assert_int_equal(system(p), 0);
    free(p);
    assert_int_equal(data_dir_check_wal(dir, NULL, fake_has_log, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "holds snapshots but"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_creates_and_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
