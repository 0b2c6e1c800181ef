/*
 * Record framing: an 8-byte header word (length:24, type:8, crc:32, little
 * endian) and the payload padded with zeros to 8 bytes. See wal/wal.h.
 */
#include "wal/wal_int.h"

#include <string.h>

/* etcd's torn-write rule (wal/decoder.go isTornEntry): disks write whole
 * sectors, so a record cut by a crash has at least one sector-sized piece
 * that is still all zeros. */
#define SECTOR 512u

size_t wal_record_encode(uint8_t *dst, int type, const void *payload, size_t len)
{
    size_t size = wal_record_size(len);
    le_put64(dst, (uint64_t)len | ((uint64_t)type << 24));
    if (len)
        memcpy(dst + WAL_HDR_SIZE, payload, len);
    memset(dst + WAL_HDR_SIZE + len, 0, size - WAL_HDR_SIZE - len);
    return size;
}

static uint32_t record_crc(const uint8_t *rec, size_t len, uint32_t prev)
{
    uint32_t c = crc32c(prev, rec, 4);
    return crc32c(c, rec + WAL_HDR_SIZE, len);
}

uint32_t wal_record_seal(uint8_t *rec, uint32_t prev_crc)
{
    uint64_t word = le_get64(rec);
    size_t len = word & 0xffffff;
    uint32_t crc = record_crc(rec, len, prev_crc);
    le_put64(rec, (word & 0xffffffffu) | ((uint64_t)crc << 32));
    return crc;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static bool has_zero_sector_piece(const uint8_t *buf, size_t off, size_t size)
{
    size_t end = off + size;
    while (off < end) {
        size_t next = (off / SECTOR + 1) * SECTOR;
        if (next > end)
            next = end;
        if (all_zero(buf + off, next - off))
            return true;
        off = next;
    }
    return false;
}

enum wal_decode wal_record_decode(const uint8_t *buf, size_t size, size_t off, uint32_t prev_crc,
                                  wal_record_t *rec, const char **what)
{
    *what = NULL;
    if (off == size)
        return WAL_DEC_END;
    if (off + WAL_HDR_SIZE > size)
        return WAL_DEC_TORN;
    uint64_t word = le_get64(buf + off);
    if (word == 0)
        return WAL_DEC_END;
    size_t len = word & 0xffffff;
    int type = (int)((word >> 24) & 0xff);
    uint32_t crc = (uint32_t)(word >> 32);
    size_t rsize = wal_record_size(len);
    if (rsize > size - off)
        return WAL_DEC_TORN;
    if (type == 0 || type > WAL_REC_MAX) {
        *what = "unknown record type";
        return WAL_DEC_CORRUPT;
    }
    if (record_crc(buf + off, len, prev_crc) != crc) {
        if (has_zero_sector_piece(buf, off, rsize))
            return WAL_DEC_TORN;
        *what = "crc mismatch";
        return WAL_DEC_CORRUPT;
    }
    if (!all_zero(buf + off + WAL_HDR_SIZE + len, rsize - WAL_HDR_SIZE - len)) {
        *what = "nonzero padding";
        return WAL_DEC_CORRUPT;
    }
    rec->type = type;
    rec->payload = buf + off + WAL_HDR_SIZE;
    rec->len = len;
    rec->size = rsize;
    rec->crc = crc;
    return WAL_DEC_OK;
}
