/*
 * Request parsing for /v2/keys as etcd 3.4.23 does it (v2http's
 * parseKeyRequest on top of Go's net/http and net/url): form and query
 * decoding, Go's ParseBool/ParseUint, path decoding and cleaning.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"
#include "common/parse.h"

static const struct {
    const char *name;
    api_method_t m;
} methods[] = {
    {"GET", API_M_GET},   {"HEAD", API_M_HEAD},     {"PUT", API_M_PUT},
    {"POST", API_M_POST}, {"DELETE", API_M_DELETE}, {"OPTIONS", API_M_OPTIONS},
};

api_method_t api_method_from(const char *m, size_t len)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strlen(methods[i].name) == len && memcmp(methods[i].name, m, len) == 0)
            return methods[i].m;
    return API_M_OTHER;
}

const char *api_method_name(api_method_t m)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (methods[i].m == m)
            return methods[i].name;
    return "OTHER";
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Go's strconv.Quote of the offending escape, for the message
 * `invalid URL escape "%zz"`: printable ASCII as is, the rest escaped.
 */
static void quote_escape(char *out, size_t outsz, const char *s, size_t len)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < len && o + 6 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

/*
 * Go's unescape: %XX decoding; in query mode '+' is a space. On a bad escape
 * returns -1 and writes Go's EscapeError text into err.
 */
/*
 * The length of the prefix of s[0..len) with no '%' (and, in a query, no
 * '+'), 8 bytes at a time: a PUT's form value is mostly such bytes, and
 * callgrind counted 1,660 instructions a PUT in unescape() byte by byte.
 */
static size_t plain_prefix(const char *s, size_t len, bool query)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones * 0x80;
    const uint64_t plus = query ? ones * '+' : ones * '%';
    size_t i = 0;
    for (; len - i >= 8; i += 8) {
        uint64_t x, p, q;
        memcpy(&x, s + i, 8);
        p = x ^ (ones * '%');
        q = x ^ plus;
        /* A zero byte in p or q: may report one too many, never too few. */
        if ((((p - ones) & ~p) | ((q - ones) & ~q)) & highs)
            break;
    }
    while (i < len && s[i] != '%' && !(query && s[i] == '+'))
        i++;
    return i;
}

static int unescape(h2o_mem_pool_t *pool, const char *s, size_t len, bool query, const char **out,
                    size_t *out_len, api_parse_error_t *err)
{
    char *d = h2o_mem_alloc_pool(pool, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        size_t run = plain_prefix(s + i, len - i, query);
        if (run > 0) {
            memcpy(d + o, s + i, run);
            o += run;
            i += run;
            if (i == len)
                break;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= len + 0 || (h = hexval((unsigned char)s[i + 1])) < 0 ||
                (l = hexval((unsigned char)s[i + 2])) < 0) {
                if (err != NULL) {
                    size_t el = len - i > 3 ? 3 : len - i;
                    char q[32];
                    quote_escape(q, sizeof(q), s + i, el);
                    snprintf(err->cause, sizeof(err->cause), "invalid URL escape %s", q);
                }
                return -1;
            }
            d[o++] = (char)(h << 4 | l);
            i += 2;
        } else if (c == '+' && query) {
            d[o++] = ' ';
        } else {
            d[o++] = (char)c;
        }
    }
    d[o] = '\0';
    *out = d;
    *out_len = o;
    return 0;
}

static void form_add(api_form_t *f, h2o_mem_pool_t *pool, const char *name, size_t nl,
                     const char *value, size_t vl)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        api_form_pair_t *p = h2o_mem_alloc_pool(pool, cap * sizeof(*p));
        if (f->n)
            memcpy(p, f->pairs, f->n * sizeof(*p));
        f->pairs = p;
        f->cap = cap;
    }
    f->pairs[f->n++] = (api_form_pair_t){name, nl, value, vl};
}

/* Go 1.19 url.ParseQuery: '&' separates, a ';' in a pair is an error. */
int api_form_parse(api_form_t *form, h2o_mem_pool_t *pool, const char *s, size_t len,
                   api_parse_error_t *err)
{
    int rc = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *amp = memchr(s + pos, '&', len - pos);
        size_t end = amp ? (size_t)(amp - s) : len;
        const char *kv = s + pos;
        size_t kvl = end - pos;
        pos = amp ? end + 1 : len;
        if (memchr(kv, ';', kvl) != NULL) {
            if (rc == 0) {
                snprintf(err->cause, sizeof(err->cause), "invalid semicolon separator in query");
                rc = -1;
            }
            continue;
        }
        if (kvl == 0)
            continue;
        const char *eq = memchr(kv, '=', kvl);
        size_t kl = eq ? (size_t)(eq - kv) : kvl;
        const char *v = eq ? eq + 1 : kv + kvl;
        size_t vl = eq ? kvl - kl - 1 : 0;
        const char *dk, *dv;
        size_t dkl, dvl;
        api_parse_error_t tmp;
        if (unescape(pool, kv, kl, true, &dk, &dkl, &tmp) != 0 ||
            unescape(pool, v, vl, true, &dv, &dvl, &tmp) != 0) {
            if (rc == 0) {
                memcpy(err->cause, tmp.cause, sizeof(tmp.cause));
                rc = -1;
            }
            continue;
        }
        form_add(form, pool, dk, dkl, dv, dvl);
    }
    return rc;
}

