/*
 * metcd: one member of an etcd v2 compatible cluster.
 * Exit status, as etcd 3.4's for each kind of error: 0 after --help,
 * --version or a clean stop on SIGINT/SIGTERM; 2 for a command-line flag
 * Go's flag package refuses (unknown, bad value) and for an option metcd
 * does not support; 1 for everything etcd checks after the flags (a bad
 * ETCD_* variable or config file, a flag given twice through a variable,
 * inconsistent options) and when the member cannot start (port in use,
 * data directory locked).
 *
 * --import-etcd-data-dir DIR (metcd's own flag, docs/migration.md): before
 * the member starts, a data directory without a log is made from the etcd
 * 3.4 data directory DIR, with etcd's tree and indexes.
 *
 * --migrate-backend (metcd's own flag, docs/operations.md): converts the
 * stopped member's --data-dir to --backend offline and exits.
 */
#include <stdio.h>
#include <string.h>

#include <stdlib.h>
#include <sys/stat.h>

#include "common/log.h"
#include "src/config/config.h"
#include "src/proxy/proxy.h"
#include "src/server/server.h"

extern char **environ;

#if defined(__x86_64__)
#define METCD_ARCH "amd64"
#elif defined(__aarch64__)
#define METCD_ARCH "arm64"
#else
#define METCD_ARCH "unknown"
#endif

/* <data-dir>/member/wal exists: the data dir belongs to a member. */
static bool has_member_log(const char *data_dir)
{
    char *wal = NULL;
    if (asprintf(&wal, "%s/member/wal", data_dir) < 0)
        abort();
    struct stat st;
    bool yes = stat(wal, &st) == 0;
    free(wal);
    return yes;
}

static int run_proxy(config_t *cfg)
{
    char err[1024];
    int rc = proxy_run(cfg, server_notify_systemd, err, sizeof(err));
    if (rc != 0)
        log_line('C', "etcdmain", "%s", err);
    config_free(cfg);
    return rc != 0 ? 1 : 0;
}

#define IMPORT_FLAG "import-etcd-data-dir"

/* Takes --import-etcd-data-dir[=]DIR (one or two dashes) out of argv, which
 * then holds only etcd's flags. Returns 0 with *dir (borrowed from argv; NULL
 * when absent), or -1 when the flag has no value. */
static int take_import_flag(int *argc, char **argv, const char **dir)
{
    *dir = NULL;
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        const char *name = a[0] == '-' ? (a[1] == '-' ? a + 2 : a + 1) : NULL;
        size_t len = strlen(IMPORT_FLAG);
        if (strcmp(a, "--") == 0 || name == NULL || strncmp(name, IMPORT_FLAG, len) != 0 ||
            (name[len] != '\0' && name[len] != '=')) {
            argv[out++] = argv[i];
            continue;
        }
        if (name[len] == '=')
            *dir = name + len + 1;
        else if (i + 1 < *argc)
            *dir = argv[++i];
        else
            return -1;
        if ((*dir)[0] == '\0')
            return -1;
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

#define MIGRATE_FLAG "migrate-backend"

/* Takes --migrate-backend (one or two dashes, no value) out of argv.
 * Returns 1 when it was there, 0 when not, -1 when it was given a value. */
static int take_migrate_flag(int *argc, char **argv)
{
    const size_t len = sizeof(MIGRATE_FLAG) - 1;
    int out = 1, found = 0;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        const char *name = a[0] == '-' ? (a[1] == '-' ? a + 2 : a + 1) : NULL;
        if (strcmp(a, "--") == 0 || name == NULL || strncmp(name, MIGRATE_FLAG, len) != 0 ||
            (name[len] != '\0' && name[len] != '=')) {
            argv[out++] = argv[i];
            continue;
        }
        if (name[len] == '=')
            found = -1;
        else if (found == 0)
            found = 1;
    }
    argv[out] = NULL;
    *argc = out;
    return found;
}

int main(int argc, char **argv)
{
    config_t cfg;
    char err[1024];
    const char *import_dir = NULL;
    if (take_import_flag(&argc, argv, &import_dir) != 0) {
        /* Go's flag package: a flag without its value. */
        fprintf(stderr, "flag needs an argument: --" IMPORT_FLAG "\n");
        return 2;
    }
    int migrate = take_migrate_flag(&argc, argv);
    if (migrate < 0) {
        fprintf(stderr, "flag takes no value: --" MIGRATE_FLAG "\n");
        return 2;
    }
    int crc = config_parse(&cfg, argc, argv, environ, err, sizeof(err));
    if (crc == CONFIG_E_FLAG) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (crc == CONFIG_E_CONFLICT) {
        log_line('C', "pkg/flags", "%s", err);
        return 1;
    }
    if (crc != 0) {
        log_line('E', "etcdmain", "error verifying flags, %s. See 'metcd --help'.", err);
        return 1;
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
    if (log_configure(cfg.log_level, cfg.log_outputs, err, sizeof(err)) != 0) {
        log_line('E', "etcdmain", "error verifying flags, %s. See 'metcd --help'.", err);
        config_free(&cfg);
        return 1;
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

    if (migrate) {
        int mrc = server_migrate_backend(&cfg, err, sizeof(err));
        if (mrc != 0)
            log_line('C', "etcdmain", "%s", err);
        config_free(&cfg);
        log_close();
        return mrc != 0 ? 1 : 0;
    }
    if (import_dir != NULL) {
        int irc = server_import_etcd(&cfg, import_dir, err, sizeof(err));
        if (irc != 0) {
            log_line('C', "etcdimport", "%s", err);
            config_free(&cfg);
            log_close();
            return irc == SERVER_E_CONFIG ? 2 : 1;
        }
    }
    /* A data dir that holds a member's log starts the member, one that holds
     * a proxy's state the proxy, whatever --proxy says (etcd's
     * identifyDataDirOrDie); an empty one follows --proxy. */
    bool proxy = cfg.proxy != CONFIG_PROXY_OFF;
    if (has_member_log(cfg.data_dir))
        proxy = false;
    else if (proxy_dir_exists(cfg.data_dir))
        proxy = true;
    if (proxy)
        return run_proxy(&cfg);

    server_t *server = NULL;
    int rc = server_new(&cfg, &server, err, sizeof(err));
    if (rc == SERVER_E_DISCOVERY_FULL && cfg.discovery_fallback_proxy) {
        log_line('N', "etcdmain", "discovery cluster full, falling back to proxy");
        return run_proxy(&cfg);
    }
    if (rc != 0) {
        log_line('C', "etcdmain", "%s", err);
        if (cfg.discovery != NULL && rc != SERVER_E_CONFIG) {
            log_line('I', "etcdmain",
                     "discovery token %s was used, but failed to bootstrap the cluster.",
                     cfg.discovery);
            log_line('I', "etcdmain",
                     "please generate a new discovery token and try to "
                     "bootstrap again.");
        }
        config_free(&cfg);
        log_close();
        return rc == SERVER_E_CONFIG ? 2 : 1;
    }
    server_run(server);
    server_free(server);
    config_free(&cfg);
    log_close();
    return 0;
}
