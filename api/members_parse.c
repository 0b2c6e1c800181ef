/*
 * The body of POST and PUT /v2/members, {"peerURLs":[...]}, read as etcd
 * 3.4.23 reads it: Go's encoding/json into httptypes.MemberCreateRequest,
 * then types.NewURLs. A bad body is a 400 whose message is Go's error text,
 * so clients that show it (etcdctl prints it) see what etcd would say.
 *
 * Two passes: the first checks the syntax as Go's scanner does (Go validates
 * the whole text before it decodes anything, so a syntax error wins over a
 * type error anywhere); the second, on text known to be valid, picks out
 * the peerURLs the way Go's decoder assigns them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"

/* ---- Go's strconv.Quote, for the texts of Go's errors. ---- */

static void quote_into(api_buf_t *b, const char *s, size_t len, char q)
{
    static const char hex[] = "0123456789abcdef";
    api_buf_append(b, &q, 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[4] = {'\\', 0, 0, 0};
        switch (c) {
        case '\a':
            esc[1] = 'a';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\v':
            esc[1] = 'v';
            break;
        default:
            if (c == (unsigned char)q || c == '\\') {
                esc[1] = (char)c;
            } else if (c < 0x20 || c == 0x7f) {
                esc[1] = 'x';
                esc[2] = hex[c >> 4];
                esc[3] = hex[c & 15];
                api_buf_append(b, esc, 4);
                continue;
            } else {
                /* Printable ASCII and UTF-8 pass as they are. */
                api_buf_append(b, &s[i], 1);
                continue;
            }
        }
        api_buf_append(b, esc, 2);
    }
    api_buf_append(b, &q, 1);
}

/*
 * Go's quoteChar in encoding/json: the offending byte taken as a code point
 * (so 0xe9 reads as 'é'), in single quotes.
 */
static void quote_json_char(api_buf_t *b, unsigned char c)
{
    if (c == '\'') {
        api_buf_append_str(b, "'\\''");
        return;
    }
    if (c == '"') {
        api_buf_append_str(b, "'\"'");
        return;
    }
    if (c >= 0x80) {
        /* U+0080..U+00A0 and U+00AD are not printable: Go writes \u0080. */
        if (c <= 0xa0 || c == 0xad) {
            char u[16];
            snprintf(u, sizeof(u), "'\\u%04x'", c);
            api_buf_append_str(b, u);
            return;
        }
        char utf8[2] = {(char)(0xc0 | (c >> 6)), (char)(0x80 | (c & 0x3f))};
        quote_into(b, utf8, 2, '\'');
        return;
    }
    char s = (char)c;
    quote_into(b, &s, 1, '\'');
}

/* ---- Pass 1: Go's scanner (encoding/json/scanner.go) error texts. ---- */

typedef struct scan {
    const char *s;
    size_t len, i;
    api_buf_t *err; /* set on the first error */
    bool failed;
} scan_t;

static bool scan_fail(scan_t *sc, const char *context)
{
    if (sc->i >= sc->len) {
        api_buf_append_str(sc->err, "unexpected end of JSON input");
    } else {
        api_buf_append_str(sc->err, "invalid character ");
        quote_json_char(sc->err, (unsigned char)sc->s[sc->i]);
        api_buf_append_str(sc->err, " ");
        api_buf_append_str(sc->err, context);
    }
    sc->failed = true;
    return false;
}

