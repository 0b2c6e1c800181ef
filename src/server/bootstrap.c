/* See bootstrap.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "src/discovery/discovery.h"
#include "src/membership/membership.h"
#include "src/server/bootstrap.h"

/*
 * This member's ID while it registers: etcd computes it from a one-member
 * cluster of its advertised peer URLs, with the discovery URL as the token
 * (embed's PeerURLsMapAndToken), and registers "name=url,..." sorted
 * (types.URLsMap.String).
 */
static int self_entry(const config_t *cfg, uint64_t *id, char **entry, char *err, size_t err_len)
{
    const config_url_list_t *ap = &cfg->initial_advertise_peer;
    const char **names = calloc(ap->n + 1, sizeof(*names));
    const char **urls = calloc(ap->n + 1, sizeof(*urls));
    if (names == NULL || urls == NULL)
        abort();
    size_t len = 1;
    for (size_t i = 0; i < ap->n; i++) {
        names[i] = cfg->name;
        urls[i] = ap->urls[i].text; /* sorted by config (types.NewURLs) */
        len += strlen(cfg->name) + strlen(urls[i]) + 2;
    }
    membership_t m;
    int rc = membership_from_initial_cluster(&m, names, urls, ap->n, cfg->discovery, err, err_len);
    free(names);
    free(urls);
    if (rc != 0)
        return -1;
    *id = m.n > 0 ? m.members[0].id : 0;
    membership_free(&m);
    char *s = calloc(1, len);
    if (s == NULL)
        abort();
    for (size_t i = 0; i < ap->n; i++)
        snprintf(s + strlen(s), len - strlen(s), "%s%s=%s", i ? "," : "", cfg->name,
                 ap->urls[i].text);
    *entry = s;
    return 0;
}

int bootstrap_discover(const config_t *cfg, bootstrap_t *b, char *err, size_t err_len)
{
    memset(b, 0, sizeof(*b));
    char *cluster = NULL, why[512];
    int rc;
    if (cfg->discovery != NULL) {
        uint64_t id = 0;
        char *entry = NULL;
        if (self_entry(cfg, &id, &entry, err, err_len) != 0)
            return -1;
        log_line('I', "etcdserver", "discovery URL = %s, registering member %" PRIx64,
                 cfg->discovery, id);
        rc = discovery_join(cfg->discovery, cfg->discovery_proxy, id, entry, &cluster, why,
                            sizeof(why));
        free(entry);
        if (rc != 0) {
            snprintf(err, err_len, "failed to join discovery cluster (%s)", why);
            return rc == DISCOVERY_E_FULL ? BOOTSTRAP_E_FULL : -1;
        }
        /* Member IDs of a discovered cluster use the discovery URL as token. */
        b->token = strdup(cfg->discovery);
    } else {
        const config_url_list_t *ap = &cfg->initial_advertise_peer;
        const char **urls = calloc(ap->n + 1, sizeof(*urls));
        if (urls == NULL)
            abort();
        for (size_t i = 0; i < ap->n; i++)
            urls[i] = ap->urls[i].text;
        rc = discovery_srv_cluster(cfg->discovery_srv, cfg->discovery_srv_name, cfg->name, urls,
                                   ap->n, &cluster, why, sizeof(why));
        free(urls);
        if (rc != 0) {
            snprintf(err, err_len, "%s", why);
            return -1;
        }
        b->token = strdup(cfg->initial_cluster_token);
    }
    if (b->token == NULL)
        abort();
    log_line('I', "etcdserver", "initial cluster from discovery: %s", cluster);
    rc = config_members_parse(cluster, &b->members, &b->n, why, sizeof(why));
    free(cluster);
    if (rc != 0) {
        snprintf(err, err_len, "the discovered cluster is not valid: %s", why);
        bootstrap_free(b);
        return -1;
    }
    bool found = false;
    for (size_t i = 0; i < b->n && !found; i++)
        found = strcmp(b->members[i].name, cfg->name) == 0;
    if (!found) {
        snprintf(err, err_len, "cannot find local etcd member \"%s\" in SRV records", cfg->name);
        bootstrap_free(b);
        return -1;
    }
    return 0;
}

void bootstrap_free(bootstrap_t *b)
{
    config_members_free(b->members, b->n);
    free(b->token);
    memset(b, 0, sizeof(*b));
}
