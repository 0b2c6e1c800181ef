/*
 * metcd-bench: load generator for the etcd v2 keys API.
 *
 *   metcd-bench [run] --endpoints URL[,URL...] [options]
 *   metcd-bench compare --a URL --b URL [options]
 *
 * Every run is bounded in time (--duration, at most 600 s) and optionally in
 * requests (--requests); targets must be loopback addresses.
 */
#include "bench.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: metcd-bench [run] --endpoints URL[,URL...] [options]\n"
            "       metcd-bench compare --a URL --b URL [options]\n"
            "       metcd-bench floor --listen PORT [--threads N] [--sync DIR]\n"
            "\n"
            "Load for the etcd v2 keys API over HTTP/1.1 keep-alive (loopback only).\n"
            "floor: a stand-in server that answers every request with one fixed answer\n"
            "of metcd's size, the least CPU per request a server can use here.\n"
            "\n"
            "options:\n"
            "  --conns N          connections (default 64, at most %d)\n"
            "  --threads N        worker threads (default 2, at most %d)\n"
            "  --duration D       run time: 10s, 500ms, 1m (default 10s, at most 1h)\n"
            "  --requests N       stop after N requests (default: time only)\n"
            "  --op OP            get | put | mixed | watch | fill | lock | list (default get)\n"
            "                       mixed: GETs with --write-percent PUTs (default 10)\n"
            "                       watch: half the connections long-poll a recursive\n"
            "                       watch on the prefix, the other half PUT\n"
            "                       fill: PUT each of the --keys keys once, then stop\n"
            "                       lock: create a random key under PREFIX-locks with\n"
            "                       prevExist=false, delete it once created (412 counts)\n"
            "                       list: GET the PREFIX directory (its --keys children);\n"
            "                       with --write-percent, that share of the requests\n"
            "                       PUT a new value to one of the children\n"
            "  --keys N           distinct keys (default 1000)\n"
            "  --value-size B     value bytes for PUTs and the initial keys (default 100)\n"
            "  --prefix P         key prefix (default /bench)\n"
            "  --no-populate      do not write the keys before a get/mixed run\n"
            "  --rounds N         compare: alternate A and B N times each (default 2)\n"
            "  --pid P            run: report the CPU time process P used per request\n"
            "  --a-pid P, --b-pid P  compare: the same for the servers at A and B\n"
            "  --json             print results as one JSON object per line\n"
            "  --cert-file F, --key-file F, --ca-file F\n"
            "                     https:// endpoints: the client certificate and key, and\n"
            "                     the CA the servers' certificates must chain to (default:\n"
            "                     the system's), as etcdctl's flags\n",
            BENCH_MAX_CONNS, BENCH_MAX_THREADS);
}

