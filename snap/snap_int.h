/* snap/ internals shared by its files and tests. */
#ifndef METCD_SNAP_INT_H
#define METCD_SNAP_INT_H

#include "snap/snap.h"

#define SNAP_MAGIC         "METCDSN1"
#define SNAP_TRAILER_MAGIC "SEND"
#define SNAP_HDR_SIZE      32u
#define SNAP_TRAILER_SIZE  16u

typedef struct snap_name {
    uint64_t term;
    uint64_t index;
} snap_name_t;

/* Lists "*.snap" in dir, newest first (index, then term descending).
 * *out is malloc'd (caller frees). */
int snap_list(const char *dir, snap_name_t **out, size_t *n);
void snap_file_name(char *buf, size_t len, uint64_t term, uint64_t index);
void snap_seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* METCD_SNAP_INT_H */
