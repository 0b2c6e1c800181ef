/*
 * The data directory: created with mode 0700 and a `member/` directory
 * inside (etcd's layout), and locked so that two members never share it.
 */
#ifndef METCD_DATA_DIR_H
#define METCD_DATA_DIR_H

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

#endif /* METCD_DATA_DIR_H */