const api_form_pair_t *api_form_get(const api_form_t *form, const char *name)
{
    if (form->n == 0)
        return NULL; /* a plain GET asks for each of a dozen flags */
    size_t nl = strlen(name);
    for (size_t i = 0; i < form->n; i++)
        if (form->pairs[i].name_len == nl && memcmp(form->pairs[i].name, name, nl) == 0)
            return &form->pairs[i];
    return NULL;
}

int api_parse_uint64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Go's path.Clean (lexical: collapse //, drop ., resolve ..). */
size_t api_path_clean(const char *p, size_t n, char *out)
{
    if (n == 0) {
        out[0] = '.';
        return 1;
    }
    bool rooted = p[0] == '/';
    size_t r = 0, w = 0, dotdot = 0;
    if (rooted) {
        out[w++] = '/';
        r = 1;
        dotdot = 1;
    }
    while (r < n) {
        if (p[r] == '/') {
            r++;
        } else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
            r++;
        } else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            } else if (!rooted) {
                if (w > 0)
                    out[w++] = '/';
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0))
                out[w++] = '/';
            for (; r < n && p[r] != '/'; r++)
                out[w++] = p[r];
        }
    }
    if (w == 0)
        out[w++] = '.';
    return w;
}

/* Go's url escape in encodePath mode (for the Location of a redirect). */
static void escape_path(api_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    strchr("-_.~$&+,/:;=@", c) != NULL;
        if (c == 0)
            keep = false;
        if (keep) {
            api_buf_append(b, &s[i], 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            api_buf_append(b, e, 3);
        }
    }
}

int api_path_parse(h2o_mem_pool_t *pool, const char *target, size_t target_len, api_path_t *out)
{
    const char *q = memchr(target, '?', target_len);
    size_t raw_len = q ? (size_t)(q - target) : target_len;
    const char *dec;
    size_t dec_len;
    memset(out, 0, sizeof(*out));
    if (unescape(pool, target, raw_len, false, &dec, &dec_len, NULL) != 0)
        return -1;
    out->path = dec;
    out->path_len = dec_len;
    /*
     * Go's ServeMux.cleanPath: a missing leading '/' is added, path.Clean,
     * and a trailing slash is kept. Any change is answered with a 301.
     */
    char *np = h2o_mem_alloc_pool(pool, dec_len + 3);
    size_t nl;
    if (dec_len == 0 || dec[0] != '/') {
        char *tmp = h2o_mem_alloc_pool(pool, dec_len + 2);
        tmp[0] = '/';
        memcpy(tmp + 1, dec, dec_len);
        nl = api_path_clean(tmp, dec_len + 1, np);
    } else {
        nl = api_path_clean(dec, dec_len, np);
    }
    if (dec_len > 0 && dec[dec_len - 1] == '/' && !(nl == 1 && np[0] == '/'))
        np[nl++] = '/';
    if (nl != dec_len || memcmp(np, dec, nl) != 0) {
        api_buf_t b;
        api_buf_init(&b, pool);
        escape_path(&b, np, nl);
        if (q != NULL && target_len - raw_len > 1)
            api_buf_append(&b, q, target_len - raw_len);
        api_buf_append(&b, "", 0);
        out->redirect = b.data;
        out->redirect_len = b.len;
    }
    return 0;
}

static int get_bool(const api_form_t *f, const char *name, bool *out, api_parse_error_t *err)
{
    const api_form_pair_t *p = api_form_get(f, name);
    *out = false;
    if (p == NULL)
        return 0;
    if (etcd_parse_bool(p->value, p->value_len, out) != 0) {
        err->code = STORE_E_INVALID_FIELD;
        snprintf(err->cause, sizeof(err->cause), "invalid value for \"%s\"", name);
        return -1;
    }
    return 0;
}

bool api_media_type_is_form(const char *ct, size_t len)
{
    static const char form[] = "application/x-www-form-urlencoded";
    const char *semi = ct ? memchr(ct, ';', len) : NULL;
    size_t l = semi ? (size_t)(semi - ct) : len;
    while (l > 0 && (ct[0] == ' ' || ct[0] == '\t')) {
        ct++;
        l--;
    }
    while (l > 0 && (ct[l - 1] == ' ' || ct[l - 1] == '\t'))
        l--;
    return ct != NULL && l == sizeof(form) - 1 && strncasecmp(ct, form, l) == 0;
}

