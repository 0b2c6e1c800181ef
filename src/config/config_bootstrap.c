/*
 * The options of bootstrap by discovery (--discovery*, etcd's v2discovery
 * and DNS SRV) and of proxy mode (--proxy*, etcd's v2 httpproxy): their
 * values, defaults and the checks etcdmain makes on them.
 */
#include <stdlib.h>
#include <string.h>

#include "src/config/config_int.h"

static int set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = NULL;
    if (v[0] == '\0')
        return 0; /* etcd's default for these is the empty string: none */
    *dst = strdup(v);
    return *dst == NULL ? -1 : 0;
}

int config_bootstrap_defaults(config_t *cfg)
{
    cfg->discovery_fallback_proxy = true;
    cfg->proxy = CONFIG_PROXY_OFF;
    cfg->proxy_failure_wait_ms = 5000;
    cfg->proxy_refresh_interval_ms = 30000;
    cfg->proxy_dial_timeout_ms = 1000;
    cfg->proxy_write_timeout_ms = 5000;
    cfg->proxy_read_timeout_ms = 0;
    return 0;
}

int config_bootstrap_convert(config_t *cfg, config_opt_t opt, const char *v, char *why,
                             size_t why_len)
{
    char **str = NULL;
    unsigned *ms = NULL;
    switch (opt) {
    case CONFIG_OPT_DISCOVERY:
        str = &cfg->discovery;
        break;
    case CONFIG_OPT_DISCOVERY_PROXY:
        str = &cfg->discovery_proxy;
        break;
    case CONFIG_OPT_DISCOVERY_SRV:
        str = &cfg->discovery_srv;
        break;
    case CONFIG_OPT_DISCOVERY_SRV_NAME:
        str = &cfg->discovery_srv_name;
        break;
    case CONFIG_OPT_DISCOVERY_FALLBACK: /* checked by check_extra: exit or proxy */
        cfg->discovery_fallback_proxy = strcmp(v, "proxy") == 0;
        return 0;
    case CONFIG_OPT_PROXY: /* checked by check_extra: off, on or readonly */
        cfg->proxy = strcmp(v, "on") == 0         ? CONFIG_PROXY_ON
                     : strcmp(v, "readonly") == 0 ? CONFIG_PROXY_READONLY
                                                  : CONFIG_PROXY_OFF;
        return 0;
    case CONFIG_OPT_PROXY_FAILURE_WAIT:
        ms = &cfg->proxy_failure_wait_ms;
        break;
    case CONFIG_OPT_PROXY_REFRESH_INTERVAL:
        ms = &cfg->proxy_refresh_interval_ms;
        break;
    case CONFIG_OPT_PROXY_DIAL_TIMEOUT:
        ms = &cfg->proxy_dial_timeout_ms;
        break;
    case CONFIG_OPT_PROXY_WRITE_TIMEOUT:
        ms = &cfg->proxy_write_timeout_ms;
        break;
    case CONFIG_OPT_PROXY_READ_TIMEOUT:
        ms = &cfg->proxy_read_timeout_ms;
        break;
    default:
        return 1;
    }
    if (str != NULL)
        return set_str(str, v) != 0 ? config_errf(why, why_len, "out of memory") : 0;
    uint64_t u;
    /* etcd's flags are uint (milliseconds); metcd keeps them in 32 bits. */
    if (config_parse_uint(v, 32, &u) != 0)
        return config_errf(why, why_len, "parse error");
    *ms = (unsigned)u;
    return 0;
}

int config_bootstrap_finalize(config_t *cfg, const bool *set, char *err, size_t err_len)
{
    /* etcdmain: one bootstrap source only; --initial-cluster counts when
     * given explicitly (its default is dropped when discovery is used). */
    int sources = (cfg->discovery != NULL) + (cfg->discovery_srv != NULL) +
                  (set[CONFIG_OPT_INITIAL_CLUSTER] ? 1 : 0);
    if (sources > 1)
        return config_errf(err, err_len,
                           "multiple discovery or bootstrap flags are set. Choose one of "
                           "\"initial-cluster\", \"discovery\" or \"discovery-srv\"");
    return 0;
}

void config_bootstrap_free(config_t *cfg)
{
    free(cfg->discovery);
    free(cfg->discovery_proxy);
    free(cfg->discovery_srv);
    free(cfg->discovery_srv_name);
    cfg->discovery = cfg->discovery_proxy = cfg->discovery_srv = cfg->discovery_srv_name = NULL;
}
