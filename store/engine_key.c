/*
 * store/engine_key.c: how v2 paths become engine keys.
 *
 * The key of /c1/c2/.../cn is
 *
 *     0x01 esc(c1) 0x01 esc(c2) ... 0x01 esc(c(n-1)) 0x00 esc(cn)
 *
 * that is, the parent's components each behind 0x01, then 0x00 and the last
 * name. esc() keeps every byte from 0x03 to 0xff and writes 0x00, 0x01,
 * 0x02 as 0x02 0x02, 0x02 0x03, 0x02 0x04: an escaped name holds no 0x00 or
 * 0x01, and since the replacements are ordered like the bytes they stand for
 * and no code is a prefix of another, names keep their bytewise order.
 *
 * What this buys:
 *  - The direct children of a directory D are exactly the keys starting with
 *    P = E(D) 0x00 (E(D): D's components each behind 0x01; empty for the
 *    root). Grandchildren start with E(D) 0x01 instead, so they sort after
 *    every child: a listing is one contiguous range, with no grandchild in
 *    it, in bytewise name order.
 *  - A name that is a prefix of another (d and d~e, d and d\0) cannot leak
 *    into the other's range: after E(/d) comes 0x00 or 0x01 for /d's
 *    children and descendants, and a byte >= 0x02 for any longer name.
 *  - The whole subtree below D is the range [E(D) 0x00, E(D) 0x02): one scan
 *    deletes it.
 *  - A recursive listing needs depth-first order (a directory, its nodes,
 *    then its next sibling), which no encoding with contiguous children can
 *    give in one scan; store/engine_iter.c gets it with one seek per
 *    directory, each child range read in order.
 *
 * Deadlines in the TTL index are big-endian with the sign bit flipped, so
 * that bytewise order is numeric order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/engine_int.h"
#include "store/store_int.h"

void engine_buf_reserve(engine_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < extra)
        cap *= 2;
    b->p = store_xrealloc(b->p, cap);
    b->cap = cap;
}

void engine_buf_add(engine_buf_t *b, const void *p, size_t n)
{
    engine_buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

void engine_buf_byte(engine_buf_t *b, uint8_t c)
{
    engine_buf_reserve(b, 1);
    b->p[b->len++] = c;
}

void engine_buf_free(engine_buf_t *b)
{
    free(b->p);
    *b = (engine_buf_t){0};
}

int engine_path_check(const char *path, size_t len)
{
    if (len == 0 || path[0] != '/')
        return -EINVAL;
    if (len == 1)
        return 0;
    if (path[len - 1] == '/')
        return -EINVAL;
    for (size_t i = 1; i < len; i++)
        if (path[i] == '/' && path[i - 1] == '/')
            return -EINVAL;
    return 0;
}

static void add_name(engine_buf_t *out, const char *name, size_t len)
{
    engine_buf_reserve(out, 2 * len);
    /* Names rarely hold a byte to escape: copy the run before the first. */
    size_t i = 0;
    while (i < len && (uint8_t)name[i] > ENGINE_KEY_ESC)
        i++;
    memcpy(out->p + out->len, name, i);
    out->len += i;
    for (; i < len; i++) {
        uint8_t c = (uint8_t)name[i];
        if (c <= ENGINE_KEY_ESC) {
            out->p[out->len++] = ENGINE_KEY_ESC;
            out->p[out->len++] = (uint8_t)(c + 2);
        } else {
            out->p[out->len++] = c;
        }
    }
}

/* Appends E(dir): every component behind ENGINE_KEY_INNER ("/": nothing). */
static void add_dir(engine_buf_t *out, const char *dir, size_t len)
{
    size_t i = 1;
    while (i < len) {
        const char *slash = memchr(dir + i, '/', len - i);
        size_t j = slash ? (size_t)(slash - dir) : len;
        engine_buf_byte(out, ENGINE_KEY_INNER);
        add_name(out, dir + i, j - i);
        i = j + 1;
    }
}

void engine_key_append(engine_buf_t *out, const char *path, size_t len)
{
    const char *last = memrchr(path, '/', len);
    size_t slash = (size_t)(last - path);
    add_dir(out, path, slash ? slash : 1);
    engine_buf_byte(out, ENGINE_KEY_LAST);
    add_name(out, path + slash + 1, len - slash - 1);
}

void engine_key_children_prefix(engine_buf_t *out, const char *dir, size_t len)
{
    add_dir(out, dir, len);
    engine_buf_byte(out, ENGINE_KEY_LAST);
}

int engine_key_decode(engine_buf_t *out, const uint8_t *key, size_t len)
{
    out->len = 0;
    bool last = false;
    size_t i = 0;
    if (len == 0)
        return -EINVAL;
    while (i < len) {
        if (last || key[i] > ENGINE_KEY_INNER)
            return -EINVAL;
        last = key[i] == ENGINE_KEY_LAST;
        i++;
        engine_buf_byte(out, '/');
        size_t start = out->len;
        while (i < len && key[i] > ENGINE_KEY_INNER) {
            uint8_t c = key[i++];
            if (c == ENGINE_KEY_ESC) {
                if (i == len || key[i] < 2 || key[i] > 4)
                    return -EINVAL;
                c = (uint8_t)(key[i++] - 2);
            } else if (c == '/') {
                return -EINVAL;
            }
            engine_buf_byte(out, c);
        }
        if (out->len == start)
            return -EINVAL; /* empty name */
    }
    if (!last)
        return -EINVAL;
    engine_buf_byte(out, 0);
    out->len--;
    return 0;
}

void engine_key_put_deadline(uint8_t out[8], int64_t deadline_ns)
{
    uint64_t u = (uint64_t)deadline_ns ^ (1ull << 63);
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(u >> (56 - 8 * i));
}

int64_t engine_key_get_deadline(const uint8_t in[8])
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | in[i];
    return (int64_t)(u ^ (1ull << 63));
}

int engine_key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}
