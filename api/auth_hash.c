/*
 * bcrypt off the loop thread. A bcrypt of cost 10 takes tens of
 * milliseconds: done on the loop it would stall every client of the member
 * for each password tried. One worker thread does every hash and check;
 * the loop hands jobs over and gets them back through an eventfd.
 *
 * Fairness: the loop gives the worker at most one job per connection at a
 * time and keeps the others waiting in arrival order, so a client that
 * sends many guesses at once (HTTP/2 streams, pipelining) only queues
 * behind itself; a new connection's check runs after at most one job of
 * each other connection. Checks that succeeded are cached (auth_check.c),
 * so a client with good credentials pays for bcrypt once.
 */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/auth_int.h"

/* Go's bcrypt.DefaultCost, which etcd's HashPassword uses. */
#define BCRYPT_COST 10

typedef struct job job_t;

/* Tie between a job and its request: the request's dispose clears it. */
typedef struct job_slot {
    job_t *job;
} job_slot_t;

struct job {
    const void *conn;
    char *password; /* malloc'd copy, wiped and freed by the worker */
    size_t password_len;
    char hash[CRYPT_OUTPUT_SIZE]; /* check: the stored hash; hash: the result */
    bool is_check;
    bool ok;
    api_auth_hash_cb cb;
    void *ctx;
    job_slot_t *slot; /* NULL once the request is gone */
    job_t *next;
};

struct api_auth_hasher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *todo_head, *todo_tail; /* for the worker (at most one per connection) */
    job_t *done;                  /* back to the loop */
    bool stop;
    int efd;
    h2o_socket_t *sock;
    job_t *wait_head, *wait_tail; /* loop side: jobs whose connection has one running */
    size_t n_running;             /* loop side: connections with a job at the worker */
    const void **running_conns;
    size_t running_cap;
    api_t *api; /* whose loop; its callbacks run inside the host's lock */
};

/*
 * crypt_r of password (len bytes, copied to a C string) with setting (a
 * salt or a stored hash). Copies the result into out (out_size bytes) and
 * returns 0, or -1. The copies are wiped.
 */
static int run_crypt(const char *password, size_t len, const char *setting, char *out,
                     size_t out_size)
{
    char *pw = malloc(len + 1);
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (pw == NULL || cd == NULL)
        abort();
    memcpy(pw, password, len);
    pw[len] = '\0';
    const char *h = crypt_r(pw, setting, cd);
    int rc = -1;
    if (h != NULL && h[0] == '$' && strlen(h) < out_size) {
        strcpy(out, h);
        rc = 0;
    }
    OPENSSL_cleanse(pw, len);
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(pw);
    free(cd);
    return rc;
}

int api_auth_bcrypt_hash(const char *password, size_t len, char *out, size_t out_size)
{
    /*
     * crypt reads a C string: a NUL would cut the password short and let
     * its prefix in. etcd's bcrypt hashes every byte; metcd refuses these.
     */
    if (memchr(password, '\0', len) != NULL)
        return -1;
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (crypt_gensalt_rn("$2b$", BCRYPT_COST, NULL, 0, setting, sizeof(setting)) == NULL)
        return -1;
    return run_crypt(password, len, setting, out, out_size);
}

bool api_auth_bcrypt_check(const char *password, size_t len, const char *hash)
{
    size_t hl = strlen(hash);
    /* Only bcrypt hashes, as etcd's CompareHashAndPassword accepts. */
    if (hl < 7 || hash[0] != '$' || hash[1] != '2' || memchr(password, '\0', len) != NULL)
        return false;
    char h[CRYPT_OUTPUT_SIZE];
    bool ok = run_crypt(password, len, hash, h, sizeof(h)) == 0 && strlen(h) == hl &&
              CRYPTO_memcmp(h, hash, hl) == 0;
    OPENSSL_cleanse(h, sizeof(h));
    return ok;
}

