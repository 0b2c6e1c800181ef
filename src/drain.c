#include <dirent.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "src/drain.h"

static int local_port(int fd, uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        return -1;
    return 0;
}

int drain_client_sockets(const uint16_t *ports, size_t n_ports)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int open_left = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end != '\0' || end == e->d_name || fd == dirfd(d))
            continue;
        struct stat st;
        if (fstat((int)fd, &st) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        int listening = 0;
        socklen_t ol = sizeof(listening);
        if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol) != 0 || listening)
            continue;
        uint16_t port;
        if (local_port((int)fd, &port) != 0)
            continue;
        for (size_t i = 0; i < n_ports; i++)
            if (ports[i] == port) {
                shutdown((int)fd, SHUT_RDWR); /* idempotent: ENOTCONN on a second call */
                open_left++;
                break;
            }
    }
    closedir(d);
    return open_left;
}
