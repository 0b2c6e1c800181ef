/*
 * Proxy mode's start and life: the cluster source, the director and its
 * refresh thread, one accepting thread per --listen-client-urls and one
 * thread per client connection (a long-poll watch holds its thread and two
 * sockets while it waits). SIGINT or SIGTERM ends the process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "src/proxy/proxy.h"
#include "src/proxy/proxy_int.h"

/* etcd's director: with the default refresh interval (30 s) or longer, an
 * empty endpoint list is retried every second instead. */
#define DEFAULT_REFRESH_MS 30000

typedef struct accepted {
    proxy_t *p;
    int fd;
    char ip[INET6_ADDRSTRLEN];
} accepted_t;

typedef struct listener {
    proxy_t *p;
    int fd;
} listener_t;

int proxy_dir_exists(const char *data_dir)
{
    char *dir = NULL;
    if (asprintf(&dir, "%s/proxy", data_dir) < 0)
        abort();
    struct stat st;
    int rc = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    free(dir);
    return rc;
}

static size_t refresh(proxy_t *p)
{
    char **urls = NULL;
    size_t n = proxy_cluster_client_urls(&p->cluster, &urls);
    proxy_director_set(&p->director, urls, n);
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    free(urls);
    return n;
}

static void *refresh_thread(void *arg)
{
    proxy_t *p = arg;
    bool logged = false;
    for (;;) {
        proxy_endpoint_t *eps = NULL;
        size_t n = proxy_director_endpoints(&p->director, &eps);
        if (n > 0 && !logged) {
            char list[2048] = "";
            for (size_t i = 0; i < n; i++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"", i ? " " : "",
                         eps[i].url);
            log_line('I', "proxy/httpproxy", "endpoints found [%s]", list);
            logged = true;
        }
        free(eps);
        unsigned ms = p->refresh_interval_ms;
        if (ms >= DEFAULT_REFRESH_MS && n == 0)
            ms = 1000;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        refresh(p);
    }
    return NULL;
}

static void *connection_thread(void *arg)
{
    accepted_t *a = arg;
    proxy_forward_connection(a->p, a->fd, a->ip);
    free(a);
    return NULL;
}

static void *accept_thread(void *arg)
{
    listener_t *l = arg;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                usleep(100000);
            continue;
        }
        /* Answers go out in several writes (head, body chunks): without
         * this, Nagle's algorithm holds each one for the client's delayed
         * acknowledgement (40 ms). */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        accepted_t *a = calloc(1, sizeof(*a));
        if (a == NULL)
            abort();
        a->p = l->p;
        a->fd = fd;
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a->ip, sizeof(a->ip));
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a->ip, sizeof(a->ip));
        pthread_t t;
        if (pthread_create(&t, &attr, connection_thread, a) != 0) {
            close(fd);
            free(a);
        }
    }
    return NULL;
}

static int listen_on(const config_url_t *u, char *err, size_t err_len)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", u->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *ai = NULL;
    int rc = getaddrinfo(u->host[0] ? u->host : NULL, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, err_len, "listen tcp %s: %s", u->text, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, err_len, "listen tcp %s:%u: bind: %s", u->host, u->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int proxy_run(const config_t *cfg, void (*notify)(const char *state), char *err, size_t err_len)
{
    static proxy_t p; /* shared by every thread until the process ends */
    memset(&p, 0, sizeof(p));
    p.readonly = cfg->proxy == CONFIG_PROXY_READONLY;
    p.dial_timeout_ms = cfg->proxy_dial_timeout_ms;
    p.write_timeout_ms = cfg->proxy_write_timeout_ms;
    p.read_timeout_ms = cfg->proxy_read_timeout_ms;
    p.refresh_interval_ms = cfg->proxy_refresh_interval_ms;
    log_line('N', "etcdmain", "proxy: this proxy supports v2 API only!");
    if (cfg->listen_client.n == 0) {
        snprintf(err, err_len, "the proxy needs --listen-client-urls");
        return -1;
    }
    for (size_t i = 0; i < cfg->listen_client.n; i++)
        if (strcmp(cfg->listen_client.urls[i].scheme, "http") != 0) {
            snprintf(err, err_len,
                     "cannot listen on %s: TLS (https) is not supported yet by this version of "
                     "metcd",
                     cfg->listen_client.urls[i].text);
            return -1;
        }
    if (proxy_cluster_init(&p.cluster, cfg, err, err_len) != 0)
        return -1;
    char list[2048] = "";
    for (size_t i = 0; i < p.cluster.n_peer_urls; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? " " : "",
                 p.cluster.peer_urls[i]);
    log_line('I', "etcdmain", "proxy: using peer urls [%s]", list);
    proxy_director_init(&p.director, cfg->proxy_failure_wait_ms);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    refresh(&p);

    /* Signals are taken by this thread only (sigwait below). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Static like p: the accepting threads use them until the process ends. */
    static listener_t *ls;
    ls = calloc(cfg->listen_client.n, sizeof(*ls));
    if (ls == NULL)
        abort();
    for (size_t i = 0; i < cfg->listen_client.n; i++) {
        ls[i].p = &p;
        ls[i].fd = listen_on(&cfg->listen_client.urls[i], err, err_len);
        if (ls[i].fd < 0)
            return -1; /* the process exits; nothing else to undo */
    }
    pthread_t t;
    if (pthread_create(&t, NULL, refresh_thread, &p) != 0) {
        snprintf(err, err_len, "cannot start the refresh thread");
        return -1;
    }
    for (size_t i = 0; i < cfg->listen_client.n; i++) {
        if (pthread_create(&t, NULL, accept_thread, &ls[i]) != 0) {
            snprintf(err, err_len, "cannot start the accepting thread");
            return -1;
        }
        log_line('I', "etcdmain", "v2 proxy started listening on client requests on \"%s\"",
                 cfg->listen_client.urls[i].text);
    }
    if (notify != NULL)
        notify("READY=1");
    int sig = 0;
    sigwait(&set, &sig);
    log_line('N', "etcdmain", "received %s, shutting down",
             sig == SIGINT ? "interrupt" : "terminated");
    if (notify != NULL)
        notify("STOPPING=1");
    /* Connection threads hold sockets and the director: the process ends
     * here without joining them (exit closes every socket). */
    return 0;
}
