/*
 * A JSON encoder that writes exactly what Go's encoding/json writes for
 * etcd's v2 structs (NodeExtern, Event, v2error.Error), into one buffer.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "common/jsontext.h"

void api_buf_init(api_buf_t *b, h2o_mem_pool_t *pool)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->pool = pool;
}

void api_buf_reserve(api_buf_t *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return;
    /* A first reserve is taken as it is (a size hint): no rounding up. */
    size_t cap = b->cap ? b->cap * 2 : (extra > 256 ? extra : 256);
    while (cap < b->len + extra)
        cap *= 2;
    char *p;
    if (b->pool != NULL) {
        /* Pool memory cannot be resized: copy; the old block is freed with the pool. */
        p = h2o_mem_alloc_pool(b->pool, cap);
        if (b->len)
            memcpy(p, b->data, b->len);
    } else {
        p = realloc(b->data, cap);
        if (p == NULL)
            abort(); /* as h2o's allocator does on ENOMEM */
    }
    b->data = p;
    b->cap = cap;
}

void api_buf_append_str(api_buf_t *b, const char *s)
{
    api_buf_append(b, s, strlen(s));
}

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

static inline size_t u64_digits(uint64_t v)
{
    size_t n = 1;
    for (;;) {
        if (v < 10)
            return n;
        if (v < 100)
            return n + 1;
        if (v < 1000)
            return n + 2;
        if (v < 10000)
            return n + 3;
        v /= 10000;
        n += 4;
    }
}

/*
 * The digits of v written in place, back to front, two per division: every
 * node of a listing has two indexes, and perf put the formatting through a
 * scratch buffer at a tenth of a listing's CPU. No NUL. out needs 20 bytes.
 */
static inline size_t put_u64(char *out, uint64_t v)
{
    size_t len = u64_digits(v);
    char *p = out + len;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--p = digit_pairs[d + 1];
        *--p = digit_pairs[d];
    }
    if (v >= 10) {
        *--p = digit_pairs[v * 2 + 1];
        *--p = digit_pairs[v * 2];
    } else {
        *--p = (char)('0' + v);
    }
    return len;
}

size_t api_format_u64(char *out, uint64_t v)
{
    size_t len = put_u64(out, v);
    out[len] = '\0';
    return len;
}

void api_buf_append_u64(api_buf_t *b, uint64_t v)
{
    if (b->len + 20 > b->cap)
        api_buf_reserve(b, 20);
    b->len += put_u64(b->data + b->len, v);
}

void api_buf_append_i64(api_buf_t *b, int64_t v)
{
    if (v < 0) {
        api_buf_append(b, "-", 1);
        api_buf_append_u64(b, (uint64_t)0 - (uint64_t)v);
        return;
    }
    api_buf_append_u64(b, (uint64_t)v);
}

