/*
 * Listening sockets for the URLs of --listen-client-urls and
 * --listen-peer-urls: TCP, SO_REUSEADDR, non-blocking, close-on-exec.
 */
#ifndef METCD_LISTENER_H
#define METCD_LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include "src/config/config.h"

/*
 * Binds and listens on url (http only; the caller rejects https). A host
 * name is resolved; like Go's net.Listen, an IPv4 address is preferred when
 * the name has both. Returns a listening fd (the caller owns it), or -1
 * with one line in err.
 */
int listener_bind(const config_url_t *url, char *err, size_t err_len);

/* "127.0.0.1:2379" for the address the fd is bound to (port 0 resolved). */
void listener_describe(int fd, char *buf, size_t len);

#endif /* METCD_LISTENER_H */
