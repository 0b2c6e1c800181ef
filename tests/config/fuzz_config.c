/*
 * libFuzzer target for the configuration parser. The first byte picks the
 * source: command-line arguments, ETCD_* variables, or a YAML config file;
 * the rest, split at NUL bytes, is the arguments / variables / file text.
 * Checks: no crash, no leak, and a failure is one line of text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "src/config/config.h"

#define MAX_PARTS 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Splits data at NUL bytes into at most MAX_PARTS owned strings. */
static size_t split(const uint8_t *data, size_t size, char **parts)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < MAX_PARTS; i++)
        if (i == size || data[i] == '\0') {
            parts[n++] = strndup((const char *)data + start, i - start);
            start = i + 1;
        }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    unsigned mode = data[0] % 3;
    data++, size--;
    char *argv[MAX_PARTS + 2] = {"metcd"};
    char *envp[MAX_PARTS + 1] = {NULL};
    char *parts[MAX_PARTS];
    size_t n = 0;
    int argc = 1;
    char flag[64];
    int fd = -1;
    if (mode == 0) {
        n = split(data, size, parts);
        for (size_t i = 0; i < n; i++)
            argv[argc++] = parts[i];
    } else if (mode == 1) {
        n = split(data, size, parts);
        for (size_t i = 0; i < n; i++) {
            char *v = NULL;
            if (asprintf(&v, "ETCD_%s", parts[i]) < 0)
                abort();
            free(parts[i]);
            parts[i] = v;
            envp[i] = v;
        }
    } else {
        fd = memfd_create("metcd-fuzz.yaml", 0);
        if (fd < 0 || write(fd, data, size) != (ssize_t)size)
            abort();
        snprintf(flag, sizeof(flag), "--config-file=/proc/self/fd/%d", fd);
        argv[argc++] = flag;
    }
    config_t cfg;
    char err[512];
    err[0] = '\0';
    if (config_parse(&cfg, argc, argv, envp, err, sizeof(err)) == 0) {
        if (!cfg.show_help && !cfg.show_version) {
            if (cfg.name == NULL || cfg.data_dir == NULL || cfg.listen_client.n == 0 ||
                cfg.n_initial_cluster == 0 ||
                cfg.election_timeout_ms < 5 * cfg.heartbeat_interval_ms)
                abort();
        }
        config_free(&cfg);
    } else if (err[0] == '\0' || strchr(err, '\n') != NULL) {
        abort(); /* a failure is exactly one line */
    }
    for (size_t i = 0; i < n; i++)
        free(parts[i]);
    if (fd >= 0)
        close(fd);
    return 0;
}
