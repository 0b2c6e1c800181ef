/*
 * Parsing values the way etcd's Go code does, so that flags, environment
 * variables, YAML and query parameters accept exactly what etcd accepts.
 */
#ifndef METCD_COMMON_PARSE_H
#define METCD_COMMON_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Go's strconv.ParseBool, used by etcd for boolean flags and for v2 query
 * parameters such as recursive= and prevExist=: "1 t T TRUE true True" and
 * "0 f F FALSE false False". s need not be NUL-terminated. Returns 0 with
 * *out set, or -1 for anything else (*out unchanged).
 */
int etcd_parse_bool(const char *s, size_t len, bool *out);

#endif /* METCD_COMMON_PARSE_H */
