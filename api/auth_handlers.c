/*
 * /v2/auth: etcd's v2 auth API as an etcd with auth disabled and no users
 * answers it (only the root role exists). Changes are not offered: this
 * member serves no authentication, so they are refused with 405.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"

#define ROOT_ROLE                                                                                  \
    "{\"role\":\"root\",\"permissions\":{\"kv\":{\"read\":[\"/*\"],\"write\":[\"/*\"]}}}"

static void send_message(api_t *api, h2o_req_t *req, int status, const char *what, const char *name,
                         size_t len)
{
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    char msg[160];
    snprintf(msg, sizeof(msg), "auth: %s %.*s does not exist.", what, (int)(len > 100 ? 100 : len),
             name);
    api_buf_append_str(&b, "{\"message\":");
    api_json_string(&b, msg, strlen(msg));
    api_buf_append_str(&b, "}");
    api_send(api, req, status, "application/json", b.data, b.len);
}

/* sub: the path after "/v2/auth" ("/enable", "/users/x", ...). */
void api_handle_auth(api_t *api, h2o_req_t *req, api_method_t m, const char *sub, size_t len)
{
    const char *allow;
    const char *name = NULL;
    size_t name_len = 0;
    enum { ENABLE, USERS, USER, ROLES, ROLE } what;
    if (len == 7 && memcmp(sub, "/enable", 7) == 0) {
        what = ENABLE;
        allow = "GET,PUT,DELETE";
    } else if (len == 6 && memcmp(sub, "/users", 6) == 0) {
        what = USERS;
        allow = "GET";
    } else if (len > 7 && memcmp(sub, "/users/", 7) == 0) {
        what = USER;
        allow = "GET,PUT,DELETE";
        name = sub + 7;
        name_len = len - 7;
    } else if (len == 6 && memcmp(sub, "/roles", 6) == 0) {
        what = ROLES;
        allow = "GET";
    } else if (len > 7 && memcmp(sub, "/roles/", 7) == 0) {
        what = ROLE;
        allow = "GET,PUT,DELETE";
        name = sub + 7;
        name_len = len - 7;
    } else {
        api_send_not_found(api, req);
        return;
    }
    if (m != API_M_GET) {
        api_send_method_not_allowed(api, req, allow);
        return;
    }
    api_add_cluster_id(api, req);
    switch (what) {
    case ENABLE:
        api_send(api, req, 200, "application/json", H2O_STRLIT("{\"enabled\":false}\n"));
        break;
    case USERS:
        api_send(api, req, 200, "application/json", H2O_STRLIT("{\"users\":null}\n"));
        break;
    case USER:
        send_message(api, req, 404, "User", name, name_len);
        break;
    case ROLES:
        api_send(api, req, 200, "application/json", H2O_STRLIT("{\"roles\":[" ROOT_ROLE "]}\n"));
        break;
    case ROLE:
        if (name_len == 4 && memcmp(name, "root", 4) == 0)
            api_send(api, req, 200, "application/json", H2O_STRLIT(ROOT_ROLE "\n"));
        else
            send_message(api, req, 404, "Role", name, name_len);
        break;
    }
}
