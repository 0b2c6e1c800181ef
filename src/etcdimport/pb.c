/*
 * The protobuf wire format, as far as etcd's records need it: a message is
 * a sequence of (tag, value) pairs, tag = field number << 3 | wire type.
 * Groups (wire types 3 and 4) never occur in etcd's messages and are
 * refused.
 */
#include "src/etcdimport/etcdimport_int.h"

static int read_varint(eimp_pb_reader_t *r, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->left == 0)
            return -1;
        uint8_t b = *r->p++;
        r->left--;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

int eimp_pb_next(eimp_pb_reader_t *r, eimp_pb_field_t *f)
{
    if (r->left == 0)
        return 0;
    uint64_t tag;
    if (read_varint(r, &tag) != 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return -1;
    f->num = (uint32_t)(tag >> 3);
    f->wire = (uint8_t)(tag & 7);
    f->u = 0;
    f->data = NULL;
    f->len = 0;
    switch (f->wire) {
    case EIMP_PB_VARINT:
        return read_varint(r, &f->u) == 0 ? 1 : -1;
    case EIMP_PB_FIXED64:
    case EIMP_PB_FIXED32: {
        size_t n = f->wire == EIMP_PB_FIXED64 ? 8 : 4;
        if (r->left < n)
            return -1;
        for (size_t i = 0; i < n; i++)
            f->u |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
        r->left -= n;
        return 1;
    }
    case EIMP_PB_BYTES: {
        uint64_t n;
        if (read_varint(r, &n) != 0 || n > r->left)
            return -1;
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        r->left -= (size_t)n;
        return 1;
    }
    default:
        return -1;
    }
}
