/*
 * The web console at /ui/: static files embedded in the program (see
 * api/ui_int.h), served with their Content-Type, an ETag and a gzip copy to
 * clients that accept it. The console speaks the v2 API of the member that
 * serves it, from the same origin, so the policy below lets the page load
 * and fetch nothing from any other host.
 */
#include <stdbool.h>
#include <string.h>

#include "api/ui_int.h"

/*
 * Scripts, styles, images and requests from this origin only; no inline
 * script or style, no plugins, no framing, no form posts anywhere. Inline
 * SVG built through the DOM needs nothing more.
 */
#define UI_CSP                                                                                     \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "               \
    "frame-ancestors 'none'"

static void add_header(h2o_req_t *req, const char *lcname, const char *orig_name, const char *value)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, lcname, strlen(lcname), 0, orig_name,
                          value, strlen(value));
}

static const api_ui_asset_t *find_asset(const char *path, size_t len)
{
    size_t lo = 0, hi = api_ui_n_assets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *p = api_ui_assets[mid].path;
        size_t plen = strlen(p);
        int c = memcmp(p, path, plen < len ? plen : len);
        if (c == 0)
            c = plen < len ? -1 : plen > len ? 1 : 0;
        if (c == 0)
            return &api_ui_assets[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims spaces and tabs around [*s, *s + *len). */
static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_space(**s))
        (*s)++, (*len)--;
    while (*len > 0 && is_space((*s)[*len - 1]))
        (*len)--;
}

/*
 * Calls match(item) for each comma-separated item of every value of the
 * header token; returns true as soon as one matches.
 */
static bool any_item(const h2o_req_t *req, const h2o_token_t *token,
                     bool (*match)(const char *item, size_t len, const void *arg), const void *arg)
{
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, token, i)) != -1;) {
        const h2o_iovec_t *v = &req->headers.entries[i].value;
        const char *p = v->base, *end = v->base + v->len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *stop = comma != NULL ? comma : end;
            const char *item = p;
            size_t len = (size_t)(stop - p);
            trim(&item, &len);
            if (len > 0 && match(item, len, arg))
                return true;
            p = stop + 1;
        }
    }
    return false;
}

/* "gzip" or "gzip;q=..." with q other than 0 (RFC 7231 5.3.4). */
static bool match_gzip(const char *item, size_t len, const void *arg)
{
    (void)arg;
    if (len < 4 || strncasecmp(item, "gzip", 4) != 0)
        return false;
    const char *rest = item + 4;
    size_t rlen = len - 4;
    trim(&rest, &rlen);
    if (rlen == 0)
        return true;
    if (rest[0] != ';')
        return false; /* "gzipx" */
    rest++, rlen--;
    trim(&rest, &rlen);
    if (rlen < 2 || (rest[0] != 'q' && rest[0] != 'Q') || rest[1] != '=')
        return true;
    /* q=0, q=0., q=0.0, q=0.00, q=0.000 refuse it. */
    for (size_t i = 2; i < rlen; i++)
        if (rest[i] != '0' && rest[i] != '.')
            return true;
    return false;
}

/* If-None-Match uses the weak comparison (RFC 7232 3.2): W/ is ignored. */
static bool match_etag(const char *item, size_t len, const void *arg)
{
    const char *etag = arg;
    if (len == 1 && item[0] == '*')
        return true;
    if (len > 2 && item[0] == 'W' && item[1] == '/')
        item += 2, len -= 2;
    return len == strlen(etag) && memcmp(item, etag, len) == 0;
}

static void send_not_modified(api_t *api, h2o_req_t *req, api_method_t m)
{
    req->res.status = 304;
    req->res.reason = "Not Modified";
    /* A 304 has no body, and no Content-Length that would describe this one. */
    req->res.content_length = SIZE_MAX;
    api_metrics_count(api, m, 304);
    static h2o_generator_t generator = {NULL, NULL};
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

void api_handle_ui(api_t *api, h2o_req_t *req, api_method_t m, const char *sub, size_t len)
{
    /* Relative links in the page resolve against /ui/, so /ui goes there. */
    if (len == 0) {
        api_send_redirect(api, req, m, H2O_STRLIT("/ui/"));
        return;
    }
    if (len == 1 && sub[0] == '/')
        sub = "/index.html", len = strlen(sub);
    const api_ui_asset_t *a = find_asset(sub, len);
    if (a == NULL) {
        api_send_not_found(api, req);
        return;
    }
    if (m != API_M_GET && m != API_M_HEAD) {
        api_send_method_not_allowed(api, req, "GET,HEAD");
        return;
    }
    bool gz = a->gzip != NULL && any_item(req, H2O_TOKEN_ACCEPT_ENCODING, match_gzip, NULL);
    const char *etag = gz ? a->gzip_etag : a->etag;
    add_header(req, "content-security-policy", "Content-Security-Policy", UI_CSP);
    add_header(req, "x-content-type-options", "X-Content-Type-Options", "nosniff");
    add_header(req, "x-frame-options", "X-Frame-Options", "DENY");
    add_header(req, "referrer-policy", "Referrer-Policy", "no-referrer");
    /*
     * The files change only with the program: a browser may keep them but
     * asks again each time (a 304 when the ETag still matches), so an
     * upgraded member serves its new console at once.
     */
    add_header(req, "cache-control", "Cache-Control", "no-cache");
    add_header(req, "etag", "ETag", etag);
    if (a->gzip != NULL)
        add_header(req, "vary", "Vary", "Accept-Encoding");
    if (any_item(req, H2O_TOKEN_IF_NONE_MATCH, match_etag, etag)) {
        send_not_modified(api, req, m);
        return;
    }
    if (gz)
        add_header(req, "content-encoding", "Content-Encoding", "gzip");
    api_send(api, req, 200, a->content_type, gz ? (const char *)a->gzip : (const char *)a->data,
             gz ? a->gzip_len : a->len);
}
