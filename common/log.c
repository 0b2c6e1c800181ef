#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "common/log.h"

void log_line(char level, const char *component, const char *fmt, ...)
{
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
    /* One write per line so that lines from several processes do not mix. */
    fprintf(stderr, "%s.%06ld %c | %s: %s\n", when, ts.tv_nsec / 1000, level, component, msg);
}