void api_buf_free(api_buf_t *b)
{
    if (b->pool == NULL)
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/*
 * Decodes one UTF-8 sequence as Go's utf8.DecodeRuneInString does: returns
 * its length, or 0 for an invalid byte (Go: RuneError of width 1). Go rejects
 * overlong forms, surrogates and code points past U+10FFFF.
 */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0) {
        if (len < 2 || (s[1] & 0xC0) != 0x80)
            return 0;
        *cp = ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        if (len < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && s[1] > 0x9F)
            return 0; /* surrogate */
        *cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    if (len < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
        return 0;
    if (c == 0xF0 && s[1] < 0x90)
        return 0;
    if (c == 0xF4 && s[1] > 0x8F)
        return 0;
    *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
          ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
}

/*
 * Go's encodeState.string with HTML escaping on (json.Marshal and
 * json.NewEncoder default): \" \\ \n \r \t; other control bytes and < > &
 * as \u00XX (lower-case hex); invalid UTF-8 as \ufffd; U+2028 and U+2029
 * escaped; everything else raw. Go 1.19 (etcd 3.4.23's) has no \b or \f.
 */
void api_json_string(api_buf_t *b, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    api_buf_reserve(b, len + 2);
    char *p = b->data + b->len;
    if (json_copy_plain(p + 1, str, len)) {
        p[0] = '"';
        p[len + 1] = '"';
        b->len += len + 2;
        return;
    }
    b->data[b->len++] = '"';
    size_t start = 0, i = 0;
    while (i < len) {
        if (len - i >= 8) {
            size_t n = json_plain_prefix(s + i, len - i);
            if (n > 0) {
                i += n;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            if (json_plain_ascii[c]) {
                i++;
                continue;
            }
            api_buf_append(b, s + start, i - start);
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
            switch (c) {
            case '"':
                api_buf_append(b, "\\\"", 2);
                break;
            case '\\':
                api_buf_append(b, "\\\\", 2);
                break;
            case '\n':
                api_buf_append(b, "\\n", 2);
                break;
            case '\r':
                api_buf_append(b, "\\r", 2);
                break;
            case '\t':
                api_buf_append(b, "\\t", 2);
                break;
            default:
                api_buf_append(b, esc, 6);
            }
            i++;
            start = i;
            continue;
        }
        uint32_t cp = 0;
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            api_buf_append(b, s + start, i - start);
            api_buf_append(b, "\\ufffd", 6);
            i++;
            start = i;
            continue;
        }
        if (cp == 0x2028 || cp == 0x2029) {
            api_buf_append(b, s + start, i - start);
            api_buf_append(b, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
            i += n;
            start = i;
            continue;
        }
        i += n;
    }
    api_buf_append(b, s + start, len - start);
    api_buf_append(b, "\"", 1);
}

/* A string's bytes in JSON: a plain one as it is, others with some escapes. */
static size_t string_size_hint(size_t len, bool plain)
{
    return 2 + (plain ? len : len + len / 4 + 8);
}

/*
 * Close to the encoded size, since it is what a frame allocates at once
 * (api_watch_frame_new): the field names and punctuation of the fields the
 * node has, 20 digits for each number and 30 for an expiration. Escapes
 * beyond the guess only make the buffer grow.
 */
static size_t node_size_hint(const store_node_t *n)
{
    /* {"key": ... ,"modifiedIndex":N,"createdIndex":N} */
    size_t sz = 7 + string_size_hint(n->key_len, n->key_plain) + 17 + 20 + 16 + 20 + 1;
    if (n->dir)
        sz += 11; /* ,"dir":true */
    if (n->value != NULL)
        sz += 9 + string_size_hint(n->value_len, n->value_plain);
    if (n->expiration_ns != 0)
        sz += 14 + 32 + 7 + 20; /* ,"expiration":"...","ttl":N */
    if (n->n_nodes != 0)
        sz += 11 + n->n_nodes; /* ,"nodes":[...] and the commas */
    for (size_t i = 0; i < n->n_nodes; i++)
        sz += node_size_hint(&n->nodes[i]);
    return sz;
}

size_t api_json_event_size_hint(const store_event_t *ev)
{
    size_t sz = 64 + node_size_hint(&ev->node); /* {"action":"compareAndDelete","node": */
    if (ev->has_prev_node)
        sz += node_size_hint(&ev->prev_node);
    return sz;
}

size_t api_format_rfc3339(char *out, int64_t unix_ns)
{
    int64_t sec = unix_ns / 1000000000;
    int64_t nsec = unix_ns % 1000000000;
    if (nsec < 0) {
        nsec += 1000000000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (nsec != 0) {
        char frac[11];
        snprintf(frac, sizeof(frac), ".%09" PRId64, nsec);
        size_t fl = 10;
        while (frac[fl - 1] == '0')
            fl--;
        memcpy(out + n, frac, fl);
        n += fl;
    }
    out[n++] = 'Z';
    out[n] = '\0';
    return n;
}

/* As %" PRIx64 ": lower-case, no padding. sprintf cost a key GET 6% of its instructions. */
size_t api_format_hex_id(char *out, uint64_t id)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t n = sizeof(tmp);
    do {
        tmp[--n] = hex[id & 0xF];
        id >>= 4;
    } while (id != 0);
    size_t len = sizeof(tmp) - n;
    memcpy(out, tmp + n, len);
    out[len] = '\0';
    return len;
}

/*
 * A node's fields and punctuation with its two indexes, an expiration and a
 * ttl take fewer bytes than this; its key and value come on top, as they are
 * when nothing in them needs escaping.
 */
#define NODE_FIXED_BYTES 256

/* Copies a literal of known length and advances p. */
#define PUT_LIT(p, lit)                                                                            \
    do {                                                                                           \
        memcpy((p), (lit), sizeof(lit) - 1);                                                       \
        (p) += sizeof(lit) - 1;                                                                    \
    } while (0)

/*
 * Writes s as a JSON string at p, inside room reserved by the caller. A
 * string that needs escaping goes through api_json_string(), which grows
 * the buffer; room for `rest` more bytes is then reserved again. Returns
 * the new write position. A string the store knows to be plain is copied
 * without looking at it: checking each key and value was 40% of a
 * 1000-child listing's instructions (callgrind).
 */
static char *put_json_string(api_buf_t *b, char *p, const char *s, size_t len, bool plain,
                             size_t rest)
{
    if (plain) {
        p[0] = '"';
        memcpy(p + 1, s, len);
        p[len + 1] = '"';
        return p + len + 2;
    }
    if (json_copy_plain(p + 1, s, len)) {
        p[0] = '"';
        p[len + 1] = '"';
        return p + len + 2;
    }
    b->len = (size_t)(p - b->data);
    api_json_string(b, s, len);
    api_buf_reserve(b, rest);
    return b->data + b->len;
}

/*
 * NodeExtern field order and omitempty, see store.h. Written straight into
 * the buffer after one reservation per node (a listing's thousand nodes
 * were a call and a bounds check per field and punctuation mark before).
 */
void api_json_node(api_buf_t *b, const store_node_t *n)
{
    size_t room = NODE_FIXED_BYTES + n->key_len + n->value_len;
    if (b->len + room > b->cap)
        api_buf_reserve(b, room);
    char *p = b->data + b->len;
    bool first = true; /* every field but the first is preceded by a comma */
    *p++ = '{';
#define SEP()                                                                                      \
    do {                                                                                           \
        if (!first)                                                                                \
            *p++ = ',';                                                                            \
        first = false;                                                                             \
    } while (0)
    if (n->key_len) {
        SEP();
        PUT_LIT(p, "\"key\":");
        p = put_json_string(b, p, n->key, n->key_len, n->key_plain,
                            NODE_FIXED_BYTES + n->value_len);
    }
    if (n->dir) {
        SEP();
        PUT_LIT(p, "\"dir\":true");
    }
    if (n->value != NULL) {
        SEP();
        PUT_LIT(p, "\"value\":");
        p = put_json_string(b, p, n->value, n->value_len, n->value_plain, NODE_FIXED_BYTES);
    }
    if (n->expiration_ns != 0) {
        SEP();
        PUT_LIT(p, "\"expiration\":\"");
        p += api_format_rfc3339(p, n->expiration_ns);
        *p++ = '"';
    }
    if (n->ttl != 0) {
        SEP();
        PUT_LIT(p, "\"ttl\":");
        if (n->ttl < 0)
            *p++ = '-';
        p += put_u64(p, n->ttl < 0 ? (uint64_t)0 - (uint64_t)n->ttl : (uint64_t)n->ttl);
    }
    if (n->n_nodes != 0) {
        SEP();
        PUT_LIT(p, "\"nodes\":[");
        b->len = (size_t)(p - b->data);
        for (size_t i = 0; i < n->n_nodes; i++) {
            if (i)
                api_buf_append(b, ",", 1);
            api_json_node(b, &n->nodes[i]);
        }
        api_buf_reserve(b, NODE_FIXED_BYTES);
        p = b->data + b->len;
        *p++ = ']';
    }
    if (n->modified_index != 0) {
        SEP();
        PUT_LIT(p, "\"modifiedIndex\":");
        p += put_u64(p, n->modified_index);
    }
    if (n->created_index != 0) {
        SEP();
        PUT_LIT(p, "\"createdIndex\":");
        p += put_u64(p, n->created_index);
    }
#undef SEP
    *p++ = '}';
    b->len = (size_t)(p - b->data);
}

void api_json_event(api_buf_t *b, const store_event_t *ev, bool no_node)
{
    const char *action = store_action_name(ev->action);
    size_t action_len = strlen(action);
    api_buf_append(b, "{\"action\":\"", 11);
    api_buf_append(b, action, action_len);
    api_buf_append(b, "\"", 1);
    if (!no_node) {
        api_buf_append(b, ",\"node\":", 8);
        api_json_node(b, &ev->node);
        if (ev->has_prev_node) {
            api_buf_append(b, ",\"prevNode\":", 12);
            api_json_node(b, &ev->prev_node);
        }
    }
    api_buf_append(b, "}", 1);
}

void api_json_error(api_buf_t *b, int code, const char *cause, size_t cause_len, uint64_t index)
{
    const char *msg = store_error_message(code);
    api_buf_append(b, "{\"errorCode\":", 13);
    api_buf_append_i64(b, code);
    api_buf_append(b, ",\"message\":", 11);
    if (msg == NULL)
        msg = "";
    api_json_string(b, msg, strlen(msg));
    /* Go's omitempty drops only the empty string: a cause of one NUL byte
     * ("\u0000") is still written, so test the length, not cause[0]. */
    if (cause != NULL && cause_len > 0) {
        api_buf_append(b, ",\"cause\":", 9);
        api_json_string(b, cause, cause_len);
    }
    api_buf_append(b, ",\"index\":", 9);
    api_buf_append_u64(b, index);
    api_buf_append(b, "}", 1);
}

/*
 * The shortest digits that read back to v: the precision is raised until
 * glibc's correctly rounded %.*e parses back to v, which is what Go's
 * strconv.AppendFloat(v, fmt, -1, 64) finds. Then laid out as Go's
 * encoding/json does: %f form, or %e form outside [1e-6, 1e21) with a
 * one-digit negative exponent kept short ("1e-7", but "1e+21").
 */
void api_json_float(api_buf_t *b, double v)
{
    if (v == 0) {
        api_buf_append_str(b, signbit(v) ? "-0" : "0");
        return;
    }
    char e[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec, v);
        if (strtod(e, NULL) == v)
            break;
    }
    /* e: [-]d[.ddd]e(+|-)XX */
    const char *p = e;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[24];
    size_t nd = 0;
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    double a = fabs(v);
    if (neg)
        api_buf_append(b, "-", 1);
    if (a < 1e-6 || a >= 1e21) {
        api_buf_append(b, digits, 1);
        if (nd > 1) {
            api_buf_append(b, ".", 1);
            api_buf_append(b, digits + 1, nd - 1);
        }
        char x[8];
        int xn = snprintf(x, sizeof(x), "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
        if (xn == 4 && x[1] == '-' && x[2] == '0') {
            x[2] = x[3];
            xn = 3;
        }
        api_buf_append(b, x, (size_t)xn);
        return;
    }
    if (exp10 < 0) {
        api_buf_append(b, "0.", 2);
        for (int k = -1; k > exp10; k--)
            api_buf_append(b, "0", 1);
        api_buf_append(b, digits, nd);
        return;
    }
    size_t whole = (size_t)exp10 + 1;
    if (nd <= whole) {
        api_buf_append(b, digits, nd);
        for (size_t k = nd; k < whole; k++)
            api_buf_append(b, "0", 1);
        return;
    }
    api_buf_append(b, digits, whole);
    api_buf_append(b, ".", 1);
    api_buf_append(b, digits + whole, nd - whole);
}