int api_keys_parse(h2o_mem_pool_t *pool, api_method_t method, const char *key_part,
                   size_t key_part_len, const char *query, size_t query_len,
                   const char *content_type, size_t content_type_len, const char *body,
                   size_t body_len, api_keys_req_t *out, api_parse_error_t *err)
{
    api_form_t form = {0};
    memset(out, 0, sizeof(*out));
    out->method = method;
    out->prev_exist = -1;
    out->refresh = -1;
    err->code = 0;
    err->cause[0] = '\0';

    /*
     * Go's Request.ParseForm: PUT and POST read a form body (only with the
     * x-www-form-urlencoded media type), its values first so that they win,
     * then the query. The body's error is reported before the query's.
     */
    int rc = 0;
    api_parse_error_t qerr;
    if ((method == API_M_PUT || method == API_M_POST) &&
        api_media_type_is_form(content_type, content_type_len) && body != NULL)
        rc = api_form_parse(&form, pool, body, body_len, err);
    if (api_form_parse(&form, pool, query, query_len, &qerr) != 0 && rc == 0) {
        memcpy(err->cause, qerr.cause, sizeof(qerr.cause));
        rc = -1;
    }
    if (rc != 0) {
        err->code = STORE_E_INVALID_FORM;
        return -1;
    }

    /* The key: path.Join("/", rest) drops a trailing slash; "/" is the root. */
    char *key = h2o_mem_alloc_pool(pool, key_part_len + 3);
    char *tmp = h2o_mem_alloc_pool(pool, key_part_len + 2);
    tmp[0] = '/';
    memcpy(tmp + 1, key_part, key_part_len);
    out->key_len = api_path_clean(tmp, key_part_len + 1, key);
    key[out->key_len] = '\0';
    out->key = key;

    /* The order of the checks is etcd's: the first failure is reported. */
    const api_form_pair_t *p;
    if ((p = api_form_get(&form, "prevIndex")) != NULL &&
        api_parse_uint64(p->value, p->value_len, &out->prev_index) != 0) {
        err->code = STORE_E_INDEX_NAN;
        snprintf(err->cause, sizeof(err->cause), "invalid value for \"prevIndex\"");
        return -1;
    }
    if ((p = api_form_get(&form, "waitIndex")) != NULL &&
        api_parse_uint64(p->value, p->value_len, &out->wait_index) != 0) {
        err->code = STORE_E_INDEX_NAN;
        snprintf(err->cause, sizeof(err->cause), "invalid value for \"waitIndex\"");
        return -1;
    }
    if (get_bool(&form, "recursive", &out->recursive, err) ||
        get_bool(&form, "sorted", &out->sorted, err) || get_bool(&form, "wait", &out->wait, err) ||
        get_bool(&form, "dir", &out->dir, err) || get_bool(&form, "quorum", &out->quorum, err) ||
        get_bool(&form, "stream", &out->stream, err))
        return -1;
    if (out->wait && method != API_M_GET) {
        err->code = STORE_E_INVALID_FIELD;
        snprintf(err->cause, sizeof(err->cause), "\"wait\" can only be used with GET requests");
        return -1;
    }
    if ((p = api_form_get(&form, "prevValue")) != NULL) {
        if (p->value_len == 0) {
            err->code = STORE_E_PREV_VALUE_REQUIRED;
            snprintf(err->cause, sizeof(err->cause), "\"prevValue\" cannot be empty");
            return -1;
        }
        out->prev_value = p->value;
        out->prev_value_len = p->value_len;
    }
    if (get_bool(&form, "noValueOnSuccess", &out->no_value_on_success, err))
        return -1;
    /* An empty ttl= means no TTL. */
    if ((p = api_form_get(&form, "ttl")) != NULL && p->value_len > 0) {
        if (api_parse_uint64(p->value, p->value_len, &out->ttl) != 0) {
            err->code = STORE_E_TTL_NAN;
            snprintf(err->cause, sizeof(err->cause), "invalid value for \"ttl\"");
            return -1;
        }
        out->has_ttl = true;
    }
    const api_form_pair_t *value = api_form_get(&form, "value");
    if ((p = api_form_get(&form, "prevExist")) != NULL) {
        bool b;
        if (etcd_parse_bool(p->value, p->value_len, &b) != 0) {
            err->code = STORE_E_INVALID_FIELD;
            snprintf(err->cause, sizeof(err->cause), "invalid value for prevExist");
            return -1;
        }
        out->prev_exist = b;
    }
    if ((p = api_form_get(&form, "refresh")) != NULL) {
        bool b;
        if (etcd_parse_bool(p->value, p->value_len, &b) != 0) {
            err->code = STORE_E_INVALID_FIELD;
            snprintf(err->cause, sizeof(err->cause), "invalid value for refresh");
            return -1;
        }
        out->refresh = b;
        if (b) {
            if (value != NULL && value->value_len > 0) {
                err->code = STORE_E_REFRESH_VALUE;
                snprintf(err->cause, sizeof(err->cause), "A value was provided on a refresh");
                return -1;
            }
            if (!out->has_ttl) {
                err->code = STORE_E_REFRESH_TTL_REQUIRED;
                snprintf(err->cause, sizeof(err->cause), "No TTL value set");
                return -1;
            }
        }
    }
    if (value != NULL) {
        out->value = value->value;
        out->value_len = value->value_len;
    }
    return 0;
}
