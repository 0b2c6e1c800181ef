/* Finding, verifying and purging snapshot files. */
#include "snap/snap_int.h"
#include "common/crc32c.h"
#include "common/endian.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static bool parse_name(const char *name, snap_name_t *s)
{
    unsigned long long a, b;
    int n = 0;
    if (strlen(name) != 38 || sscanf(name, "%16llx-%16llx.snap%n", &a, &b, &n) != 2 || n != 38)
        return false;
    s->term = a;
    s->index = b;
    return true;
}

static int newest_first(const void *a, const void *b)
{
    const snap_name_t *x = a, *y = b;
    if (x->index != y->index)
        return x->index > y->index ? -1 : 1;
    if (x->term != y->term)
        return x->term > y->term ? -1 : 1;
    return 0;
}

int snap_list(const char *dir, snap_name_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    snap_name_t *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        snap_name_t s;
        if (!parse_name(de->d_name, &s))
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            snap_name_t *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
        }
        v[cnt++] = s;
    }
    closedir(d);
    if (cnt)
        qsort(v, cnt, sizeof(*v), newest_first);
    *out = v;
    *n = cnt;
    return 0;
}

static void remove_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 9 && strcmp(de->d_name + l - 9, ".snap.tmp") == 0)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

/* Maps and verifies one file. Returns 0, a reason in *why for a corrupt
 * file (-EBADMSG), or another negative errno for I/O trouble. */
static int load_one(const char *path, const snap_name_t *nm, bool check_crc, snap_loaded_t *out,
                    const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    size_t size = (size_t)st.st_size;
    if (size < SNAP_HDR_SIZE + SNAP_TRAILER_SIZE) {
        close(fd);
        *why = "too short";
        return -EBADMSG;
    }
    uint8_t *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return -errno;
    const uint8_t *t = m + size - SNAP_TRAILER_SIZE;
    uint64_t len = le_get64(t);
    uint32_t crc =
        (uint32_t)t[8] | (uint32_t)t[9] << 8 | (uint32_t)t[10] << 16 | (uint32_t)t[11] << 24;
    *why = NULL;
    if (memcmp(m, SNAP_MAGIC, 8) != 0 || memcmp(t + 12, SNAP_TRAILER_MAGIC, 4) != 0)
        *why = "bad magic";
    else if (len != size - SNAP_HDR_SIZE - SNAP_TRAILER_SIZE)
        *why = "bad length";
    else if (check_crc && crc32c(0, m, size - 8) != crc)
        *why = "crc mismatch";
    else if (le_get64(m + 8) != nm->term || le_get64(m + 16) != nm->index)
        *why = "header does not match the file name";
    if (*why) {
        munmap(m, size);
        return -EBADMSG;
    }
    out->term = nm->term;
    out->index = nm->index;
    out->data = m + SNAP_HDR_SIZE;
    out->len = (size_t)len;
    out->map_ = m;
    out->map_len_ = size;
    return 0;
}

int snap_load_newest(const char *dir, snap_accept_cb accept, void *accept_arg, snap_log_cb log,
                     void *log_arg, snap_loaded_t *out, char *err, size_t err_len)
{
    return snap_load_newest_covered(dir, accept, accept_arg, log, log_arg, 0, out, err, err_len);
}

int snap_load_newest_covered(const char *dir, snap_accept_cb accept, void *accept_arg,
                             snap_log_cb log, void *log_arg, uint64_t covered, snap_loaded_t *out,
                             char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    remove_tmp(dir);
    snap_name_t *v;
    size_t n;
    int rc = snap_list(dir, &v, &n);
    if (rc) {
        snap_seterr(err, err_len, "cannot list %s: %s", dir, strerror(-rc));
        return rc;
    }
    rc = -ENOENT;
    for (size_t i = 0; i < n; i++) {
        if (accept && !accept(accept_arg, v[i].term, v[i].index))
            continue;
        char name[64], path[4200];
        snap_file_name(name, sizeof(name), v[i].term, v[i].index);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        const char *why = NULL;
        int r = load_one(path, &v[i], v[i].index > covered, out, &why);
        if (r == 0) {
            rc = 0;
            break;
        }
        if (r != -EBADMSG) {
            snap_seterr(err, err_len, "cannot read %s: %s", path, strerror(-r));
            rc = r;
            break;
        }
        /* etcd: a snapshot that fails its CRC is renamed *.broken and the
         * next older one is used */
        char broken[4300], line[9000];
        snprintf(broken, sizeof(broken), "%s.broken", path);
        rename(path, broken);
        snprintf(line, sizeof(line), "snap: %s is corrupt (%s); renamed to %s", path, why, broken);
        if (log)
            log(log_arg, line);
        else
            fprintf(stderr, "%s\n", line);
    }
    if (rc == -ENOENT)
        snap_seterr(err, err_len, "no usable snapshot in %s", dir);
    free(v);
    return rc;
}

void snap_release(snap_loaded_t *s)
{
    if (s && s->map_)
        munmap(s->map_, s->map_len_);
    if (s)
        memset(s, 0, sizeof(*s));
}

int snap_purge(const char *dir, unsigned max_snapshots)
{
    if (max_snapshots == 0)
        return 0;
    snap_name_t *v;
    size_t n;
    int rc = snap_list(dir, &v, &n);
    if (rc)
        return rc;
    int deleted = 0;
    for (size_t i = max_snapshots; i < n; i++) {
        char name[64], path[4200];
        snap_file_name(name, sizeof(name), v[i].term, v[i].index);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (unlink(path) < 0 && errno != ENOENT) {
            rc = -errno;
            break;
        }
        deleted++;
    }
    free(v);
    return rc ? rc : deleted;
}
