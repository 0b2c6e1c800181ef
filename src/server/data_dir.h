/*
 * The data directory: created with mode 0700 and a `member/` directory
 * inside (etcd's layout), and locked so that two members never share it.
 */
#ifndef METCD_DATA_DIR_H
#define METCD_DATA_DIR_H

#include <stdbool.h>
#include <stddef.h>

/* Returned when another process holds the lock. */
#define DATA_DIR_E_LOCKED (-2)

/*
 * Creates dir (and parents) and dir/member, then takes an exclusive flock on
 * dir/member/.lock. Returns 0 with *lock_fd set (the caller keeps it open for
 * the life of the process and closes it at exit), DATA_DIR_E_LOCKED when
 * another process holds the lock, or -1; err says why in one line.
 */
int data_dir_open(const char *dir, int *lock_fd, char *err, size_t err_len);

/*
 * Where the WAL lives: wal_dir when etcd's --wal-dir gives one (a
 * dedicated, often faster, disk), else <dir>/member/wal. Returns a string
 * the caller frees; aborts when out of memory.
 */
char *data_dir_wal_path(const char *dir, const char *wal_dir);

/*
 * Refuses to start without a log beside data a log belongs to: with
 * --wal-dir, <dir>/member/wal holding a log; with or without it,
 * <dir>/member/snap holding snapshots (the member ran with another
 * --wal-dir). Either way the member would bootstrap a new cluster, empty,
 * beside the data it acknowledged. has_log tells whether a directory holds
 * a WAL. Returns 0, or -1 with err.
 */
int data_dir_check_wal(const char *dir, const char *wal_dir, bool (*has_log)(const char *),
                       char *err, size_t err_len);

/*
 * The storage backend of the data dir, kept in dir/member/backend ("memory",
 * "lmdb" or "leveldb" and a newline). A new data dir (no log yet, have_log
 * false) gets `backend`, written durably before anything else; a data dir
 * without the file predates backends and is "memory". Returns 0 when the
 * data dir's backend is `backend`, else -1 with a message naming both.
 */
int data_dir_backend(const char *dir, const char *backend, bool have_log, char *err,
                     size_t err_len);

/*
 * The backend dir/member/backend names ("memory" without the file) into
 * have (have_len bytes). Returns 0, or -1 with err when it cannot be read.
 */
int data_dir_backend_of(const char *dir, char *have, size_t have_len, char *err, size_t err_len);

/* Names backend in dir/member/backend, durably. Returns 0, or -1 with err. */
int data_dir_set_backend(const char *dir, const char *backend, char *err, size_t err_len);

#endif /* METCD_DATA_DIR_H */
