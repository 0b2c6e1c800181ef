/*
 * Command-line flags, scanned the way Go's flag package does (etcd uses it):
 * "-f v", "--f v", "-f=v", "--f=v"; a bool flag takes a value only after
 * "="; "--" ends the flags; the first non-flag argument stops the scan, and
 * etcd then refuses it ("'x' is not a valid flag").
 */
#include <stdio.h>
#include <string.h>

#include "src/config/config_int.h"

int config_flags_scan(config_raw_t *raw, int argc, char **argv, char *err, size_t err_len)
{
    int i = 1;
    while (i < argc) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0')
            break; /* a non-flag argument */
        i++;
        const char *name = arg + 1;
        if (name[0] == '-') {
            name++;
            if (name[0] == '\0')
                break; /* "--" ends the flags */
        }
        if (name[0] == '-' || name[0] == '=')
            return config_errf(err, err_len, "bad flag syntax: %s", arg);
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        int opt = config_opt_find(name, name_len);
        if (opt < 0)
            return config_errf(err, err_len, "flag provided but not defined: -%.*s", (int)name_len,
                               name);
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else if (config_opts[opt].is_bool) {
            value = "true";
        } else if (i < argc) {
            value = argv[i++]; /* Go takes the next argument whatever it looks like */
        } else {
            return config_errf(err, err_len, "flag needs an argument: -%.*s", (int)name_len, name);
        }
        if (config_opts[opt].is_bool && opt != CONFIG_OPT_HELP &&
            config_opts[opt].type != CONFIG_TYPE_OBSOLETE) {
            bool b;
            if (etcd_parse_bool(value, strlen(value), &b) != 0)
                return config_errf(err, err_len,
                                   "invalid boolean value \"%s\" for -%.*s: "
                                   "parse error",
                                   value, (int)name_len, name);
        }
        if (config_raw_set(raw, (config_opt_t)opt, value, strlen(value)) != 0)
            return config_errf(err, err_len, "out of memory");
        if (opt == CONFIG_OPT_HELP)
            return 0; /* Go stops parsing at -h: what follows is not checked */
    }
    if (i < argc) {
        /* etcd checks this after the flag package, and exits with 1. */
        config_errf(err, err_len, "'%s' is not a valid flag", argv[i]);
        return CONFIG_E_VERIFY;
    }
    return 0;
}
