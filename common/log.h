/*
 * Log lines on stderr in etcd's capnslog layout:
 *   2026-11-22 17:10:54.759535 I | etcdserver: message
 * Levels: 'D' debug, 'I' info, 'N' notice, 'W' warning, 'E' error.
 * Called from the loop thread only (and from main before it starts).
 */
#ifndef METCD_LOG_H
#define METCD_LOG_H

void log_line(char level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* METCD_LOG_H */
