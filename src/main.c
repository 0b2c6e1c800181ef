/*
 * metcd: one member of an etcd v2 compatible cluster.
 * Exit status: 0 after --help, --version or a clean stop on SIGINT/SIGTERM;
 * 2 for a bad flag, variable or config file (as etcd's flag parsing does);
 * 1 when the member cannot start (port in use, data directory locked).
 */
#include <stdio.h>

#include "src/config/config.h"
#include "common/log.h"
#include "src/server/server.h"

extern char **environ;

#if defined(__x86_64__)
#define METCD_ARCH "amd64"
#elif defined(__aarch64__)
#define METCD_ARCH "arm64"
#else
#define METCD_ARCH "unknown"
#endif

int main(int argc, char **argv)
{
    config_t cfg;
    char err[1024];
    if (config_parse(&cfg, argc, argv, environ, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (cfg.show_help) {
        fputs(config_usage(), stdout);
        config_free(&cfg);
        return 0;
    }
    if (cfg.show_version) {
        printf("metcd Version: %s\n"
               "etcd API Version: 3.4.23\n"
               "etcd Cluster Version: 3.4.0\n"
               "OS/Arch: linux/%s\n",
               METCD_VERSION, METCD_ARCH);
        config_free(&cfg);
        return 0;
    }
    /* etcd reports these and starts anyway. */
    for (size_t i = 0; i < cfg.n_warnings; i++)
        log_line('W', "pkg/flags", "%s", cfg.warnings[i]);
    if (cfg.config_file != NULL)
        log_line('I', "etcdmain",
                 "Loading server configuration from \"%s\". Other "
                 "configuration command line flags and environment variables will be ignored "
                 "if provided.",
                 cfg.config_file);

    server_t *server = NULL;
    int rc = server_new(&cfg, &server, err, sizeof(err));
    if (rc != 0) {
        log_line('C', "etcdmain", "%s", err);
        config_free(&cfg);
        return rc == SERVER_E_CONFIG ? 2 : 1;
    }
    server_run(server);
    server_free(server);
    config_free(&cfg);
    return 0;
}
