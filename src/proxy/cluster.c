/*
 * Where a proxy's members come from (etcd's startProxy): the cluster file
 * <data-dir>/proxy/cluster ({"PeerURLs":[...]}, written after every
 * successful refresh) wins over the flags once it exists; before that, the
 * discovery token, the SRV records or --initial-cluster name the peers.
 * The members' client URLs come from a peer's GET /members.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "src/discovery/discovery.h"
#include "src/httpc/httpc.h"
#include "src/proxy/proxy_int.h"

/* etcd's GetClusterFromRemotePeers gives each peer 10 s. */
#define MEMBERS_TIMEOUT_MS 10000

static void strings_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds s to the sorted set v (copied) unless it is there. */
static void set_add(char ***v, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], s) == 0)
            return;
    char **g = realloc(*v, (*n + 1) * sizeof(*g));
    if (g == NULL || (g[*n] = strdup(s)) == NULL)
        abort();
    *v = g;
    (*n)++;
    qsort(*v, *n, sizeof(**v), cmp_str);
}

/* The peer URLs of "name=url,..." (etcd's URLsMap.URLs: sorted). */
static int peers_from_cluster(proxy_cluster_t *c, const char *cluster, char *err, size_t err_len)
{
    config_member_t *m = NULL;
    size_t n = 0;
    char why[256];
    if (config_members_parse(cluster, &m, &n, why, sizeof(why)) != 0) {
        snprintf(err, err_len, "error setting up initial cluster: %s", why);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        set_add(&c->peer_urls, &c->n_peer_urls, m[i].peer_url.text);
    config_members_free(m, n);
    return 0;
}

static int read_cluster_file(proxy_cluster_t *c, const char *text, char *err, size_t err_len)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    json_t *urls = json_object_get(j, "PeerURLs");
    if (!json_is_array(urls)) {
        json_decref(j);
        snprintf(err, err_len, "%s is not a cluster file: %s", c->file, jerr.text);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(urls); i++)
        if (json_string_value(json_array_get(urls, i)) != NULL)
            set_add(&c->peer_urls, &c->n_peer_urls, json_string_value(json_array_get(urls, i)));
    json_decref(j);
    return 0;
}

int proxy_cluster_init(proxy_cluster_t *c, const config_t *cfg, char *err, size_t err_len)
{
    memset(c, 0, sizeof(*c));
    char *dir = NULL;
    if (asprintf(&dir, "%s/proxy", cfg->data_dir) < 0 || asprintf(&c->file, "%s/cluster", dir) < 0)
        abort();
    int rc = fs_mkdir_all(dir);
    free(dir);
    if (rc != 0) {
        snprintf(err, err_len, "cannot create %s/proxy: %s", cfg->data_dir, strerror(-rc));
        return -1;
    }
    FILE *f = fopen(c->file, "r");
    if (f != NULL) {
        char buf[65536];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        if (cfg->discovery != NULL)
            log_line('W', "etcdmain",
                     "discovery token ignored since the proxy has already been initialized. "
                     "Valid cluster file found at \"%s\"",
                     c->file);
        if (cfg->discovery_srv != NULL)
            log_line('W', "etcdmain",
                     "DNS SRV discovery ignored since the proxy has already been initialized. "
                     "Valid cluster file found at \"%s\"",
                     c->file);
        if (read_cluster_file(c, buf, err, err_len) != 0)
            return -1;
        log_line('I', "etcdmain", "proxy: using peer urls from cluster file \"%s\"", c->file);
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(err, err_len, "cannot read %s: %s", c->file, strerror(errno));
        return -1;
    }
    char *cluster = NULL, why[512];
    if (cfg->discovery != NULL) {
        rc =
            discovery_get_cluster(cfg->discovery, cfg->discovery_proxy, &cluster, why, sizeof(why));
    } else if (cfg->discovery_srv != NULL) {
        /* A proxy need not be one of the SRV targets (etcd: which == "proxy"). */
        rc = discovery_srv_cluster(cfg->discovery_srv, cfg->discovery_srv_name, cfg->name, NULL, 0,
                                   &cluster, why, sizeof(why));
    } else {
        for (size_t i = 0; i < cfg->n_initial_cluster; i++)
            set_add(&c->peer_urls, &c->n_peer_urls, cfg->initial_cluster[i].peer_url.text);
        return 0;
    }
    if (rc != 0) {
        snprintf(err, err_len, "%s", why);
        return -1;
    }
    rc = peers_from_cluster(c, cluster, err, err_len);
    free(cluster);
    return rc;
}

