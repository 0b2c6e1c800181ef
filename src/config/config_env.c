/*
 * ETCD_<FLAG> environment variables: the flag name in upper case with
 * dashes as underscores (etcd's pkg/flags.SetFlagsFromEnv). Only flags not
 * given on the command line take their variable. An unknown ETCD_ variable
 * is reported as a warning, not a failure, as etcd does. A variable whose
 * flag is also on the command line stops the start (etcd's verifyEnv: the
 * user meant one of them and cannot tell which one would be used).
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

/* The option whose variable is key (key_len bytes), or -1. */
static int env_find(const char *key, size_t key_len)
{
    for (int opt = 0; opt < CONFIG_OPT_COUNT; opt++) {
        if (!config_opts[opt].in_env)
            continue;
        char name[64];
        env_name((config_opt_t)opt, name, sizeof(name));
        if (strlen(name) == key_len && memcmp(name, key, key_len) == 0)
            return opt;
    }
    return -1;
}

int config_env_scan(config_raw_t *raw, const config_raw_t *skip, char **envp, config_t *cfg,
                    char *err, size_t err_len)
{
    if (envp == NULL)
        return 0;
    /* etcd reports the conflict before any bad value of a variable. */
    for (char **e = envp; *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        int opt = eq != NULL && strncmp(*e, "ETCD_", 5) == 0 ? env_find(*e, (size_t)(eq - *e)) : -1;
        if (opt >= 0 && skip->set[opt]) {
            config_errf(err, err_len,
                        "conflicting environment variable \"%.*s\" is shadowed by corresponding "
                        "command-line flag (either unset environment variable or disable flag)",
                        (int)(eq - *e), *e);
            return CONFIG_E_CONFLICT;
        }
    }
    for (char **e = envp; *e != NULL; e++) {
        if (strncmp(*e, "ETCD_", 5) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (eq == NULL)
            continue;
        size_t key_len = (size_t)(eq - *e);
        int found = env_find(*e, key_len);
        if (found < 0) {
            if (config_warnf(cfg, "unrecognized environment variable %s", *e) != 0)
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
