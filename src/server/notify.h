/*
 * systemd's readiness protocol without libsystemd: a state line such as
 * "READY=1" sent as one datagram to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').
 * etcd sends READY=1 once the member has joined its cluster (Debian's unit
 * is Type=notify); metcd does the same and sends STOPPING=1 as it stops.
 */
#ifndef METCD_NOTIFY_H
#define METCD_NOTIFY_H

/*
 * Sends state to $NOTIFY_SOCKET. Returns 1 when sent, 0 when the variable
 * is not set (not run by systemd), or -errno (the caller logs it; a failed
 * notification never stops the member).
 */
int notify_systemd(const char *state);

#endif /* METCD_NOTIFY_H */