static int parse_duration_ms(const char *s, unsigned *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) {
        return -1;
    }
    double ms;
    if (strcmp(end, "ms") == 0) {
        ms = v;
    } else if (strcmp(end, "s") == 0 || *end == '\0') {
        ms = v * 1000;
    } else if (strcmp(end, "m") == 0) {
        ms = v * 60000;
    } else {
        return -1;
    }
    if (ms < 1 || ms > BENCH_MAX_DURATION_MS) {
        return -1;
    }
    *out = (unsigned)ms;
    return 0;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (*s < '0' || *s > '9') {
        return -1;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static const char *op_name(bench_op_t op)
{
    switch (op) {
    case BENCH_GET:
        return "get";
    case BENCH_PUT:
        return "put";
    case BENCH_MIXED:
        return "mixed";
    case BENCH_WATCH:
        return "watch";
    case BENCH_FILL:
        return "fill";
    case BENCH_LOCK:
        return "lock";
    case BENCH_LIST:
        return "list";
    }
    return "?";
}

/* The loads that read the --keys keys, written before the run. */
static bool needs_keys(bench_op_t op)
{
    return op == BENCH_GET || op == BENCH_MIXED || op == BENCH_LIST;
}

static void print_result(const char *label, const bench_config_t *cfg, const bench_result_t *r,
                         bool json)
{
    double rps = r->seconds > 0 ? (double)r->requests / r->seconds : 0;
    if (json) {
        printf("{\"target\":\"%s\",\"op\":\"%s\",\"conns\":%u,\"seconds\":%.3f,"
               "\"requests\":%llu,\"rps\":%.1f,\"errors\":%llu,\"writes\":%llu,\"events\":%llu,"
               "\"resyncs\":%llu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
               "\"mean_ms\":%.3f}\n",
               label, op_name(cfg->op), cfg->conns, r->seconds, (unsigned long long)r->requests,
               rps, (unsigned long long)r->errors, (unsigned long long)r->writes,
               (unsigned long long)r->events, (unsigned long long)r->resyncs, r->p50_ms, r->p90_ms,
               r->p99_ms, r->max_ms, r->mean_ms);
        return;
    }
    printf("target     %s\n", label);
    printf("load       op=%s conns=%u threads=%u keys=%u value=%uB duration=%.2fs\n",
           op_name(cfg->op), cfg->conns, cfg->threads, cfg->keys, cfg->value_size, r->seconds);
    printf("requests   %llu (%.1f/s), errors %llu", (unsigned long long)r->requests, rps,
           (unsigned long long)r->errors);
    if (cfg->op == BENCH_MIXED) {
        printf(", of which PUT %llu", (unsigned long long)r->writes);
    }
    if (cfg->op == BENCH_WATCH) {
        printf(", watch events %llu (%.1f/s), watch resyncs (401) %llu",
               (unsigned long long)r->events, r->seconds > 0 ? (double)r->events / r->seconds : 0,
               (unsigned long long)r->resyncs);
    }
    printf("\nlatency    p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, mean %.3f ms\n",
           r->p50_ms, r->p90_ms, r->p99_ms, r->max_ms, r->mean_ms);
    if (r->first_error[0] != '\0') {
        printf("first error: %s\n", r->first_error);
    }
    fflush(stdout);
}

static void add_into(bench_result_t *sum, const bench_result_t *r, int round)
{
    /* Throughput adds up; latency figures are averaged over the rounds
     * (max is the max). */
    sum->requests += r->requests;
    sum->errors += r->errors;
    sum->writes += r->writes;
    sum->events += r->events;
    sum->resyncs += r->resyncs;
    sum->seconds += r->seconds;
    sum->p50_ms = (sum->p50_ms * round + r->p50_ms) / (round + 1);
    sum->p90_ms = (sum->p90_ms * round + r->p90_ms) / (round + 1);
    sum->p99_ms = (sum->p99_ms * round + r->p99_ms) / (round + 1);
    sum->mean_ms = (sum->mean_ms * round + r->mean_ms) / (round + 1);
    if (r->max_ms > sum->max_ms) {
        sum->max_ms = r->max_ms;
    }
    if (sum->first_error[0] == '\0') {
        memcpy(sum->first_error, r->first_error, sizeof(sum->first_error));
    }
}

/* CPU seconds (user + system) used so far by process pid, from /proc; -1 if unknown. */
static double process_cpu_seconds(long pid)
{
    if (pid <= 0) {
        return -1;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name (which may hold spaces) start at ") ". */
    const char *p = strrchr(buf, ')');
    unsigned long long utime, stime;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                            &stime) != 2) {
        return -1;
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Runs one measurement and, when pid is given, the server's CPU per request. */
static int measured_run(const bench_target_t *t, size_t n, const bench_config_t *cfg, long pid,
                        bench_result_t *r, double *cpu_us, char *err, size_t err_len)
{
    double before = process_cpu_seconds(pid);
    int rc = bench_run(t, n, cfg, r, err, err_len);
    double after = process_cpu_seconds(pid);
    *cpu_us = before >= 0 && after >= 0 && r->requests > 0
                  ? (after - before) * 1e6 / (double)r->requests
                  : -1;
    return rc;
}

static double ratio(double b, double a)
{
    return a > 0 ? b / a : 0;
}

int main(int argc, char **argv)
{
    /* A server that closes a connection must not kill the load (OpenSSL
     * writes with write(2), without MSG_NOSIGNAL). */
    signal(SIGPIPE, SIG_IGN);
    bench_config_t cfg = {.op = BENCH_GET,
                          .conns = 64,
                          .threads = 2,
                          .duration_ms = 10000,
                          .keys = 1000,
                          .value_size = 100,
                          .write_percent = 10,
                          .prefix = "/bench"};
    const char *endpoints = NULL, *a_url = NULL, *b_url = NULL;
    const char *cert_file = NULL, *key_file = NULL, *ca_file = NULL;
    bool compare = false, json = false, populate = true, write_percent_given = false;
    unsigned long long rounds = 2;
    unsigned long long pid = 0, a_pid = 0, b_pid = 0;
    int i = 1;
    if (i < argc && strcmp(argv[i], "floor") == 0)
        return bench_floor_main(argc - 2, argv + 2);
    if (i < argc && strcmp(argv[i], "compare") == 0) {
        compare = true;
        i++;
    } else if (i < argc && strcmp(argv[i], "run") == 0) {
        i++;
    }
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        char name[64];
        const char *eq = strchr(a, '=');
        if (eq != NULL && (size_t)(eq - a) < sizeof(name)) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            v = eq + 1;
            a = name;
        }
        bool is_flag_without_value = strcmp(a, "--json") == 0 || strcmp(a, "--no-populate") == 0 ||
                                     strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
        if (!is_flag_without_value && v == NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "metcd-bench: %s needs a value\n", a);
                return 2;
            }
            v = argv[++i];
        }
        unsigned long long n = 0;
        int bad = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--no-populate") == 0) {
            populate = false;
        } else if (strcmp(a, "--endpoints") == 0) {
            endpoints = v;
        } else if (strcmp(a, "--cert-file") == 0) {
            cert_file = v;
        } else if (strcmp(a, "--key-file") == 0) {
            key_file = v;
        } else if (strcmp(a, "--ca-file") == 0) {
            ca_file = v;
        } else if (strcmp(a, "--a") == 0) {
            a_url = v;
        } else if (strcmp(a, "--b") == 0) {
            b_url = v;
        } else if (strcmp(a, "--conns") == 0) {
            bad = parse_uint(v, BENCH_MAX_CONNS, &n) < 0 || n == 0;
            cfg.conns = (unsigned)n;
        } else if (strcmp(a, "--threads") == 0) {
            bad = parse_uint(v, BENCH_MAX_THREADS, &n) < 0 || n == 0;
            cfg.threads = (unsigned)n;
        } else if (strcmp(a, "--duration") == 0) {
            bad = parse_duration_ms(v, &cfg.duration_ms) < 0;
        } else if (strcmp(a, "--requests") == 0) {
            bad = parse_uint(v, UINT64_MAX, &n) < 0;
            cfg.max_requests = n;
        } else if (strcmp(a, "--keys") == 0) {
            bad = parse_uint(v, BENCH_MAX_KEYS, &n) < 0 || n == 0;
            cfg.keys = (unsigned)n;
        } else if (strcmp(a, "--value-size") == 0) {
            bad = parse_uint(v, BENCH_MAX_VALUE, &n) < 0;
            cfg.value_size = (unsigned)n;
        } else if (strcmp(a, "--write-percent") == 0) {
            bad = parse_uint(v, 100, &n) < 0;
            cfg.write_percent = (unsigned)n;
            write_percent_given = true;
        } else if (strcmp(a, "--pid") == 0) {
            bad = parse_uint(v, 1u << 22, &pid) < 0;
        } else if (strcmp(a, "--a-pid") == 0) {
            bad = parse_uint(v, 1u << 22, &a_pid) < 0;
        } else if (strcmp(a, "--b-pid") == 0) {
            bad = parse_uint(v, 1u << 22, &b_pid) < 0;
        } else if (strcmp(a, "--rounds") == 0) {
            bad = parse_uint(v, 100, &rounds) < 0 || rounds == 0;
        } else if (strcmp(a, "--prefix") == 0) {
            bad = v[0] != '/' || strlen(v) >= sizeof(cfg.prefix) || strpbrk(v, "?# %\r\n") != NULL;
            if (!bad) {
                snprintf(cfg.prefix, sizeof(cfg.prefix), "%s", v);
            }
        } else if (strcmp(a, "--op") == 0) {
            if (strcmp(v, "get") == 0) {
                cfg.op = BENCH_GET;
            } else if (strcmp(v, "put") == 0) {
                cfg.op = BENCH_PUT;
            } else if (strcmp(v, "mixed") == 0) {
                cfg.op = BENCH_MIXED;
            } else if (strcmp(v, "watch") == 0) {
                cfg.op = BENCH_WATCH;
            } else if (strcmp(v, "fill") == 0) {
                cfg.op = BENCH_FILL;
            } else if (strcmp(v, "lock") == 0) {
                cfg.op = BENCH_LOCK;
            } else if (strcmp(v, "list") == 0) {
                cfg.op = BENCH_LIST;
            } else {
                bad = 1;
            }
        } else {
            fprintf(stderr, "metcd-bench: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "metcd-bench: bad value for %s: %s\n", a, v);
            return 2;
        }
    }
    if (cfg.op == BENCH_LIST && !write_percent_given)
        cfg.write_percent = 0; /* a listing load writes only when asked */
    if (cfg.op == BENCH_WATCH && cfg.conns < 2) {
        fprintf(stderr, "metcd-bench: --op watch needs at least 2 connections\n");
        return 2;
    }

    char err[512];
    if (bench_tls_configure(cert_file, key_file, ca_file, err, sizeof(err)) < 0) {
        fprintf(stderr, "metcd-bench: %s\n", err);
        return 2;
    }
    if (!compare) {
        if (endpoints == NULL) {
            fprintf(stderr, "metcd-bench: --endpoints is required\n");
            usage(stderr);
            return 2;
        }
        bench_target_t targets[BENCH_MAX_ENDPOINTS];
        size_t n = 0;
        char *copy = strdup(endpoints), *save = NULL;
        if (copy == NULL) {
            return 1;
        }
        for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
             tok = strtok_r(NULL, ",", &save)) {
            if (n == BENCH_MAX_ENDPOINTS) {
                fprintf(stderr, "metcd-bench: at most %d endpoints\n", BENCH_MAX_ENDPOINTS);
                free(copy);
                return 2;
            }
            if (bench_target_parse(&targets[n], tok, err, sizeof(err)) < 0) {
                fprintf(stderr, "metcd-bench: %s\n", err);
                free(copy);
                return 2;
            }
            n++;
        }
        free(copy);
        if (n == 0) {
            fprintf(stderr, "metcd-bench: no endpoints\n");
            return 2;
        }
        if (populate && needs_keys(cfg.op) &&
            bench_populate(&targets[0], &cfg, err, sizeof(err)) < 0) {
            fprintf(stderr, "metcd-bench: %s\n", err);
            return 1;
        }
        bench_result_t r;
        double cpu_us;
        if (isatty(STDERR_FILENO)) {
            cfg.progress = op_name(cfg.op);
        }
        if (measured_run(targets, n, &cfg, (long)pid, &r, &cpu_us, err, sizeof(err)) < 0) {
            fprintf(stderr, "metcd-bench: %s\n", err);
            return 1;
        }
        print_result(endpoints, &cfg, &r, json);
        if (cpu_us >= 0 && !json) {
            printf("server CPU %.1f us per request (pid %llu)\n", cpu_us, pid);
        }
        return r.requests > 0 ? 0 : 1;
    }

    if (a_url == NULL || b_url == NULL) {
        fprintf(stderr, "metcd-bench compare: --a URL and --b URL are required\n");
        return 2;
    }
    bench_target_t ta, tb;
    if (bench_target_parse(&ta, a_url, err, sizeof(err)) < 0 ||
        bench_target_parse(&tb, b_url, err, sizeof(err)) < 0) {
        fprintf(stderr, "metcd-bench: %s\n", err);
        return 2;
    }
    if (populate && needs_keys(cfg.op)) {
        if (bench_populate(&ta, &cfg, err, sizeof(err)) < 0 ||
            bench_populate(&tb, &cfg, err, sizeof(err)) < 0) {
            fprintf(stderr, "metcd-bench: %s\n", err);
            return 1;
        }
    }
    /* Alternate A and B so that both see the same machine conditions
     * (other load, CPU frequency) in the same run. */
    bench_result_t sum_a = {0}, sum_b = {0};
    double cpu_a = 0, cpu_b = 0; /* server CPU us per request, averaged over rounds */
    for (unsigned long long r = 0; r < rounds; r++) {
        bench_result_t ra, rb;
        double ca, cb;
        char label_a[64], label_b[64];
        snprintf(label_a, sizeof(label_a), "%s A round %llu/%llu", op_name(cfg.op), r + 1, rounds);
        snprintf(label_b, sizeof(label_b), "%s B round %llu/%llu", op_name(cfg.op), r + 1, rounds);
        bool tty = isatty(STDERR_FILENO);
        bench_config_t cfg_a = cfg, cfg_b = cfg;
        cfg_a.progress = tty ? label_a : NULL;
        cfg_b.progress = tty ? label_b : NULL;
        if (measured_run(&ta, 1, &cfg_a, (long)a_pid, &ra, &ca, err, sizeof(err)) < 0 ||
            measured_run(&tb, 1, &cfg_b, (long)b_pid, &rb, &cb, err, sizeof(err)) < 0) {
            fprintf(stderr, "metcd-bench: %s\n", err);
            return 1;
        }
        if (json) {
            print_result(a_url, &cfg, &ra, true);
            print_result(b_url, &cfg, &rb, true);
        } else {
            printf("round %llu: A %.1f req/s (p99 %.3f ms), B %.1f req/s (p99 %.3f ms)", r + 1,
                   ra.seconds > 0 ? (double)ra.requests / ra.seconds : 0, ra.p99_ms,
                   rb.seconds > 0 ? (double)rb.requests / rb.seconds : 0, rb.p99_ms);
            /* Each round's CPU too: the spread between rounds shows how
             * much of a difference the machine's own noise could make. */
            if (a_pid > 0 && b_pid > 0 && ca > 0 && cb > 0)
                printf(", server CPU A %.1f us, B %.1f us (B/A %.2f)", ca, cb, cb / ca);
            printf("\n");
            fflush(stdout);
        }
        cpu_a = (cpu_a * (double)r + ca) / (double)(r + 1);
        cpu_b = (cpu_b * (double)r + cb) / (double)(r + 1);
        add_into(&sum_a, &ra, (int)r);
        add_into(&sum_b, &rb, (int)r);
    }
    double rps_a = sum_a.seconds > 0 ? (double)sum_a.requests / sum_a.seconds : 0;
    double rps_b = sum_b.seconds > 0 ? (double)sum_b.requests / sum_b.seconds : 0;
    if (json) {
        printf("{\"compare\":true,\"op\":\"%s\",\"a_rps\":%.1f,\"b_rps\":%.1f,\"rps_ratio\":%.3f,"
               "\"a_p50_ms\":%.3f,\"b_p50_ms\":%.3f,\"a_p99_ms\":%.3f,\"b_p99_ms\":%.3f,"
               "\"p99_ratio\":%.3f,\"a_max_ms\":%.3f,\"b_max_ms\":%.3f,"
               "\"a_cpu_us\":%.1f,\"b_cpu_us\":%.1f,\"a_errors\":%llu,\"b_errors\":%llu,"
               "\"a_events_per_s\":%.1f,\"b_events_per_s\":%.1f,"
               "\"a_resyncs\":%llu,\"b_resyncs\":%llu}\n",
               op_name(cfg.op), rps_a, rps_b, ratio(rps_b, rps_a), sum_a.p50_ms, sum_b.p50_ms,
               sum_a.p99_ms, sum_b.p99_ms, ratio(sum_b.p99_ms, sum_a.p99_ms), sum_a.max_ms,
               sum_b.max_ms, a_pid ? cpu_a : -1.0, b_pid ? cpu_b : -1.0,
               (unsigned long long)sum_a.errors, (unsigned long long)sum_b.errors,
               sum_a.seconds > 0 ? (double)sum_a.events / sum_a.seconds : 0,
               sum_b.seconds > 0 ? (double)sum_b.events / sum_b.seconds : 0,
               (unsigned long long)sum_a.resyncs, (unsigned long long)sum_b.resyncs);
        return 0;
    }
    printf("\nop=%s conns=%u threads=%u keys=%u value=%uB, %llu rounds of %.1fs each\n",
           op_name(cfg.op), cfg.conns, cfg.threads, cfg.keys, cfg.value_size, rounds,
           cfg.duration_ms / 1000.0);
    printf("A = %s\nB = %s\n", a_url, b_url);
    printf("%-14s %16s %16s %9s\n", "", "A", "B", "B/A");
    printf("%-14s %16.1f %16.1f %9.2f\n", "requests/s", rps_a, rps_b, ratio(rps_b, rps_a));
    printf("%-14s %16.3f %16.3f %9.2f\n", "p50 ms", sum_a.p50_ms, sum_b.p50_ms,
           ratio(sum_b.p50_ms, sum_a.p50_ms));
    printf("%-14s %16.3f %16.3f %9.2f\n", "p99 ms", sum_a.p99_ms, sum_b.p99_ms,
           ratio(sum_b.p99_ms, sum_a.p99_ms));
    printf("%-14s %16.3f %16.3f %9.2f\n", "max ms", sum_a.max_ms, sum_b.max_ms,
           ratio(sum_b.max_ms, sum_a.max_ms));
    if (a_pid > 0 && b_pid > 0 && cpu_a > 0 && cpu_b > 0) {
        printf("%-14s %16.1f %16.1f %9.2f\n", "server CPU us", cpu_a, cpu_b, ratio(cpu_b, cpu_a));
    }
    printf("%-14s %16llu %16llu\n", "errors", (unsigned long long)sum_a.errors,
           (unsigned long long)sum_b.errors);
    if (cfg.op == BENCH_WATCH) {
        printf("%-14s %16.1f %16.1f %9.2f\n", "events/s", sum_a.events / sum_a.seconds,
               sum_b.events / sum_b.seconds,
               ratio(sum_b.events / sum_b.seconds, sum_a.events / sum_a.seconds));
        printf("%-14s %16llu %16llu\n", "resyncs (401)", (unsigned long long)sum_a.resyncs,
               (unsigned long long)sum_b.resyncs);
    }
    if (sum_a.first_error[0]) {
        printf("A first error: %s\n", sum_a.first_error);
    }
    if (sum_b.first_error[0]) {
        printf("B first error: %s\n", sum_b.first_error);
    }
    return 0;
}
