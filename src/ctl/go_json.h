/*
 * Writes JSON the way etcdctl (Go's encoding/json on client.Response) prints
 * it with "-o json": field order key, dir, value, nodes, createdIndex,
 * modifiedIndex, expiration, ttl; "nodes":null and "prevNode":null when
 * absent; "<", ">", "&", U+2028 and U+2029 escaped as \uXXXX.
 */
#ifndef METCD_CTL_GO_JSON_H
#define METCD_CTL_GO_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* Writes s (len bytes of UTF-8) as a quoted JSON string with Go's escaping. */
void ctl_json_write_string(FILE *out, const char *s, size_t len);

/* Writes one node object (a JSON object from the server, or NULL -> null). */
void ctl_json_write_node(FILE *out, const json_t *node);

/* Writes {"action":...,"node":...,"prevNode":...} with no newline. */
void ctl_json_write_response(FILE *out, const char *action, const json_t *node,
                             const json_t *prev_node);

#endif
