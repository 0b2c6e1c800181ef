#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "src/server/data_dir.h"

int data_dir_open(const char *dir, int *lock_fd, char *err, size_t err_len)
{
    char *member = NULL, *lock = NULL;
    int rc = -1;
    *lock_fd = -1;
    if (asprintf(&member, "%s/member", dir) < 0 || asprintf(&lock, "%s/.lock", member) < 0) {
        snprintf(err, err_len, "out of memory");
        member = lock = NULL;
        goto out;
    }
    const char *dirs[] = {dir, member};
    for (size_t i = 0; i < 2; i++) {
        int e = fs_mkdir_all(dirs[i]);
        if (e != 0) {
            snprintf(err, err_len, "cannot create directory %s: %s", dirs[i], strerror(-e));
            goto out;
        }
        struct stat st;
        if (stat(dirs[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, err_len, "%s is not a directory", dirs[i]);
            goto out;
        }
    }
    char what[4200];
    snprintf(what, sizeof(what), "data directory %s", dir);
    int fd = fs_lock_file(lock, what, err, err_len);
    if (fd < 0) {
        if (fd == -EBUSY)
            rc = DATA_DIR_E_LOCKED;
        goto out;
    }
    *lock_fd = fd;
    rc = 0;
out:
    free(member);
    free(lock);
    return rc;
}

char *data_dir_wal_path(const char *dir, const char *wal_dir)
{
    char *p = NULL;
    if (wal_dir != NULL ? (p = strdup(wal_dir)) == NULL : asprintf(&p, "%s/member/wal", dir) < 0)
        abort();
    return p;
}

/* dir holds at least one snapshot file (<term>-<index>.snap). */
static bool has_snapshots(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        found = n > 5 && strcmp(e->d_name + n - 5, ".snap") == 0;
    }
    closedir(d);
    return found;
}

int data_dir_check_wal(const char *dir, const char *wal_dir, bool (*has_log)(const char *),
                       char *err, size_t err_len)
{
    char *wal = data_dir_wal_path(dir, wal_dir);
    char *inside = data_dir_wal_path(dir, NULL);
    char *snap = NULL;
    if (asprintf(&snap, "%s/member/snap", dir) < 0)
        abort();
    int rc = 0;
    if (has_log(wal)) {
        rc = 0;
    } else if (strcmp(inside, wal) != 0 && has_log(inside)) {
        snprintf(err, err_len,
                 "--wal-dir %s holds no log but %s does: move that log to %s (or start "
                 "without --wal-dir)",
                 wal, inside, wal);
        rc = -1;
    } else if (has_snapshots(snap)) {
        snprintf(err, err_len,
                 "%s holds snapshots but %s holds no log: give the --wal-dir this member ran "
                 "with",
                 snap, wal);
        rc = -1;
    }
    free(wal);
    free(inside);
    free(snap);
    return rc;
}

/* Writes path with text durably: a temporary file, fsync, rename, fsync of
 * the directory (a crash leaves the old state or the new one). */
static int write_durably(const char *dir, const char *path, const char *text)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp", path) < 0)
        return -ENOMEM;
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            rc = -errno;
        if (dfd >= 0)
            close(dfd);
    }
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc ? rc : 0;
}

/* Reads dir/member/backend into have: 1 when read, 0 when absent, -1 with err. */
static int read_backend(const char *path, char have[32], char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (!fgets(have, 32, f))
        have[0] = '\0';
    fclose(f);
    have[strcspn(have, "\n")] = '\0';
    return 1;
}

int data_dir_backend_of(const char *dir, char *have, size_t have_len, char *err, size_t err_len)
{
    char *path = NULL;
    if (asprintf(&path, "%s/member/backend", dir) < 0)
        abort();
    char name[32] = "";
    int rc = read_backend(path, name, err, err_len);
    free(path);
    if (rc < 0)
        return -1;
    snprintf(have, have_len, "%s", rc ? name : "memory"); /* none: written before backends */
    return 0;
}

int data_dir_set_backend(const char *dir, const char *backend, char *err, size_t err_len)
{
    char *member = NULL, *path = NULL;
    if (asprintf(&member, "%s/member", dir) < 0 || asprintf(&path, "%s/backend", member) < 0)
        abort();
    char text[40];
    snprintf(text, sizeof(text), "%s\n", backend);
    int e = write_durably(member, path, text);
    if (e != 0)
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(-e));
    free(member);
    free(path);
    return e ? -1 : 0;
}

int data_dir_backend(const char *dir, const char *backend, bool have_log, char *err, size_t err_len)
{
    char *member = NULL, *path = NULL;
    if (asprintf(&member, "%s/member", dir) < 0 || asprintf(&path, "%s/backend", member) < 0)
        abort();
    char have[32] = "";
    int rc = read_backend(path, have, err, err_len);
    if (rc == 1) {
        rc = 0;
    } else if (rc == 0 && have_log) {
        snprintf(have, sizeof(have), "memory"); /* written before backends existed */
    } else if (rc == 0) {
        char text[40];
        snprintf(text, sizeof(text), "%s\n", backend);
        int e = write_durably(member, path, text);
        if (e != 0) {
            snprintf(err, err_len, "cannot write %s: %s", path, strerror(-e));
            rc = -1;
        }
        snprintf(have, sizeof(have), "%s", backend);
    }
    if (rc == 0 && strcmp(have, backend) != 0) {
        snprintf(err, err_len,
                 "data directory %s was created with the %s backend and cannot start with "
                 "--backend %s (start it with --backend %s, or convert it offline with "
                 "metcd --migrate-backend --data-dir %s --backend %s)",
                 dir, have, backend, have, dir, backend);
        rc = -1;
    }
    free(member);
    free(path);
    return rc;
}
