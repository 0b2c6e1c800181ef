/*
 * A single-member server for the API's own tests: the api_host_t applies
 * each proposal at once (encode, store_apply, answer), with no raft and no
 * disk. Usage: api-test-server PORT [MAX_REQUEST_BYTES]. It prints
 * "listening PORT" once it accepts connections and exits on SIGTERM/SIGINT.
 * A SYNC is applied every 500 ms while keys with a TTL exist, as a leader does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>

#include "api/api.h"
#include "store/store.h"

static volatile sig_atomic_t stop_requested;
static store_t *store;
static uint64_t raft_index = 1;
static const char *client_urls[1];
static const char *peer_urls[1] = {"http://127.0.0.1:2380"};
static api_member_t member;
static int64_t start_ns;
static api_t *api; /* global: reachable at exit for LeakSanitizer */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int apply(const store_request_t *req, store_event_t **ev, store_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (store_request_encode(req, &buf, &len) != 0)
        return store_error_set(err, STORE_E_RAFT_INTERNAL, "encode", store_index(store));
    raft_index++;
    int rc = store_apply(store, buf, len, ev, err);
    free(buf);
    return rc;
}

/*
 * With API_TEST_PROPOSE_DELAY_MS set, proposals wait that long before they
 * are applied (as behind raft and a disk), so that a client can go away
 * while its write is in flight.
 */
typedef struct delayed {
    uint8_t *buf;
    size_t len;
    api_propose_cb done;
    void (*read_done)(void *done_ctx, int rc, store_error_t *err); /* a read barrier */
    void *done_ctx;
    struct delayed *next;
} delayed_t;

static delayed_t *delayed_head, **delayed_tail = &delayed_head;
static unsigned propose_delay_ms;
static h2o_timeout_t delay_timeout;
static h2o_timeout_entry_t delay_entry;
static h2o_loop_t *loop;

static void on_delay(h2o_timeout_entry_t *e)
{
    (void)e;
    delayed_t *d = delayed_head;
    delayed_head = NULL;
    delayed_tail = &delayed_head;
    while (d != NULL) {
        delayed_t *next = d->next;
        if (d->read_done != NULL) {
            d->read_done(d->done_ctx, 0, NULL);
            free(d);
            d = next;
            continue;
        }
        store_event_t *ev = NULL;
        store_error_t err = {0};
        raft_index++;
        int rc = store_apply(store, d->buf, d->len, &ev, &err);
        d->done(d->done_ctx, rc, rc == 0 ? ev : NULL, rc == 0 ? NULL : &err);
        free(d->buf);
        free(d);
        d = next;
    }
}

static int propose(void *ctx, const store_request_t *req, api_propose_cb done, void *done_ctx,
                   store_error_t *err)
{
    (void)ctx;
    if (propose_delay_ms != 0) {
        delayed_t *d = calloc(1, sizeof(*d));
        if (d == NULL || store_request_encode(req, &d->buf, &d->len) != 0) {
            free(d);
            return store_error_set(err, STORE_E_RAFT_INTERNAL, "encode", store_index(store));
        }
        d->done = done;
        d->done_ctx = done_ctx;
        *delayed_tail = d;
        delayed_tail = &d->next;
        if (!h2o_timeout_is_linked(&delay_entry))
            h2o_timeout_link(loop, &delay_timeout, &delay_entry);
        return 0;
    }
    store_event_t *ev = NULL;
    store_error_t aerr = {0};
    int rc = apply(req, &ev, &aerr);
    done(done_ctx, rc, rc == 0 ? ev : NULL, rc == 0 ? NULL : &aerr);
    return 0;
}

/* With a delay, quorum reads wait for it too (as a ReadIndex round would). */
static int read_barrier(void *ctx, void (*done)(void *, int, store_error_t *), void *done_ctx,
                        store_error_t *err)
{
    (void)ctx;
    (void)err;
    delayed_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        abort();
    d->read_done = done;
    d->done_ctx = done_ctx;
    *delayed_tail = d;
    delayed_tail = &d->next;
    if (!h2o_timeout_is_linked(&delay_entry))
        h2o_timeout_link(loop, &delay_timeout, &delay_entry);
    return 0;
}

static void server_info(void *ctx, api_server_info_t *out)
{
    (void)ctx;
    memset(out, 0, sizeof(*out));
    out->cluster_id = 0x1535ab9792fc5de1ULL;
    out->self_id = 0xac10e50d8a558ef9ULL;
    out->leader_id = out->self_id;
    out->raft_index = raft_index;
    out->raft_term = 2;
    out->is_leader = true;
    out->start_time_ns = start_ns;
    out->leader_start_time_ns = start_ns;
    out->members = &member;
    out->n_members = 1;
}

static void on_sync(h2o_timeout_entry_t *e);
static h2o_timeout_t sync_timeout;
static h2o_timeout_entry_t sync_entry = {.cb = on_sync};

static void on_sync(h2o_timeout_entry_t *e)
{
    (void)e;
    int64_t next = store_next_expiration(store);
    int64_t now = now_ns();
    if (next != 0 && next <= now) {
        store_request_t r = {.op = STORE_OP_SYNC, .time_ns = now, .key = "/", .key_len = 1};
        store_error_t err = {0};
        if (apply(&r, NULL, &err) != 0)
            store_error_clear(&err);
    }
    h2o_timeout_link(loop, &sync_timeout, &sync_entry);
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [MAX_REQUEST_BYTES]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    static char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    client_urls[0] = url;
    member = (api_member_t){.id = 0xac10e50d8a558ef9ULL,
                            .name = "default",
                            .peer_urls = peer_urls,
                            .n_peer_urls = 1,
                            .client_urls = client_urls,
                            .n_client_urls = 1};
    start_ns = now_ns();
    store_config_t scfg = {.history_size = 1000};
    store = store_new(&scfg);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0) {
        fprintf(stderr, "bind/listen: %s\n", strerror(errno));
        return 1;
    }
    loop = h2o_evloop_create();
    api_config_t cfg = {.max_request_bytes = argc > 2 ? strtoull(argv[2], NULL, 10) : 1572864,
                        .version = "3.4.23",
                        .cluster_version = "3.4.0"};
    const char *delay = getenv("API_TEST_PROPOSE_DELAY_MS");
    propose_delay_ms = delay ? (unsigned)atoi(delay) : 0;
    api_host_t be = {.ctx = NULL,
                     .store = store,
                     .propose = propose,
                     .server_info = server_info,
                     .read_barrier = propose_delay_ms ? read_barrier : NULL};
    api = api_new(loop, &cfg, &be);
    if (api == NULL || api_listen(api, fd) != 0)
        return 1;
    h2o_timeout_init(loop, &delay_timeout, propose_delay_ms);
    delay_entry.cb = on_delay;
    h2o_timeout_init(loop, &sync_timeout, 500);
    h2o_timeout_link(loop, &sync_timeout, &sync_entry);
    struct sigaction sact = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sact, NULL);
    sigaction(SIGINT, &sact, NULL);
    printf("listening %d\n", port);
    fflush(stdout);
    while (!stop_requested)
        h2o_evloop_run(loop, INT32_MAX);
    /* Exit without disposing: open keep-alive connections forbid h2o_context_dispose. */
    return 0;
}
