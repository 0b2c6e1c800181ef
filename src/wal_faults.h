/*
 * Disk fault injection for process tests. When METCD_TEST_WAL_FAULTS names a
 * file, every WAL write and fdatasync first reads that file: "enospc" makes
 * writes (and preallocation) fail with ENOSPC, "eio" makes fdatasync fail
 * with EIO, "eio-once" fails the next fdatasync only (and removes the file);
 * a missing or empty file means a healthy disk. A test flips the
 * disk's health while the member runs by writing or removing the file.
 * Without the variable the real system calls are used (no cost).
 */
#ifndef METCD_WAL_FAULTS_H
#define METCD_WAL_FAULTS_H

struct wal_io;

/* The I/O shim to give wal_options_t.io: NULL (the real calls) unless the
 * variable is set. Static storage; never freed. */
const struct wal_io *wal_faults_from_env(void);

#endif /* METCD_WAL_FAULTS_H */
