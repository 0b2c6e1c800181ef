/*
 * The web console (/ui/): its files, embedded at build time by
 * api/ui_embed.py from api/ui/, and its handler (ui_handler.c). Internal to
 * api/.
 */
#ifndef METCD_API_UI_INT_H
#define METCD_API_UI_INT_H

#include <stddef.h>

#include "api/api_int.h"

/* One embedded file. Everything is static data of the program. */
typedef struct api_ui_asset {
    const char *path;         /* below /ui: "/index.html", "/js/tree.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const char *etag;         /* strong, quoted: "\"0123456789abcdef\"" */
    const unsigned char *data;
    size_t len;
    const unsigned char *gzip; /* gzip copy, NULL when it would not be 10% smaller */
    size_t gzip_len;
    const char *gzip_etag; /* the gzip copy's own ETag (RFC 7232 2.3.3) */
} api_ui_asset_t;

/* Generated: sorted by path. */
extern const api_ui_asset_t api_ui_assets[];
extern const size_t api_ui_n_assets;

/*
 * GET/HEAD /ui and /ui/...: sub is the decoded path after "/ui" ("" or
 * "/..."). Answers every request it is given (404 for an unknown file).
 */
void api_handle_ui(api_t *api, h2o_req_t *req, api_method_t m, const char *sub, size_t len);

#endif /* METCD_API_UI_INT_H */
