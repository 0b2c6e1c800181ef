#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/membership/member_id.h"

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t first8_be(const unsigned char *d)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | d[i];
    return v;
}

static uint64_t member_id_with_suffix(const char *const *peer_urls, size_t n, const char *token,
                                      const char *suffix)
{
    const char **sorted = malloc((n ? n : 1) * sizeof(*sorted));
    if (sorted == NULL)
        abort(); /* a handful of pointers at start-up */
    memcpy(sorted, peer_urls, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), str_cmp);
    size_t total = strlen(token) + strlen(suffix);
    for (size_t i = 0; i < n; i++)
        total += strlen(sorted[i]);
    unsigned char *buf = malloc(total + 1), *p = buf;
    if (buf == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(sorted[i]);
        memcpy(p, sorted[i], l);
        p += l;
    }
    memcpy(p, token, strlen(token));
    p += strlen(token);
    memcpy(p, suffix, strlen(suffix));
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1(buf, total, d);
    free(buf);
    free(sorted);
    return first8_be(d);
}

uint64_t member_id_compute(const char *const *peer_urls, size_t n, const char *token)
{
    return member_id_with_suffix(peer_urls, n, token, "");
}

uint64_t member_id_compute_added(const char *const *peer_urls, size_t n, const char *token,
                                 int64_t unix_seconds)
{
    char t[32];
    snprintf(t, sizeof(t), "%lld", (long long)unix_seconds);
    return member_id_with_suffix(peer_urls, n, token, t);
}

uint64_t cluster_id_compute(const uint64_t *member_ids, size_t n)
{
    uint64_t *ids = malloc((n ? n : 1) * sizeof(*ids));
    if (ids == NULL)
        abort();
    memcpy(ids, member_ids, n * sizeof(*ids));
    qsort(ids, n, sizeof(*ids), u64_cmp);
    unsigned char *be = malloc(8 * (n ? n : 1));
    if (be == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < 8; j++)
            be[8 * i + (size_t)j] = (unsigned char)(ids[i] >> (56 - 8 * j));
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1(be, 8 * n, d);
    free(be);
    free(ids);
    return first8_be(d);
}
