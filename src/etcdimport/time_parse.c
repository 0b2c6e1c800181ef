/*
 * Go's time.Time in JSON: RFC 3339 with up to nine fraction digits and a
 * zone ("Z" or "+hh:mm"). Go's zero time, 0001-01-01T00:00:00Z, is what a
 * permanent node's ExpireTime holds.
 */
#include <stdbool.h>

#include "src/etcdimport/etcdimport_int.h"

static bool digits(const char *s, size_t n, int *v)
{
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days
 * inverse known from Howard Hinnant's date algorithms). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int eimp_parse_time(const char *s, size_t len, int64_t *ns)
{
    int y, mo, d, h, mi, sec;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec) || mo < 1 ||
        mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    size_t i = 19;
    int64_t frac = 0;
    if (i < len && s[i] == '.') {
        size_t nd = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++)
            if (nd < 9)
                frac = frac * 10 + (s[i] - '0');
        if (nd == 0)
            return -1;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    int64_t zone = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int zh, zm;
        if (!digits(s + i + 1, 2, &zh) || !digits(s + i + 4, 2, &zm))
            return -1;
        zone = (s[i] == '-' ? -1 : 1) * (int64_t)(zh * 3600 + zm * 60);
        i += 6;
    } else {
        return -1;
    }
    if (y == 1 && mo == 1 && d == 1 && h == 0 && mi == 0 && sec == 0 && frac == 0 && zone == 0) {
        *ns = 0; /* Go's zero time: no deadline */
        return 0;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - zone;
    /* Deadlines before 1970 or past 2262 do not fit Unix ns. */
    if (secs < 0 || secs > INT64_MAX / 1000000000 - 1)
        return -1;
    *ns = secs * 1000000000 + frac;
    return 0;
}