void proxy_cluster_free(proxy_cluster_t *c)
{
    free(c->file);
    strings_free(c->peer_urls, c->n_peer_urls);
    memset(c, 0, sizeof(*c));
}

/* Writes {"PeerURLs":[...]} durably: a temporary file, fsync, rename. */
static void write_cluster_file(proxy_cluster_t *c)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < c->n_peer_urls; i++)
        json_array_append_new(arr, json_string(c->peer_urls[i]));
    json_t *j = json_pack("{s:o}", "PeerURLs", arr);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char *tmp = NULL;
    if (text == NULL || asprintf(&tmp, "%s.bak", c->file) < 0)
        abort();
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok || rename(tmp, c->file) != 0)
        log_line('W', "etcdmain", "proxy: error on writing urls to %s: %s", c->file,
                 strerror(errno));
    free(tmp);
    free(text);
}

size_t proxy_cluster_client_urls(proxy_cluster_t *c, char ***urls)
{
    *urls = NULL;
    for (size_t i = 0; i < c->n_peer_urls; i++) {
        httpc_endpoint_t ep;
        httpc_response_t res;
        char err[256];
        if (httpc_endpoint_parse(&ep, c->peer_urls[i], err, sizeof(err)) != 0)
            continue;
        int rc =
            httpc_request(&ep, "GET", "/members", NULL, MEMBERS_TIMEOUT_MS, &res, err, sizeof(err));
        httpc_endpoint_free(&ep);
        if (rc != 0)
            continue;
        json_t *arr = res.status == 200 ? json_loads(res.body, 0, NULL) : NULL;
        httpc_response_free(&res);
        if (!json_is_array(arr)) {
            json_decref(arr);
            continue;
        }
        char **clients = NULL, **peers = NULL;
        size_t n_clients = 0, n_peers = 0;
        for (size_t m = 0; m < json_array_size(arr); m++) {
            json_t *mb = json_array_get(arr, m);
            json_t *cu = json_object_get(mb, "clientURLs"), *pu = json_object_get(mb, "peerURLs");
            for (size_t k = 0; k < json_array_size(cu); k++)
                if (json_string_value(json_array_get(cu, k)) != NULL)
                    set_add(&clients, &n_clients, json_string_value(json_array_get(cu, k)));
            for (size_t k = 0; k < json_array_size(pu); k++)
                if (json_string_value(json_array_get(pu, k)) != NULL)
                    set_add(&peers, &n_peers, json_string_value(json_array_get(pu, k)));
        }
        json_decref(arr);
        bool changed = n_peers != c->n_peer_urls;
        for (size_t k = 0; k < n_peers && !changed; k++)
            changed = strcmp(peers[k], c->peer_urls[k]) != 0;
        if (changed)
            log_line('N', "etcdmain", "proxy: updated peer urls in cluster file (%zu to %zu)",
                     c->n_peer_urls, n_peers);
        strings_free(c->peer_urls, c->n_peer_urls);
        c->peer_urls = peers;
        c->n_peer_urls = n_peers;
        write_cluster_file(c);
        *urls = clients;
        return n_clients;
    }
    log_line('W', "etcdmain", "proxy: could not retrieve cluster information from the given URLs");
    return 0;
}
