/*
 * Ending the client connections at shutdown.
 *
 * h2o 2.2.5 cannot dispose a context while connections are open, and the
 * API keeps its connections to itself. At shutdown the server therefore
 * finds the accepted sockets of its client ports in /proc/self/fd and shuts
 * them down (SHUT_RDWR): h2o then sees end-of-file, closes each connection
 * through its normal path and releases it, after which the API can be freed.
 */
#ifndef METCD_DRAIN_H
#define METCD_DRAIN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Shuts down every connected TCP socket of this process whose local port is
 * one of ports[] (listening sockets are left alone). Returns how many such
 * sockets are still open (0: none left), or -1 if /proc is unreadable.
 */
int drain_client_sockets(const uint16_t *ports, size_t n_ports);

#endif /* METCD_DRAIN_H */
