/*
 * etcd's snapshot files (snap/snapshotter.go): "<term>-<index>.snap", 16 hex
 * digits each, holding a snappb.Snapshot {1: crc, 2: data} where crc is the
 * CRC-32C of data, and data a raftpb.Snapshot {1: data, 2: metadata
 * {1: conf_state, 2: index, 3: term}}. In etcd 3.4 the inner data is the
 * v2 store as JSON (etcdserver's snapshot: v2store SaveNoCopy).
 */
#include <stdio.h>

#include "common/crc32c.h"
#include "src/etcdimport/etcdimport_int.h"

int eimp_snap_decode(const uint8_t *file, size_t len, uint64_t *index, uint64_t *term,
                     const uint8_t **payload, size_t *payload_len, char *err, size_t err_len)
{
    eimp_pb_reader_t r = {file, len};
    eimp_pb_field_t f;
    int rc;
    uint64_t crc = 0;
    const uint8_t *data = NULL;
    size_t dlen = 0;
    bool has_crc = false;
    while ((rc = eimp_pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.wire == EIMP_PB_VARINT) {
            crc = f.u;
            has_crc = true;
        } else if (f.num == 2 && f.wire == EIMP_PB_BYTES) {
            data = f.data;
            dlen = f.len;
        }
    }
    if (rc != 0 || data == NULL || !has_crc) {
        snprintf(err, err_len, "not an etcd snapshot file");
        return -1;
    }
    if (crc32c(0, data, dlen) != crc) {
        snprintf(err, err_len, "snapshot CRC mismatch");
        return -1;
    }
    *payload = NULL;
    *payload_len = 0;
    *index = *term = 0;
    bool has_meta = false;
    eimp_pb_reader_t s = {data, dlen};
    while ((rc = eimp_pb_next(&s, &f)) == 1) {
        if (f.num == 1 && f.wire == EIMP_PB_BYTES) {
            *payload = f.data;
            *payload_len = f.len;
        } else if (f.num == 2 && f.wire == EIMP_PB_BYTES) {
            eimp_pb_reader_t m = {f.data, f.len};
            eimp_pb_field_t g;
            int mr;
            while ((mr = eimp_pb_next(&m, &g)) == 1) {
                if (g.num == 2 && g.wire == EIMP_PB_VARINT)
                    *index = g.u;
                else if (g.num == 3 && g.wire == EIMP_PB_VARINT)
                    *term = g.u;
            }
            if (mr != 0)
                rc = -1;
            has_meta = true;
        }
        if (rc != 1)
            break;
    }
    if (rc != 0 || !has_meta || *payload == NULL) {
        snprintf(err, err_len, "the snapshot's raft record does not decode");
        return -1;
    }
    return 0;
}