static void *worker(void *arg)
{
    api_auth_hasher_t *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (h->todo_head == NULL && !h->stop)
            pthread_cond_wait(&h->cv, &h->mu);
        if (h->stop)
            break;
        job_t *j = h->todo_head;
        h->todo_head = j->next;
        if (h->todo_head == NULL)
            h->todo_tail = NULL;
        pthread_mutex_unlock(&h->mu);
        if (j->is_check)
            j->ok = api_auth_bcrypt_check(j->password, j->password_len, j->hash);
        else
            j->ok =
                api_auth_bcrypt_hash(j->password, j->password_len, j->hash, sizeof(j->hash)) == 0;
        OPENSSL_cleanse(j->password, j->password_len);
        free(j->password);
        j->password = NULL;
        pthread_mutex_lock(&h->mu);
        j->next = h->done;
        h->done = j;
        uint64_t one = 1;
        if (write(h->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            abort();
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static bool conn_running(api_auth_hasher_t *h, const void *conn)
{
    for (size_t i = 0; i < h->n_running; i++)
        if (h->running_conns[i] == conn)
            return true;
    return false;
}

static void give_to_worker(api_auth_hasher_t *h, job_t *j)
{
    if (h->n_running == h->running_cap) {
        h->running_cap = h->running_cap ? h->running_cap * 2 : 8;
        h->running_conns = realloc(h->running_conns, h->running_cap * sizeof(*h->running_conns));
        if (h->running_conns == NULL)
            abort();
    }
    h->running_conns[h->n_running++] = j->conn;
    j->next = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->todo_tail != NULL)
        h->todo_tail->next = j;
    else
        h->todo_head = j;
    h->todo_tail = j;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static void free_list(job_t *j)
{
    while (j != NULL) {
        job_t *n = j->next;
        if (j->slot != NULL)
            j->slot->job = NULL;
        if (j->password != NULL) {
            OPENSSL_cleanse(j->password, j->password_len);
            free(j->password);
        }
        free(j);
        j = n;
    }
}

static void conn_finished(api_auth_hasher_t *h, const void *conn)
{
    for (size_t i = 0; i < h->n_running; i++)
        if (h->running_conns[i] == conn) {
            h->running_conns[i] = h->running_conns[--h->n_running];
            break;
        }
    /*
     * The oldest waiting job of that connection goes next; jobs whose
     * request is gone (a client that gave up) are dropped unhashed.
     */
    job_t *prev = NULL, *w = h->wait_head;
    while (w != NULL) {
        if (w->conn != conn) {
            prev = w;
            w = w->next;
            continue;
        }
        job_t *next = w->next;
        if (prev != NULL)
            prev->next = next;
        else
            h->wait_head = next;
        if (h->wait_tail == w)
            h->wait_tail = prev;
        if (w->slot != NULL) {
            give_to_worker(h, w);
            return;
        }
        w->next = NULL;
        free_list(w);
        w = next;
    }
}

static void on_slot_dispose(void *p)
{
    job_slot_t *slot = p;
    if (slot->job != NULL)
        slot->job->slot = NULL;
}

static void finish(api_auth_hasher_t *h, job_t *j)
{
    conn_finished(h, j->conn);
    if (j->slot != NULL) {
        j->slot->job = NULL;
        /* The request goes on (it may read or write the store): inside the lock. */
        api_enter(h->api);
        j->cb(j->ctx, j->ok, j->is_check ? NULL : (j->ok ? j->hash : NULL));
        api_leave(h->api);
    }
    OPENSSL_cleanse(j->hash, sizeof(j->hash));
    free(j);
}

static void on_done(h2o_socket_t *sock, const char *err)
{
    (void)err;
    api_auth_hasher_t *h = sock->data;
    uint64_t v;
    if (read(h->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&h->mu);
    job_t *list = h->done;
    h->done = NULL;
    pthread_mutex_unlock(&h->mu);
    /* The list is newest first: answer in the order the worker finished. */
    job_t *rev = NULL;
    while (list != NULL) {
        job_t *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev != NULL) {
        job_t *n = rev->next;
        finish(h, rev);
        rev = n;
    }
}

api_auth_hasher_t *api_auth_hasher_new(api_t *api)
{
    api_auth_hasher_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        abort();
    h->api = api;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (h->efd < 0)
        abort(); /* fd exhaustion at startup only */
    h->sock = h2o_evloop_socket_create(api->loop, h->efd, H2O_SOCKET_FLAG_DONT_READ);
    h->sock->data = h;
    h2o_socket_read_start(h->sock, on_done);
    if (pthread_create(&h->thread, NULL, worker, h) != 0)
        abort();
    return h;
}

void api_auth_hasher_free(api_auth_hasher_t *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    free_list(h->todo_head);
    free_list(h->done);
    free_list(h->wait_head);
    h2o_socket_read_stop(h->sock);
    h2o_socket_close(h->sock); /* closes the eventfd */
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h->running_conns);
    free(h);
}

void api_auth_hash_submit(api_auth_hasher_t *h, h2o_req_t *req, const void *conn,
                          const char *password, size_t password_len, const char *hash,
                          api_auth_hash_cb cb, void *ctx)
{
    job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        abort();
    j->conn = conn;
    j->password = malloc(password_len + 1);
    if (j->password == NULL)
        abort();
    memcpy(j->password, password, password_len);
    j->password[password_len] = '\0';
    j->password_len = password_len;
    j->is_check = hash != NULL;
    if (hash != NULL) {
        size_t n = strlen(hash);
        if (n >= sizeof(j->hash))
            n = sizeof(j->hash) - 1; /* too long for bcrypt: the check fails */
        memcpy(j->hash, hash, n);
    }
    j->cb = cb;
    j->ctx = ctx;
    j->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*j->slot), on_slot_dispose);
    j->slot->job = j;
    if (conn_running(h, conn)) {
        j->next = NULL;
        if (h->wait_tail != NULL)
            h->wait_tail->next = j;
        else
            h->wait_head = j;
        h->wait_tail = j;
        return;
    }
    give_to_worker(h, j);
}
