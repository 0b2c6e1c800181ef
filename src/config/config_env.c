/*
 * ETCD_<FLAG> environment variables: the flag name in upper case with
 * dashes as underscores (etcd's pkg/flags.SetFlagsFromEnv). Only flags not
 * given on the command line take their variable. An unknown ETCD_ variable
 * is reported as a warning, not a failure, as etcd does.
 */
#include <stdio.h>
#include <string.h>

#include "src/config/config_int.h"

/* Writes ETCD_<NAME> for opt into buf. */
static void env_name(config_opt_t opt, char *buf, size_t len)
{
    size_t j = (size_t)snprintf(buf, len, "ETCD_");
    for (const char *p = config_opts[opt].name; *p && j + 1 < len; p++)
        buf[j++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    buf[j] = '\0';
}

int config_env_scan(config_raw_t *raw, const config_raw_t *skip, char **envp, config_t *cfg,
                    char *err, size_t err_len)
{
    if (envp == NULL)
        return 0;
    for (char **e = envp; *e != NULL; e++) {
        if (strncmp(*e, "ETCD_", 5) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (eq == NULL)
            continue;
        size_t key_len = (size_t)(eq - *e);
        int found = -1;
        for (int opt = 0; opt < CONFIG_OPT_COUNT && found < 0; opt++) {
            if (!config_opts[opt].in_env)
                continue;
            char name[64];
            env_name((config_opt_t)opt, name, sizeof(name));
            if (strlen(name) == key_len && memcmp(name, *e, key_len) == 0)
                found = opt;
        }
        if (found < 0) {
            if (config_warnf(cfg, "unrecognized environment variable %s", *e) != 0)
                return config_errf(err, err_len, "out of memory");
            continue;
        }
        if (skip->set[found]) {
            /* etcd exits here; we let the flag win and say so. */
            if (config_warnf(cfg,
                             "environment variable %.*s is shadowed by the command-line "
                             "flag --%s",
                             (int)key_len, *e, config_opts[found].name) != 0)
                return config_errf(err, err_len, "out of memory");
            continue;
        }
        const char *value = eq + 1;
        /* etcd's IgnoredFlag takes any value, so the obsolete ones are not checked. */
        if (config_opts[found].is_bool && config_opts[found].type != CONFIG_TYPE_OBSOLETE) {
            bool b;
            if (etcd_parse_bool(value, strlen(value), &b) != 0)
                return config_errf(err, err_len, "invalid value \"%s\" for %.*s: parse error",
                                   value, (int)key_len, *e);
        }
        if (config_raw_set(raw, (config_opt_t)found, value, strlen(value)) != 0)
            return config_errf(err, err_len, "out of memory");
    }
    return 0;
}
