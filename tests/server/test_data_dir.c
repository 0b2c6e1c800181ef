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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_creates_and_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
