#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define LOG_MAX_OUTPUTS 8

/* The outputs; file descriptors above 2 are files this module opened. */
static int log_fds[LOG_MAX_OUTPUTS] = {STDERR_FILENO};
static size_t log_n_fds = 1;
static int log_min_rank = 1; /* info */

/* capnslog's order: debug < info = notice < warning < error < critical. */
static int level_rank(char level)
{
    switch (level) {
    case 'D':
        return 0;
    case 'I':
    case 'N':
        return 1;
    case 'W':
        return 2;
    case 'E':
        return 3;
    default:
        return 4;
    }
}

void log_line(char level, const char *component, const char *fmt, ...)
{
    if (level_rank(level) < log_min_rank)
        return;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char line[1200];
    int n = snprintf(line, sizeof(line), "%s.%06ld %c | %s: %s\n", when, ts.tv_nsec / 1000, level,
                     component, msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = (int)sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    /* One write per line so that lines from several processes do not mix. */
    for (size_t i = 0; i < log_n_fds; i++) {
        ssize_t w;
        do
            w = write(log_fds[i], line, (size_t)n);
        while (w < 0 && errno == EINTR);
    }
}

/* The comma-separated item name (len bytes) occurs in list before `upto`. */
static bool listed_before(const char *list, const char *upto, const char *name, size_t len)
{
    for (const char *p = list; p < upto;) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        if (l == len && memcmp(p, name, len) == 0)
            return true;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return false;
}

static void close_files(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] > STDERR_FILENO)
            close(fds[i]);
}

int log_configure(const char *level, const char *outputs, char *err, size_t err_len)
{
    /* zap's level names, as etcd 3.4's --log-level takes them. */
    static const struct {
        const char *name;
        int rank;
    } levels[] = {{"debug", 0},  {"info", 1},  {"warn", 2}, {"error", 3},
                  {"dpanic", 4}, {"panic", 4}, {"fatal", 4}};
    int rank = -1;
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcmp(level, levels[i].name) == 0)
            rank = levels[i].rank;
    if (rank < 0) {
        snprintf(err, err_len, "unknown level \"%s\"", level);
        return -1;
    }
    int fds[LOG_MAX_OUTPUTS];
    size_t n = 0;
    size_t count = 1;
    for (const char *p = outputs; *p; p++)
        count += *p == ',';
    for (const char *p = outputs;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char name[4096];
        snprintf(name, sizeof(name), "%.*s", (int)len, p);
        int fd = -1;
        bool std_err = strcmp(name, "default") == 0 || strcmp(name, "stderr") == 0 ||
                       strcmp(name, "journal") == 0;
        bool again = len > 0 && listed_before(outputs, p, p, len);
        for (size_t i = 0; i < n && !again; i++)
            again = (std_err && fds[i] == STDERR_FILENO) ||
                    (strcmp(name, "stdout") == 0 && fds[i] == STDOUT_FILENO);
        if (again) {
            /* etcd keeps each output once (its UniqueStrings flag type). */
        } else if (n == LOG_MAX_OUTPUTS) {
            snprintf(err, err_len, "more than %d log outputs", LOG_MAX_OUTPUTS);
        } else if (strcmp(name, "default") == 0 && count > 1) {
            /* etcd 3.4 refuses it too: where "default" goes depends on the logger. */
            snprintf(err, err_len, "multi logoutput for \"default\" is not supported yet");
        } else if (std_err) {
            fd = STDERR_FILENO;
        } else if (strcmp(name, "stdout") == 0) {
            fd = STDOUT_FILENO;
        } else if (name[0] == '\0') {
            snprintf(err, err_len, "an empty log output in \"%s\"", outputs);
        } else {
            fd = open(name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
            if (fd < 0)
                snprintf(err, err_len, "cannot open log output %s: %s", name, strerror(errno));
        }
        if (fd < 0 && !again) {
            close_files(fds, n);
            return -1;
        }
        if (fd >= 0)
            fds[n++] = fd;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    close_files(log_fds, log_n_fds);
    memcpy(log_fds, fds, n * sizeof(fds[0]));
    log_n_fds = n;
    log_min_rank = rank;
    return 0;
}

void log_close(void)
{
    close_files(log_fds, log_n_fds);
    log_fds[0] = STDERR_FILENO;
    log_n_fds = 1;
}
