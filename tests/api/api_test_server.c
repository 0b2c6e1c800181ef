/*
 * A single-member server for the API's own tests: the api_host_t applies
 * each proposal at once (encode, store_apply, answer), with no raft and no
 * disk. Usage: api-test-server PORT [MAX_REQUEST_BYTES]. It prints
 * "listening PORT" once it accepts connections and exits on SIGTERM/SIGINT.
 * A SYNC is applied every 500 ms while keys with a TTL exist, as a leader does.
 *
 * Membership changes apply at once to an in-memory member list, checked in
 * the order of etcd's ValidateConfigurationChange (removed id, unknown or
 * existing id, peer URLs in use). A peer URL whose host is "internal-error"
 * makes the change fail as a cluster without quorum would (500). Every other
 * member appears as a follower in /v2/stats/leader, with two sends of 1.5
 * and 2.5 ms recorded when it is added.
 *
 * API_TEST_FOLLOWER=1 makes it a follower of a second member, n1
 * (2bf4ebf7445e1eb9, client URL http://127.0.0.1:1), heard from 1.5 ms after
 * the start; API_TEST_FOLLOWER=noleader a member that has never had a leader.
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
#include <openssl/sha.h>

#include "api/api.h"
#include "store/store.h"

static volatile sig_atomic_t stop_requested;
static store_t *store;
static uint64_t raft_index = 1;
static const char *client_urls[1];
static const char *peer_urls[1] = {"http://127.0.0.1:2380"};
/*
 * The member list. Strings and removed members are never freed: server_info()
 * pointers must outlive the loop turn, and a test server is short-lived.
 */
#define MAX_MEMBERS 64
static api_member_t members[MAX_MEMBERS];
static api_follower_stats_t followers[MAX_MEMBERS];
static size_t n_members, n_followers;
static uint64_t removed[MAX_MEMBERS];
static size_t n_removed;
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

