/*
 * libFuzzer target: damage a valid multi-segment WAL (byte changes anywhere,
 * a truncated last segment) and open it. wal_open() must either refuse or
 * return a prefix of what was written, never different data, and never
 * crash or leak.
 *
 * Input: a truncation amount (2 bytes), then (offset: 4 bytes, xor: 1 byte)
 * pairs applied to the concatenation of the segment files.
 */
#include "wal/wal_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEG     2048
#define ENTRIES 40

static char dir[64];
static char *names[64];
static uint8_t *files[64];
static size_t sizes[64];
static size_t nfiles;

static int nop_sync(int fd)
{
    (void)fd;
    return 0;
}

static ssize_t io_pwrite(int fd, const void *b, size_t l, off_t o)
{
    return pwrite(fd, b, l, o);
}

static int io_ftruncate(int fd, off_t l)
{
    return ftruncate(fd, l);
}

static int io_fallocate(int fd, off_t l)
{
    return ftruncate(fd, l); /* sparse is enough here */
}

static const wal_io_t fast_io = {io_pwrite, nop_sync, nop_sync, io_ftruncate, io_fallocate};

static void quiet(void *a, const char *l)
{
    (void)a, (void)l;
}

static void fill(uint8_t *b, uint64_t index, size_t len)
{
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(index * 31 + i * 7 + 1);
}

static size_t len_of(uint64_t index)
{
    return 1 + (size_t)(index * 53 % 90);
}

static void cleanup(void)
{
    char path[256];
    for (size_t i = 0; i < nfiles; i++)
        unlink(names[i]);
    snprintf(path, sizeof(path), "%s/LOCK", dir);
    unlink(path);
    rmdir(dir);
}

static void setup(void)
{
    atexit(cleanup);
    snprintf(dir, sizeof(dir), "/tmp/metcd-fuzz-wal-%d", (int)getpid());
    wal_options_t o = {.dir = dir, .segment_size = SEG, .log = quiet, .io = &fast_io};
    wal_t *w;
    char err[256];
    if (wal_create(&w, &o, "fuzz", 4, err, sizeof(err)))
        abort();
    uint8_t buf[128];
    for (uint64_t i = 1; i <= ENTRIES; i++) {
        fill(buf, i, len_of(i));
        wal_append_entry(w, i, 1, 0, buf, len_of(i));
        if (i % 7 == 0)
            wal_sync(w);
    }
    wal_hard_state_t hs = {1, 1, ENTRIES};
    wal_append_hard_state(w, &hs);
    wal_sync(w);
    wal_close(w);
    wal_segment_t *s;
    if (wal_segment_list(dir, &s, &nfiles) || nfiles > 64)
        abort();
    for (size_t i = 0; i < nfiles; i++) {
        char name[64], path[256];
        wal_segment_name(name, sizeof(name), s[i].seq, s[i].first_index);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        names[i] = strdup(path);
        FILE *f = fopen(path, "rb");
        fseek(f, 0, SEEK_END);
        sizes[i] = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        files[i] = malloc(sizes[i]);
        if (fread(files[i], 1, sizes[i], f) != sizes[i])
            abort();
        fclose(f);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!nfiles)
        setup();
    size_t total = 0;
    for (size_t i = 0; i < nfiles; i++)
        total += sizes[i];
    uint8_t *all = malloc(total);
    for (size_t i = 0, off = 0; i < nfiles; off += sizes[i], i++)
        memcpy(all + off, files[i], sizes[i]);
    size_t cut = 0;
    if (size >= 2) {
        cut = (size_t)(data[0] | data[1] << 8) % (sizes[nfiles - 1] + 1);
        data += 2, size -= 2;
    }
    for (; size >= 5; data += 5, size -= 5) {
        uint32_t off = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                       (uint32_t)data[3] << 24;
        all[off % total] ^= data[4];
    }
    for (size_t i = 0, off = 0; i < nfiles; off += sizes[i], i++) {
        size_t len = sizes[i] - (i == nfiles - 1 ? cut : 0);
        int fd = open(names[i], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, all + off, len) != (ssize_t)len)
            abort();
        close(fd);
    }
    free(all);

    wal_options_t o = {.dir = dir, .segment_size = SEG, .log = quiet, .io = &fast_io};
    wal_t *w;
    wal_read_result_t r;
    char err[512];
    if (wal_open(&w, &o, 0, 0, &r, err, sizeof(err)) == 0) {
        uint8_t buf[128];
        if (r.n_entries > ENTRIES)
            abort();
        for (size_t i = 0; i < r.n_entries; i++) {
            const wal_entry_t *e = &r.entries[i];
            fill(buf, e->index, len_of(e->index));
            if (e->index != i + 1 || e->term != 1 || e->len != len_of(e->index) ||
                memcmp(e->data, buf, e->len) != 0)
                abort(); /* damage produced different data instead of a refusal */
        }
        if (r.metadata_len != 4 || memcmp(r.metadata, "fuzz", 4) != 0)
            abort();
        wal_read_result_free(&r);
        wal_close(w);
    }
    return 0;
}
