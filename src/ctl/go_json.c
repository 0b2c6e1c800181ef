/* See go_json.h. */
#include "go_json.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

void ctl_json_write_string(FILE *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", out);
            continue;
        case '\\':
            fputs("\\\\", out);
            continue;
        case '\n':
            fputs("\\n", out);
            continue;
        case '\r':
            fputs("\\r", out);
            continue;
        case '\t':
            fputs("\\t", out);
            continue;
        default:
            break;
        }
        /* Go escapes control characters and the HTML-sensitive <, >, &. */
        if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            fprintf(out, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
            continue;
        }
        /* U+2028 and U+2029 (E2 80 A8/A9) break JavaScript; Go escapes them. */
        if (c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
            fprintf(out, "\\u202%c", (unsigned char)s[i + 2] == 0xA8 ? '8' : '9');
            i += 2;
            continue;
        }
        fputc(c, out);
    }
    fputc('"', out);
}

static void write_field_string(FILE *out, const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    if (json_is_string(v)) {
        ctl_json_write_string(out, json_string_value(v), json_string_length(v));
    } else {
        fputs("\"\"", out);
    }
}

static json_int_t field_int(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

void ctl_json_write_node(FILE *out, const json_t *node)
{
    if (!json_is_object(node)) {
        fputs("null", out);
        return;
    }
    fputs("{\"key\":", out);
    write_field_string(out, node, "key");
    if (json_is_true(json_object_get(node, "dir"))) {
        fputs(",\"dir\":true", out);
    }
    fputs(",\"value\":", out);
    write_field_string(out, node, "value");
    fputs(",\"nodes\":", out);
    const json_t *nodes = json_object_get(node, "nodes");
    if (json_is_array(nodes)) {
        fputc('[', out);
        for (size_t i = 0; i < json_array_size(nodes); i++) {
            if (i > 0) {
                fputc(',', out);
            }
            ctl_json_write_node(out, json_array_get(nodes, i));
        }
        fputc(']', out);
    } else {
        fputs("null", out);
    }
    fprintf(out, ",\"createdIndex\":%" JSON_INTEGER_FORMAT, field_int(node, "createdIndex"));
    fprintf(out, ",\"modifiedIndex\":%" JSON_INTEGER_FORMAT, field_int(node, "modifiedIndex"));
    /* The client re-encodes a parsed time.Time; the server already sends
     * RFC 3339 with trimmed nanoseconds, which is the same text. */
    const json_t *exp = json_object_get(node, "expiration");
    if (json_is_string(exp)) {
        fputs(",\"expiration\":", out);
        ctl_json_write_string(out, json_string_value(exp), json_string_length(exp));
    }
    json_int_t ttl = field_int(node, "ttl");
    if (ttl != 0) {
        fprintf(out, ",\"ttl\":%" JSON_INTEGER_FORMAT, ttl);
    }
    fputc('}', out);
}

void ctl_json_write_response(FILE *out, const char *action, const json_t *node,
                             const json_t *prev_node)
{
    fputs("{\"action\":", out);
    ctl_json_write_string(out, action, strlen(action));
    fputs(",\"node\":", out);
    ctl_json_write_node(out, node);
    fputs(",\"prevNode\":", out);
    ctl_json_write_node(out, prev_node);
    fputc('}', out);
}