static char *dup_str(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static const char *const *dup_urls(const char *const *urls, size_t n)
{
    const char **d = calloc(n ? n : 1, sizeof(*d));
    if (d == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        d[i] = dup_str(urls[i]);
    return d;
}

static api_member_t *find_member(uint64_t id)
{
    for (size_t i = 0; i < n_members; i++)
        if (members[i].id == id)
            return &members[i];
    return NULL;
}

static bool was_removed(uint64_t id)
{
    for (size_t i = 0; i < n_removed; i++)
        if (removed[i] == id)
            return true;
    return false;
}

/* Whether a URL is a peer URL of a member other than `except`. */
static bool peer_url_in_use(const char *url, uint64_t except)
{
    for (size_t i = 0; i < n_members; i++)
        for (size_t j = 0; members[i].id != except && j < members[i].n_peer_urls; j++)
            if (strcmp(members[i].peer_urls[j], url) == 0)
                return true;
    return false;
}

/* etcd's membership.NewMember id: SHA-1 of the sorted peer URLs, "" and the Unix second. */
static uint64_t new_member_id(const api_member_change_t *ch)
{
    char buf[4096];
    size_t n = 0;
    for (size_t i = 0; i < ch->n_peer_urls; i++) {
        size_t l = strlen(ch->peer_urls[i]);
        if (n + l >= sizeof(buf) - 24)
            break;
        memcpy(buf + n, ch->peer_urls[i], l);
        n += l;
    }
    n += (size_t)snprintf(buf + n, 24, "%lld", (long long)time(NULL));
    unsigned char h[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)buf, n, h);
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = id << 8 | h[i];
    return id;
}

/* Keeps replaced URL lists reachable (see above). */
static const void *retired[4 * MAX_MEMBERS];
static size_t n_retired;

static void retire(const void *p)
{
    if (n_retired < sizeof(retired) / sizeof(retired[0]))
        retired[n_retired++] = p;
}

static int apply_member_change(const api_member_change_t *ch, const api_member_t **out,
                               const char **message)
{
    *out = NULL;
    *message = NULL;
    for (size_t i = 0; i < ch->n_peer_urls; i++) {
        if (strstr(ch->peer_urls[i], "//internal-error:") != NULL) {
            *message = "etcdserver: unhealthy cluster";
            return API_MEMBER_E_INTERNAL;
        }
    }
    uint64_t id = ch->op == API_MEMBER_ADD ? new_member_id(ch) : ch->id;
    if (was_removed(id))
        return API_MEMBER_E_REMOVED;
    api_member_t *m = find_member(id);
    if (ch->op == API_MEMBER_ADD && m != NULL)
        return API_MEMBER_E_ID_EXISTS;
    if (ch->op != API_MEMBER_ADD && m == NULL)
        return API_MEMBER_E_NOT_FOUND;
    for (size_t i = 0; i < ch->n_peer_urls; i++)
        if (peer_url_in_use(ch->peer_urls[i], id))
            return API_MEMBER_E_PEER_URL_EXISTS;
    switch (ch->op) {
    case API_MEMBER_ADD:
        if (n_members == MAX_MEMBERS) {
            *message = "too many members";
            return API_MEMBER_E_INTERNAL;
        }
        m = &members[n_members++];
        *m = (api_member_t){.id = id,
                            .name = "",
                            .peer_urls = dup_urls(ch->peer_urls, ch->n_peer_urls),
                            .n_peer_urls = ch->n_peer_urls,
                            .client_urls = dup_urls(NULL, 0)};
        api_follower_stats_t *fs = &followers[n_followers++];
        api_follower_stats_init(fs, id);
        api_follower_stats_succeed(fs, 1500000);
        api_follower_stats_succeed(fs, 2500000);
        *out = m;
        return 0;
    case API_MEMBER_UPDATE:
        retire(m->peer_urls);
        m->peer_urls = dup_urls(ch->peer_urls, ch->n_peer_urls);
        m->n_peer_urls = ch->n_peer_urls;
        return 0;
    case API_MEMBER_REMOVE:
        if (n_removed < MAX_MEMBERS)
            removed[n_removed++] = id;
        retire(m->peer_urls);
        retire(m->client_urls);
        *m = members[--n_members];
        for (size_t i = 0; i < n_followers; i++) {
            if (followers[i].id == id) {
                followers[i] = followers[--n_followers];
                break;
            }
        }
        return 0;
    }
    return API_MEMBER_E_INTERNAL;
}

/*
 * With a propose delay the answer comes later, after the change applied
 * (the client may have gone meanwhile); without one, before returning.
 */
typedef struct delayed_change {
    int rc;
    const api_member_t *m;
    const char *message;
    api_member_cb done;
    void *done_ctx;
    h2o_timeout_entry_t entry;
} delayed_change_t;

static h2o_timeout_t change_timeout;

static void on_change_delay(h2o_timeout_entry_t *e)
{
    delayed_change_t *d = H2O_STRUCT_FROM_MEMBER(delayed_change_t, entry, e);
    d->done(d->done_ctx, d->rc, d->m, d->message);
    free(d);
}

static int member_change(void *ctx, const api_member_change_t *ch, api_member_cb done,
                         void *done_ctx)
{
    (void)ctx;
    const api_member_t *m;
    const char *message;
    int rc = apply_member_change(ch, &m, &message);
    if (propose_delay_ms == 0) {
        done(done_ctx, rc, m, message);
        return 0;
    }
    delayed_change_t *d = calloc(1, sizeof(*d));
    if (d == NULL)
        abort();
    *d = (delayed_change_t){
        .rc = rc, .m = m, .message = message, .done = done, .done_ctx = done_ctx};
    d->entry.cb = on_change_delay;
    h2o_timeout_link(loop, &change_timeout, &d->entry);
    return 0;
}

static const char *follower_mode; /* NULL, "1" or "noleader" */

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
    if (follower_mode != NULL) {
        bool has_leader = strcmp(follower_mode, "noleader") != 0;
        out->is_leader = false;
        out->leader_id = has_leader ? 0x2bf4ebf7445e1eb9ULL : 0;
        out->leader_info_id = out->leader_id;
        out->leader_start_time_ns = has_leader ? start_ns + 1500000 : 0;
        out->recv_append_requests = 7;
    }
    out->members = members;
    out->n_members = n_members;
    out->followers = followers;
    out->n_followers = n_followers;
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
    n_members = 1;
    members[0] = (api_member_t){.id = 0xac10e50d8a558ef9ULL,
                                .name = "default",
                                .peer_urls = peer_urls,
                                .n_peer_urls = 1,
                                .client_urls = client_urls,
                                .n_client_urls = 1};
    follower_mode = getenv("API_TEST_FOLLOWER");
    if (follower_mode != NULL) {
        static const char *leader_peer[1] = {"http://127.0.0.1:2381"};
        static const char *leader_client[1] = {"http://127.0.0.1:1"};
        members[n_members++] = (api_member_t){.id = 0x2bf4ebf7445e1eb9ULL,
                                              .name = "n1",
                                              .peer_urls = leader_peer,
                                              .n_peer_urls = 1,
                                              .client_urls = leader_client,
                                              .n_client_urls = 1};
    }
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
                     .read_barrier = propose_delay_ms ? read_barrier : NULL,
                     .member_change = member_change};
    api = api_new(loop, &cfg, &be);
    if (api == NULL || api_listen(api, fd) != 0)
        return 1;
    h2o_timeout_init(loop, &delay_timeout, propose_delay_ms);
    h2o_timeout_init(loop, &change_timeout, propose_delay_ms);
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