static void scan_space(scan_t *sc)
{
    while (sc->i < sc->len) {
        char c = sc->s[sc->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        sc->i++;
    }
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* At the opening quote. */
static bool scan_string(scan_t *sc)
{
    sc->i++;
    while (sc->i < sc->len) {
        unsigned char c = (unsigned char)sc->s[sc->i];
        if (c == '"') {
            sc->i++;
            return true;
        }
        if (c < 0x20)
            return scan_fail(sc, "in string literal");
        if (c != '\\') {
            sc->i++;
            continue;
        }
        sc->i++;
        if (sc->i >= sc->len)
            return scan_fail(sc, "");
        c = (unsigned char)sc->s[sc->i];
        if (c == 'u') {
            for (int k = 0; k < 4; k++) {
                sc->i++;
                if (sc->i >= sc->len || !is_hex(sc->s[sc->i]))
                    return scan_fail(sc, "in \\u hexadecimal character escape");
            }
        } else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
            return scan_fail(sc, "in string escape code");
        }
        sc->i++;
    }
    return scan_fail(sc, "");
}

static bool scan_number(scan_t *sc)
{
    if (sc->s[sc->i] == '-') {
        sc->i++;
        if (sc->i >= sc->len || !is_digit(sc->s[sc->i]))
            return scan_fail(sc, "in numeric literal");
    }
    if (sc->s[sc->i] == '0') {
        sc->i++;
    } else {
        while (sc->i < sc->len && is_digit(sc->s[sc->i]))
            sc->i++;
    }
    if (sc->i < sc->len && sc->s[sc->i] == '.') {
        sc->i++;
        if (sc->i >= sc->len || !is_digit(sc->s[sc->i]))
            return scan_fail(sc, "after decimal point in numeric literal");
        while (sc->i < sc->len && is_digit(sc->s[sc->i]))
            sc->i++;
    }
    if (sc->i < sc->len && (sc->s[sc->i] == 'e' || sc->s[sc->i] == 'E')) {
        sc->i++;
        if (sc->i < sc->len && (sc->s[sc->i] == '+' || sc->s[sc->i] == '-'))
            sc->i++;
        if (sc->i >= sc->len || !is_digit(sc->s[sc->i]))
            return scan_fail(sc, "in exponent of numeric literal");
        while (sc->i < sc->len && is_digit(sc->s[sc->i]))
            sc->i++;
    }
    return true;
}

static bool scan_literal(scan_t *sc, const char *word)
{
    sc->i++;
    for (size_t k = 1; word[k] != '\0'; k++, sc->i++) {
        if (sc->i >= sc->len || sc->s[sc->i] != word[k]) {
            char ctx[48];
            snprintf(ctx, sizeof(ctx), "in literal %s (expecting '%c')", word, word[k]);
            return scan_fail(sc, ctx);
        }
    }
    return true;
}

/* Go's scanner keeps a stack; nesting beyond this is refused as Go does past 10000. */
#define MAX_DEPTH 10000

static bool scan_value(scan_t *sc, int depth)
{
    scan_space(sc);
    if (sc->i >= sc->len)
        return scan_fail(sc, "");
    char c = sc->s[sc->i];
    if (c == '{' || c == '[') {
        if (depth >= MAX_DEPTH) {
            api_buf_append_str(sc->err, "exceeded max depth");
            sc->failed = true;
            return false;
        }
        bool object = c == '{';
        sc->i++;
        scan_space(sc);
        if (sc->i < sc->len && sc->s[sc->i] == (object ? '}' : ']')) {
            sc->i++;
            return true;
        }
        for (;;) {
            if (object) {
                scan_space(sc);
                if (sc->i >= sc->len || sc->s[sc->i] != '"')
                    return scan_fail(sc, "looking for beginning of object key string");
                if (!scan_string(sc))
                    return false;
                scan_space(sc);
                if (sc->i >= sc->len || sc->s[sc->i] != ':')
                    return scan_fail(sc, "after object key");
                sc->i++;
            }
            if (!scan_value(sc, depth + 1))
                return false;
            scan_space(sc);
            if (sc->i < sc->len && sc->s[sc->i] == ',') {
                sc->i++;
                continue;
            }
            if (sc->i < sc->len && sc->s[sc->i] == (object ? '}' : ']')) {
                sc->i++;
                return true;
            }
            return scan_fail(sc, object ? "after object key:value pair" : "after array element");
        }
    }
    if (c == '"')
        return scan_string(sc);
    if (c == '-' || is_digit(c))
        return scan_number(sc);
    if (c == 't')
        return scan_literal(sc, "true");
    if (c == 'f')
        return scan_literal(sc, "false");
    if (c == 'n')
        return scan_literal(sc, "null");
    return scan_fail(sc, "looking for beginning of value");
}

/* ---- Pass 2: decoding, on text pass 1 accepted. ---- */

static void skip_space(const char *s, size_t len, size_t *i)
{
    while (*i < len && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r'))
        (*i)++;
}

/* Skips one valid value. */
static void skip_value(const char *s, size_t len, size_t *i)
{
    skip_space(s, len, i);
    char c = s[*i];
    if (c == '"') {
        for ((*i)++; s[*i] != '"'; (*i)++)
            if (s[*i] == '\\')
                (*i)++;
        (*i)++;
        return;
    }
    if (c == '{' || c == '[') {
        size_t depth = 0;
        for (; *i < len; (*i)++) {
            char d = s[*i];
            if (d == '"') {
                for ((*i)++; s[*i] != '"'; (*i)++)
                    if (s[*i] == '\\')
                        (*i)++;
            } else if (d == '{' || d == '[') {
                depth++;
            } else if (d == '}' || d == ']') {
                if (--depth == 0) {
                    (*i)++;
                    return;
                }
            }
        }
        return;
    }
    while (*i < len && strchr(",}] \t\r\n", s[*i]) == NULL)
        (*i)++;
}

/* Go's names for a JSON value's kind in UnmarshalTypeError. */
static const char *kind_name(char c)
{
    switch (c) {
    case '"':
        return "string";
    case '{':
        return "object";
    case '[':
        return "array";
    case 't':
    case 'f':
        return "bool";
    default:
        return "number";
    }
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

static void put_utf8(api_buf_t *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    api_buf_append(b, u, n);
}

/* Length of a valid UTF-8 sequence at p (Go's utf8.DecodeRune), or 0. */
static size_t utf8_valid_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (avail < n)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[k] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/*
 * Decodes the string at s[*i] (its opening quote) as Go's unquote does:
 * escapes resolved, surrogate pairs joined, a lone surrogate and invalid
 * UTF-8 replaced by U+FFFD. The result is NUL-terminated pool memory.
 */
static const char *decode_string(h2o_mem_pool_t *pool, const char *s, size_t *i)
{
    api_buf_t b;
    api_buf_init(&b, pool);
    (*i)++;
    while (s[*i] != '"') {
        unsigned char c = (unsigned char)s[*i];
        if (c == '\\') {
            char e = s[*i + 1];
            *i += 2;
            switch (e) {
            case 'b':
                api_buf_append(&b, "\b", 1);
                break;
            case 'f':
                api_buf_append(&b, "\f", 1);
                break;
            case 'n':
                api_buf_append(&b, "\n", 1);
                break;
            case 'r':
                api_buf_append(&b, "\r", 1);
                break;
            case 't':
                api_buf_append(&b, "\t", 1);
                break;
            case 'u': {
                unsigned cp = hex4(&s[*i]);
                *i += 4;
                if (cp >= 0xd800 && cp < 0xdc00 && s[*i] == '\\' && s[*i + 1] == 'u') {
                    unsigned lo = hex4(&s[*i + 2]);
                    if (lo >= 0xdc00 && lo < 0xe000) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        *i += 6;
                    }
                }
                if (cp >= 0xd800 && cp < 0xe000)
                    cp = 0xfffd;
                put_utf8(&b, cp);
                break;
            }
            default: /* " \ / */
                api_buf_append(&b, &e, 1);
            }
            continue;
        }
        size_t n = utf8_valid_len((const unsigned char *)&s[*i], strlen(&s[*i]));
        if (n == 0) {
            put_utf8(&b, 0xfffd);
            (*i)++;
        } else {
            api_buf_append(&b, &s[*i], n);
            *i += n;
        }
    }
    (*i)++;
    api_buf_append(&b, "", 1);
    return b.data;
}

/*
 * Whether a key names the field PeerURLs: Go matches a JSON key to a field
 * exactly, or else case-insensitively (the last matching key wins).
 */
static bool is_peer_urls_key(const char *k)
{
    return strcasecmp(k, "peerURLs") == 0;
}

#define GO_STRUCT_TYPE "struct { PeerURLs []string \"json:\\\"peerURLs\\\"\" }"

/* ---- types.NewURLs: Go's url.Parse, then etcd's own checks. ---- */

static void url_parse_error(api_buf_t *err, const char *url, size_t url_len, const char *what)
{
    api_buf_append_str(err, "parse ");
    quote_into(err, url, url_len, '"');
    api_buf_append_str(err, ": ");
    api_buf_append_str(err, what);
}

static bool valid_optional_port(const char *p, size_t n)
{
    if (n == 0)
        return true;
    if (p[0] != ':')
        return false;
    for (size_t k = 1; k < n; k++)
        if (!is_digit(p[k]))
            return false;
    return true;
}

/* Go's shouldEscape(c, encodeHost) for ASCII: the characters a host may hold. */
static bool host_char_ok(unsigned char c)
{
    if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit((char)c))
        return true;
    return strchr("-._~!$&'()*+,;=:[]<>\"%", c) != NULL && c != '\0';
}

/* Go's unescape() %-checks: returns the offset of a bad escape, or -1. */
static long bad_escape(const char *s, size_t n, bool host)
{
    for (size_t k = 0; k < n; k++) {
        if (s[k] != '%')
            continue;
        if (k + 2 >= n || !is_hex(s[k + 1]) || !is_hex(s[k + 2]))
            return (long)k;
        /* In a host only non-ASCII may be escaped (and %25, for zones). */
        if (host && s[k + 1] >= '0' && s[k + 1] <= '7' && !(s[k + 1] == '2' && s[k + 2] == '5'))
            return (long)k;
        k += 2;
    }
    return -1;
}

static void escape_error(api_buf_t *err, const char *url, size_t url_len, const char *p,
                         size_t avail)
{
    api_buf_t what;
    api_buf_init(&what, err->pool);
    api_buf_append_str(&what, "invalid URL escape ");
    quote_into(&what, p, avail < 3 ? avail : 3, '"');
    api_buf_append(&what, "", 1);
    url_parse_error(err, url, url_len, what.data);
}

/* net.SplitHostPort succeeds. */
static bool split_host_port_ok(const char *h, size_t n)
{
    const char *colon = NULL;
    for (size_t k = n; k > 0; k--)
        if (h[k - 1] == ':') {
            colon = &h[k - 1];
            break;
        }
    if (colon == NULL)
        return false;
    size_t i = (size_t)(colon - h), j = 0, k = 0;
    if (h[0] == '[') {
        const char *end = memchr(h, ']', n);
        if (end == NULL)
            return false;
        size_t e = (size_t)(end - h);
        if (e + 1 == n || e + 1 != i)
            return false;
        j = 1;
        k = e + 1;
    } else if (memchr(h, ':', i) != NULL) {
        return false;
    }
    if (memchr(h + j, '[', n - j) != NULL || memchr(h + k, ']', n - k) != NULL)
        return false;
    return true;
}

/*
 * One URL through types.NewURLs. Returns the URL as Go's URL.String() gives
 * it back (the scheme lower-cased, the rest as written) in pool memory, or
 * NULL with the error text appended to err.
 */
static const char *check_url(h2o_mem_pool_t *pool, const char *in, api_buf_t *err)
{
    size_t n = strlen(in);
    while (n > 0 && strchr(" \t\n\v\f\r", in[0]) != NULL)
        in++, n--;
    while (n > 0 && strchr(" \t\n\v\f\r", in[n - 1]) != NULL)
        n--;
    const char *hash = memchr(in, '#', n);
    size_t un = hash ? (size_t)(hash - in) : n; /* url.Parse cuts the fragment first */
    for (size_t k = 0; k < un; k++) {
        unsigned char c = (unsigned char)in[k];
        if (c < 0x20 || c == 0x7f) {
            url_parse_error(err, in, un, "net/url: invalid control character in URL");
            return NULL;
        }
    }
    /* getScheme */
    size_t scheme_len = 0;
    for (size_t k = 0; k < un; k++) {
        char c = in[k];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            continue;
        if (is_digit(c) || c == '+' || c == '-' || c == '.') {
            if (k == 0)
                break;
            continue;
        }
        if (c == ':') {
            if (k == 0) {
                url_parse_error(err, in, un, "missing protocol scheme");
                return NULL;
            }
            scheme_len = k;
        }
        break;
    }
    const char *rest = scheme_len ? in + scheme_len + 1 : in;
    size_t rest_len = scheme_len ? un - scheme_len - 1 : un;
    const char *q = memchr(rest, '?', rest_len);
    if (q != NULL)
        rest_len = (size_t)(q - rest);
    const char *host = "";
    size_t host_len = 0, path_len = 0;
    const char *path = rest;
    bool opaque = scheme_len > 0 && (rest_len == 0 || rest[0] != '/');
    if (!opaque) {
        if (scheme_len == 0) {
            const char *slash = memchr(rest, '/', rest_len);
            size_t seg = slash ? (size_t)(slash - rest) : rest_len;
            if (memchr(rest, ':', seg) != NULL) {
                url_parse_error(err, in, un, "first path segment in URL cannot contain colon");
                return NULL;
            }
        }
        path_len = rest_len;
        if (rest_len >= 2 && rest[0] == '/' && rest[1] == '/' &&
            (scheme_len > 0 || rest_len < 3 || rest[2] != '/')) {
            const char *auth = rest + 2;
            size_t auth_len = rest_len - 2;
            const char *slash = memchr(auth, '/', auth_len);
            path = slash ? slash : auth + auth_len;
            path_len = slash ? auth_len - (size_t)(slash - auth) : 0;
            if (slash)
                auth_len = (size_t)(slash - auth);
            const char *at = NULL;
            for (size_t k = auth_len; k > 0; k--)
                if (auth[k - 1] == '@') {
                    at = &auth[k - 1];
                    break;
                }
            host = at ? at + 1 : auth;
            host_len = auth_len - (size_t)(host - auth);
            /* parseHost */
            const char *colon_port = NULL;
            size_t cp_len = 0;
            if (host_len > 0 && host[0] == '[') {
                const char *rb = NULL;
                for (size_t k = host_len; k > 0; k--)
                    if (host[k - 1] == ']') {
                        rb = &host[k - 1];
                        break;
                    }
                if (rb == NULL) {
                    url_parse_error(err, in, un, "missing ']' in host");
                    return NULL;
                }
                colon_port = rb + 1;
                cp_len = host_len - (size_t)(colon_port - host);
            } else {
                for (size_t k = host_len; k > 0; k--)
                    if (host[k - 1] == ':') {
                        colon_port = &host[k - 1];
                        cp_len = host_len - (k - 1);
                        break;
                    }
            }
            if (colon_port != NULL && !valid_optional_port(colon_port, cp_len)) {
                api_buf_t what;
                api_buf_init(&what, pool);
                api_buf_append_str(&what, "invalid port ");
                quote_into(&what, colon_port, cp_len, '"');
                api_buf_append_str(&what, " after host");
                api_buf_append(&what, "", 1);
                url_parse_error(err, in, un, what.data);
                return NULL;
            }
            long be = bad_escape(host, host_len, true);
            if (be >= 0) {
                escape_error(err, in, un, host + be, host_len - (size_t)be);
                return NULL;
            }
            for (size_t k = 0; k < host_len; k++) {
                if (!host_char_ok((unsigned char)host[k])) {
                    api_buf_t what;
                    api_buf_init(&what, pool);
                    api_buf_append_str(&what, "invalid character ");
                    quote_into(&what, &host[k], 1, '"');
                    api_buf_append_str(&what, " in host name");
                    api_buf_append(&what, "", 1);
                    url_parse_error(err, in, un, what.data);
                    return NULL;
                }
            }
            if (at != NULL) {
                for (const char *u = auth; u < at; u++) {
                    char c = *u;
                    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
                              (c != '\0' && strchr("-._:~!$&'()*+,;=%@", c) != NULL);
                    if (!ok) {
                        url_parse_error(err, in, un, "net/url: invalid userinfo");
                        return NULL;
                    }
                }
            }
        }
        long be = bad_escape(path, path_len, false);
        if (be >= 0) {
            escape_error(err, in, un, path + be, path_len - (size_t)be);
            return NULL;
        }
    }
    if (hash != NULL) {
        long be = bad_escape(hash + 1, n - un - 1, false);
        if (be >= 0) {
            escape_error(err, in, n, hash + 1 + be, n - un - 1 - (size_t)be);
            return NULL;
        }
    }
    /* etcd's own checks, on the parsed URL. */
    bool scheme_ok = (scheme_len == 4 && strncasecmp(in, "http", 4) == 0) ||
                     (scheme_len == 5 && strncasecmp(in, "https", 5) == 0) ||
                     (scheme_len == 4 && strncasecmp(in, "unix", 4) == 0) ||
                     (scheme_len == 5 && strncasecmp(in, "unixs", 5) == 0);
    if (!scheme_ok) {
        api_buf_append_str(err, "URL scheme must be http, https, unix, or unixs: ");
        api_buf_append(err, in, n);
        return NULL;
    }
    if (!split_host_port_ok(host, host_len)) {
        api_buf_append_str(err, "URL address does not have the form \"host:port\": ");
        api_buf_append(err, in, n);
        return NULL;
    }
    if (path_len > 0) {
        api_buf_append_str(err, "URL must not contain a path: ");
        api_buf_append(err, in, n);
        return NULL;
    }
    char *out = h2o_mem_alloc_pool(pool, n + 1);
    memcpy(out, in, n);
    out[n] = '\0';
    for (size_t k = 0; k < scheme_len; k++)
        if (out[k] >= 'A' && out[k] <= 'Z')
            out[k] = (char)(out[k] - 'A' + 'a');
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int api_members_parse_body(h2o_mem_pool_t *pool, const char *body, size_t len, const char ***urls,
                           size_t *n_urls, api_buf_t *err)
{
    *urls = NULL;
    *n_urls = 0;
    /* Pass 1: syntax. A NUL byte is an invalid character to Go as well. */
    scan_t sc = {.s = body ? body : "", .len = body ? len : 0, .err = err};
    if (scan_value(&sc, 0)) {
        scan_space(&sc);
        if (sc.i < sc.len)
            scan_fail(&sc, "after top-level value");
    }
    if (sc.failed)
        return -1;
    /*
     * Pass 2: the text is valid JSON and NUL-free up to len... except that a
     * NUL inside a string is a control character pass 1 refused, so the
     * helpers below may stop at NUL. Copy it NUL-terminated.
     */
    char *s = h2o_mem_alloc_pool(pool, len + 1);
    memcpy(s, body, len);
    s[len] = '\0';
    size_t i = 0;
    skip_space(s, len, &i);
    if (s[i] == 'n')
        goto no_urls; /* null into a struct: nothing set */
    if (s[i] != '{') {
        api_buf_append_str(err, "json: cannot unmarshal ");
        api_buf_append_str(err, kind_name(s[i]));
        api_buf_append_str(err, " into Go value of type " GO_STRUCT_TYPE);
        return -1;
    }
    const char **list = NULL;
    size_t n = 0;
    bool type_error = false; /* Go reports the first one, after decoding the rest */
    i++;
    for (;;) {
        skip_space(s, len, &i);
        if (s[i] == '}')
            break;
        if (s[i] == ',') {
            i++;
            continue;
        }
        const char *key = decode_string(pool, s, &i);
        skip_space(s, len, &i);
        i++; /* ':' */
        skip_space(s, len, &i);
        if (!is_peer_urls_key(key)) {
            skip_value(s, len, &i);
            continue;
        }
        char c = s[i];
        if (c == 'n') {
            list = NULL; /* null into a slice: nil */
            n = 0;
            i += 4;
            continue;
        }
        if (c != '[') {
            if (!type_error) {
                api_buf_append_str(err, "json: cannot unmarshal ");
                api_buf_append_str(err, kind_name(c));
                api_buf_append_str(err, " into Go struct field .peerURLs of type []string");
                type_error = true;
            }
            skip_value(s, len, &i);
            continue;
        }
        /* A new array replaces the slice's elements. */
        size_t cap = 4;
        list = h2o_mem_alloc_pool(pool, cap * sizeof(*list));
        n = 0;
        i++;
        for (;;) {
            skip_space(s, len, &i);
            if (s[i] == ']') {
                i++;
                break;
            }
            if (s[i] == ',') {
                i++;
                continue;
            }
            const char *v = "";
            c = s[i];
            if (c == '"') {
                v = decode_string(pool, s, &i);
            } else if (c == 'n') {
                i += 4; /* null into a string: left "" */
            } else {
                if (!type_error) {
                    api_buf_append_str(err, "json: cannot unmarshal ");
                    api_buf_append_str(err, kind_name(c));
                    api_buf_append_str(err, " into Go struct field .peerURLs of type string");
                    type_error = true;
                }
                skip_value(s, len, &i);
            }
            if (n == cap) {
                const char **bigger = h2o_mem_alloc_pool(pool, 2 * cap * sizeof(*list));
                memcpy(bigger, list, n * sizeof(*list));
                list = bigger;
                cap *= 2;
            }
            list[n++] = v;
        }
    }
    if (type_error)
        return -1;
    if (n == 0)
        goto no_urls;
    const char **out = h2o_mem_alloc_pool(pool, n * sizeof(*out));
    for (size_t k = 0; k < n; k++) {
        out[k] = check_url(pool, list[k], err);
        if (out[k] == NULL)
            return -1;
    }
    qsort(out, n, sizeof(*out), cmp_str);
    *urls = out;
    *n_urls = n;
    return 0;
no_urls:
    api_buf_append_str(err, "no valid URLs given");
    return -1;
}
