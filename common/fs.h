/*
 * Directories and lock files, the way every layer that owns files needs
 * them: the data directory, the WAL directory, the snapshot directory.
 */
#ifndef METCD_COMMON_FS_H
#define METCD_COMMON_FS_H

#include <stddef.h>

/*
 * mkdir -p with mode 0700 (etcd's TouchDirAll), fsyncing the parent of every
 * directory it creates so that the new directory survives a crash. Returns 0
 * or a negative errno.
 */
int fs_mkdir_all(const char *dir);

/*
 * Takes an exclusive flock on `path` (created 0600, holding this process id),
 * without waiting. flock locks belong to the open file description, so a
 * second lock of the same file in this process conflicts too. Returns the
 * lock's fd (>= 0; the caller keeps it open as long as it holds the lock and
 * closes it to release), -EBUSY when another holder has it (err then names
 * `what` and the holder's pid), or another negative errno; err says why in
 * one line.
 */
int fs_lock_file(const char *path, const char *what, char *err, size_t err_len);

/*
 * Writes all `len` bytes of `p` to `fd` (a file, a pipe or a socket),
 * retrying short writes and EINTR. Returns 0, or a negative errno (-ENOSPC
 * when write() returns 0). A socket writer ignores SIGPIPE first: every
 * binary that writes to sockets does at start.
 */
int fs_write_all(int fd, const void *p, size_t len);

/* Removes path and everything below it (absent: nothing to do). Returns 0,
 * or -1 with err naming the path and the reason. */
int fs_remove_tree(const char *path, char *err, size_t err_len);

/* fsync of a directory (after a rename or unlink in it). Returns 0, or -1
 * with err naming the directory and the reason. */
int fs_sync_dir(const char *dir, char *err, size_t err_len);

/* rename(2). Returns 0, or -1 with err naming both paths and the reason. */
int fs_rename(const char *from, const char *to, char *err, size_t err_len);

#endif /* METCD_COMMON_FS_H */
