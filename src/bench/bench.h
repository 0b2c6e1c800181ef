/*
 * metcd-bench: a bounded load generator for the etcd v2 keys API over
 * HTTP/1.1 keep-alive connections (loopback targets only).
 */
#ifndef METCD_BENCH_H
#define METCD_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#define BENCH_MAX_CONNS       4096
#define BENCH_MAX_THREADS     64
#define BENCH_MAX_DURATION_MS (3600 * 1000)
#define BENCH_MAX_KEYS        100000000
#define BENCH_MAX_VALUE       (1024 * 1024)
#define BENCH_MAX_ENDPOINTS   16
#define BENCH_MAX_SAMPLES     (64u * 1024 * 1024) /* latency samples kept per run */

/*
 * FILL writes each of the keys 0..keys-1 exactly once, then stops. LOCK is
 * the v2 lock recipe: create a random key among --keys with
 * prevExist=false, delete it once created (a 412 "key exists" is the lock
 * being held elsewhere: counted as a request, not an error). LIST GETs the
 * prefix directory itself, whose children are the --keys keys.
 */
typedef enum bench_op {
    BENCH_GET,
    BENCH_PUT,
    BENCH_MIXED,
    BENCH_WATCH,
    BENCH_FILL,
    BENCH_LOCK,
    BENCH_LIST
} bench_op_t;

/* A resolved loopback endpoint. */
typedef struct bench_target {
    char url[256];
    char host_header[256];
    struct sockaddr_storage addr;
    socklen_t addr_len;
    bool tls;       /* https:// */
    char host[200]; /* the name the server's certificate must carry */
} bench_target_t;

typedef struct bench_config {
    bench_op_t op;
    unsigned conns;
    unsigned threads;
    unsigned duration_ms;
    unsigned keys;
    unsigned value_size;
    unsigned write_percent; /* mixed (default 10) and list (default 0): share of PUTs */
    uint64_t max_requests;  /* 0: bounded by time only */
    char prefix[128];       /* key prefix, default "/bench" */
    const char *progress;   /* non-NULL: a live progress line on stderr, with this label */
} bench_config_t;

/* Results of one run against one set of endpoints. */
typedef struct bench_result {
    uint64_t requests; /* completed with a 2xx answer */
    uint64_t errors;   /* non-2xx answers, connection failures, bad framing */
    uint64_t writes;   /* of requests, the PUTs (mixed, watch) */
    uint64_t events;   /* watch: events received */
    uint64_t resyncs;  /* watch: 401 "event index cleared" answers (watcher fell behind) */
    double seconds;    /* measured wall time */
    double p50_ms, p90_ms, p99_ms, max_ms, mean_ms;
    char first_error[256];
} bench_result_t;

/*
 * Parses "http://host:port" and checks that every address the host resolves
 * to is loopback (127.0.0.0/8, ::1). Returns 0, or -1 with a message in err.
 */
int bench_target_parse(bench_target_t *t, const char *url, char *err, size_t err_len);

/*
 * Writes cfg->keys keys of cfg->value_size bytes under cfg->prefix, so GETs
 * find them. Returns 0, or -1 with a message in err.
 */
/*
 * TLS for https:// targets (tls.c): the client context, with etcdctl's
 * --cert-file, --key-file and --ca-file (NULL: none; the system's CAs).
 * Returns 0 or -1 with err. Call before bench_run().
 */
int bench_tls_configure(const char *cert_file, const char *key_file, const char *ca_file, char *err,
                        size_t err_len);
/* A client TLS connection on fd for t (free with SSL_free); NULL if unconfigured. */
SSL *bench_tls_new(const bench_target_t *t, int fd);
/*
 * send/recv through TLS when ssl is set: > 0 bytes, 0 end of stream (read),
 * -1 with errno (EAGAIN: try again when the socket is ready; EPERM: the
 * server's certificate was refused).
 */
ssize_t bench_io(int fd, SSL *ssl, void *buf, size_t len, bool write);

int bench_populate(const bench_target_t *t, const bench_config_t *cfg, char *err, size_t err_len);

/*
 * Runs the load described by cfg against the targets (connections spread
 * round-robin) for cfg->duration_ms or cfg->max_requests, whichever ends
 * first. Returns 0 with *res filled, or -1 with a message in err.
 */
int bench_run(const bench_target_t *targets, size_t n_targets, const bench_config_t *cfg,
              bench_result_t *res, char *err, size_t err_len);

/* `metcd-bench floor ARGS` (floor.c): serves until killed; returns the
 * exit status on a bad argument or a failed start. */
int bench_floor_main(int argc, char **argv);

#endif
