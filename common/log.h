/*
 * Log lines in etcd's capnslog layout:
 *   2026-11-22 17:10:54.759535 I | etcdserver: message
 * Levels: 'D' debug, 'I' info, 'N' notice, 'W' warning, 'E' error,
 * 'C' critical. Lines go to stderr until log_configure() names other
 * outputs. Called from the loop thread only (and from main before it
 * starts).
 */
#ifndef METCD_LOG_H
#define METCD_LOG_H

#include <stddef.h>

void log_line(char level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Sets the lowest level written (etcd's --log-level: debug, info, warn,
 * error, dpanic, panic, fatal) and the outputs (--log-outputs: a comma list
 * of "default" or "stderr" (stderr), "stdout", "journal" (stderr, which
 * systemd hands to the journal) and file paths, opened for appending and
 * created when missing). As etcd does, "default" cannot be combined with
 * others. Returns 0, or -1 with one line in err and the previous outputs
 * kept. Files stay open until log_close().
 */
int log_configure(const char *level, const char *outputs, char *err, size_t err_len);

/* Closes the files log_configure() opened; lines go to stderr again. */
void log_close(void);

#endif /* METCD_LOG_H */
