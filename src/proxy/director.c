/* See proxy_int.h: the director of etcd's proxy/httpproxy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "src/proxy/proxy_int.h"

int64_t proxy_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void proxy_director_init(proxy_director_t *d, unsigned failure_wait_ms)
{
    memset(d, 0, sizeof(*d));
    pthread_mutex_init(&d->lock, NULL);
    d->failure_wait_ms = failure_wait_ms;
}

void proxy_director_free(proxy_director_t *d)
{
    free(d->eps);
    pthread_mutex_destroy(&d->lock);
}

/* Splits "http://host:port[/...]"; 0 or -1 for a URL the proxy cannot use. */
static int split_url(const char *url, proxy_endpoint_t *ep)
{
    memset(ep, 0, sizeof(*ep));
    if (strncmp(url, "http://", 7) != 0 || strlen(url) >= sizeof(ep->url))
        return -1;
    snprintf(ep->url, sizeof(ep->url), "%s", url);
    const char *h = url + 7, *end;
    if (*h == '[') {
        end = strchr(h, ']');
        if (end == NULL)
            return -1;
        snprintf(ep->host, sizeof(ep->host), "%.*s", (int)(end - h - 1), h + 1);
        end++;
    } else {
        end = h + strcspn(h, ":/");
        snprintf(ep->host, sizeof(ep->host), "%.*s", (int)(end - h), h);
    }
    if (*end == ':')
        snprintf(ep->port, sizeof(ep->port), "%.*s", (int)strcspn(end + 1, "/"), end + 1);
    else
        snprintf(ep->port, sizeof(ep->port), "80");
    return ep->host[0] != '\0' ? 0 : -1;
}

void proxy_director_set(proxy_director_t *d, char *const *urls, size_t n)
{
    proxy_endpoint_t *eps = calloc(n + 1, sizeof(*eps));
    if (eps == NULL)
        abort();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (split_url(urls[i], &eps[k]) == 0)
            k++;
        else
            log_line('I', "proxy/httpproxy", "upstream URL invalid: %s", urls[i]);
    }
    for (size_t i = 1; i < k; i++) {
        size_t j = (size_t)rand() % (i + 1);
        proxy_endpoint_t t = eps[i];
        eps[i] = eps[j];
        eps[j] = t;
    }
    pthread_mutex_lock(&d->lock);
    free(d->eps);
    d->eps = eps;
    d->n = k;
    pthread_mutex_unlock(&d->lock);
}

size_t proxy_director_endpoints(proxy_director_t *d, proxy_endpoint_t **out)
{
    int64_t now = proxy_now_ms();
    pthread_mutex_lock(&d->lock);
    proxy_endpoint_t *v = calloc(d->n + 1, sizeof(*v));
    if (v == NULL)
        abort();
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->eps[i].unavailable_until_ms <= now)
            v[k++] = d->eps[i];
    pthread_mutex_unlock(&d->lock);
    *out = v;
    return k;
}

void proxy_director_failed(proxy_director_t *d, const char *url)
{
    int64_t now = proxy_now_ms();
    bool marked = false;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->eps[i].url, url) == 0 && d->eps[i].unavailable_until_ms <= now) {
            d->eps[i].unavailable_until_ms = now + d->failure_wait_ms;
            marked = true;
        }
    pthread_mutex_unlock(&d->lock);
    if (marked)
        log_line('I', "proxy/httpproxy", "marked endpoint %s unavailable for %u ms", url,
                 d->failure_wait_ms);
}
