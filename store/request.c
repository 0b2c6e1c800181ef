/*
 * store/request.c: the binary form of a request, as proposed through raft
 * and applied by every member. Version 1:
 *
 *   u8  version (1)
 *   u8  op (store_op_t)
 *   u8  flags: 1 value present, 2 prevValue present, 4 ttl present, 8 dir,
 *              16 recursive, 32 refresh (other bits must be zero)
 *   i64 time_ns, little-endian
 *   uvarint key length, key bytes
 *   [uvarint value length, value bytes]            when flag 1
 *   [uvarint prevValue length, prevValue bytes]    when flag 2
 *   uvarint prev_index
 *   [uvarint ttl seconds]                          when flag 4
 *
 * uvarint is LEB128 (7 bits a byte, low bits first, at most 10 bytes, no
 * redundant zero bytes). The decoder accepts nothing else: no trailing bytes,
 * no lengths past the end, so every request has exactly one encoding.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

#define REQ_VERSION      1
#define F_VALUE          0x01
#define F_PREV_VALUE     0x02
#define F_TTL            0x04
#define F_DIR            0x08
#define F_RECURSIVE      0x10
#define F_REFRESH        0x20
#define F_ALL            0x3f
#define REQ_HEADER_BYTES 11

static size_t put_uvarint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

int store_request_encode(const store_request_t *req, uint8_t **out, size_t *out_len)
{
    size_t max = REQ_HEADER_BYTES + 5 * 10 + req->key_len;
    uint8_t flags = 0;
    if (req->value) {
        flags |= F_VALUE;
        max += req->value_len;
    }
    if (req->has_prev_value) {
        flags |= F_PREV_VALUE;
        max += req->prev_value_len;
    }
    flags |= req->has_ttl ? F_TTL : 0;
    flags |= req->dir ? F_DIR : 0;
    flags |= req->recursive ? F_RECURSIVE : 0;
    flags |= req->refresh ? F_REFRESH : 0;
    uint8_t *buf = malloc(max);
    if (!buf)
        return -1;
    size_t n = 0;
    buf[n++] = REQ_VERSION;
    buf[n++] = (uint8_t)req->op;
    buf[n++] = flags;
    uint64_t t = (uint64_t)req->time_ns;
    for (int i = 0; i < 8; i++)
        buf[n++] = (uint8_t)(t >> (8 * i));
    n += put_uvarint(buf + n, req->key_len);
    if (req->key_len)
        memcpy(buf + n, req->key, req->key_len);
    n += req->key_len;
    if (flags & F_VALUE) {
        n += put_uvarint(buf + n, req->value_len);
        if (req->value_len)
            memcpy(buf + n, req->value, req->value_len);
        n += req->value_len;
    }
    if (flags & F_PREV_VALUE) {
        n += put_uvarint(buf + n, req->prev_value_len);
        if (req->prev_value_len)
            memcpy(buf + n, req->prev_value, req->prev_value_len);
        n += req->prev_value_len;
    }
    n += put_uvarint(buf + n, req->prev_index);
    if (flags & F_TTL)
        n += put_uvarint(buf + n, req->ttl_sec);
    *out = buf;
    *out_len = n;
    return 0;
}

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader_t;

static int get_uvarint(reader_t *r, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (r->left == 0)
            return -1;
        uint8_t b = *r->p++;
        r->left--;
        if (i == 9 && b > 1)
            return -1; /* more than 64 bits */
        if (i > 0 && b == 0)
            return -1; /* overlong: one value, one encoding */
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

static int get_bytes(reader_t *r, const char **s, size_t *len)
{
    uint64_t n;
    if (get_uvarint(r, &n) < 0 || n > r->left)
        return -1;
    *s = (const char *)r->p;
    *len = (size_t)n;
    r->p += n;
    r->left -= n;
    return 0;
}

int store_request_decode(const uint8_t *data, size_t len, store_request_t *req)
{
    memset(req, 0, sizeof(*req));
    if (!data || len < REQ_HEADER_BYTES || data[0] != REQ_VERSION)
        return -1;
    uint8_t op = data[1], flags = data[2];
    if (op < STORE_OP_SET || op > STORE_OP_RESUME || (flags & ~F_ALL))
        return -1;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t |= (uint64_t)data[3 + i] << (8 * i);
    reader_t r = {data + REQ_HEADER_BYTES, len - REQ_HEADER_BYTES};
    req->op = (store_op_t)op;
    req->time_ns = (int64_t)t;
    if (get_bytes(&r, &req->key, &req->key_len) < 0)
        return -1;
    if ((flags & F_VALUE) && get_bytes(&r, &req->value, &req->value_len) < 0)
        return -1;
    if ((flags & F_PREV_VALUE) && get_bytes(&r, &req->prev_value, &req->prev_value_len) < 0)
        return -1;
    req->has_prev_value = flags & F_PREV_VALUE;
    if (get_uvarint(&r, &req->prev_index) < 0)
        return -1;
    if ((flags & F_TTL) && get_uvarint(&r, &req->ttl_sec) < 0)
        return -1;
    req->has_ttl = flags & F_TTL;
    req->dir = flags & F_DIR;
    req->recursive = flags & F_RECURSIVE;
    req->refresh = flags & F_REFRESH;
    if (r.left != 0)
        return -1;
    return 0;
}
