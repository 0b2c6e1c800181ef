/* tests/store/test_tree.c: v2 operations and listings, field by field. */
#include "store_test.h"
#include "store/store_int.h"
#include "common/jsontext.h"

static void test_set_new_and_replace(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_event_t *ev = ok_req(s, STORE_OP_SET, "/a", OPTS(.value = "1"));
    assert_int_equal(ev->action, STORE_ACTION_SET);
    check_node(&ev->node, "/a", "1", 1, 1, false);
    assert_false(ev->has_prev_node); /* the API answers 201 */
    assert_int_equal(ev->etcd_index, 1);
    assert_int_equal(ev->node.expiration_ns, 0);
    assert_int_equal(ev->node.ttl, 0);
    store_event_release(ev);

    /* A plain set over a file makes a new node: createdIndex is the new index. */
    ev = ok_req(s, STORE_OP_SET, "/a", OPTS(.value = "2"));
    check_node(&ev->node, "/a", "2", 2, 2, false);
    assert_true(ev->has_prev_node);
    check_node(&ev->prev_node, "/a", "1", 1, 1, false);
    store_event_release(ev);
    assert_int_equal(store_index(s), 2);

    ev = get_ok(s, "/a", false, false);
    check_node(&ev->node, "/a", "2", 2, 2, false);
    assert_int_equal(ev->etcd_index, 2);
    store_event_release(ev);

    /* A missing value is "". */
    ev = ok_req(s, STORE_OP_SET, "/empty", OPTS(0));
    check_node(&ev->node, "/empty", "", 3, 3, false);
    store_event_release(ev);
    assert_int_equal(store_node_count(s), 2);
    store_free(s);
}

/* A node's key_plain and value_plain say whether it is plain JSON text
 * (the API copies such text unchecked): each mark, when set, must hold. */
static void check_plain(const store_node_t *n, bool key_plain, bool value_plain)
{
    assert_int_equal(n->key_plain, key_plain);
    assert_int_equal(n->value_plain, value_plain);
    if (n->key_plain)
        assert_true(json_is_plain(n->key, n->key_len));
    if (n->value_plain)
        assert_true(n->value && json_is_plain(n->value, n->value_len));
}

static void test_plain_marks(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_event_t *ev = ok_req(s, STORE_OP_SET, "/p", OPTS(.value = "plain text 0123456789abcdef"));
    check_plain(&ev->node, true, true);
    store_event_release(ev);
    /* Update and compareAndSwap change the value in place: the event and
     * the node follow the new value. */
    ev = ok_req(s, STORE_OP_UPDATE, "/p", OPTS(.value = "<b>bold</b> and more than 16 bytes"));
    check_plain(&ev->node, true, false);
    check_plain(&ev->prev_node, true, true);
    store_event_release(ev);
    ev = get_ok(s, "/p", false, false);
    check_plain(&ev->node, true, false);
    store_event_release(ev);
    ev = ok_req(s, STORE_OP_CAS, "/p",
                OPTS(.value = "ok", .prev_value = "<b>bold</b> and more than 16 bytes"));
    check_plain(&ev->node, true, true);
    check_plain(&ev->prev_node, true, false);
    store_event_release(ev);
    /* A refresh keeps the value and its mark. */
    ev = ok_req(s, STORE_OP_UPDATE, "/p", OPTS(.refresh = true, .ttl = 100));
    check_plain(&ev->node, true, true);
    store_event_release(ev);
    ev = ok_req(s, STORE_OP_UPDATE, "/p", OPTS(.value = "tab\there"));
    store_event_release(ev);
    ev = ok_req(s, STORE_OP_UPDATE, "/p", OPTS(.refresh = true, .ttl = 100));
    check_plain(&ev->node, true, false);
    store_event_release(ev);
    /* Each byte that Go escapes or that is not ASCII, in a key and a value. */
    const char *odd[] = {"\"", "\\", "<", ">", "&", "\x01", "\x1f", "\xc3\xa9", "\xff"};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        char key[64], value[64];
        snprintf(key, sizeof(key), "/d/k%zu%s", i, odd[i]);
        snprintf(value, sizeof(value), "0123456789abcdef%s0123456789", odd[i]);
        ev = ok_req(s, STORE_OP_SET, key, OPTS(.value = value));
        check_plain(&ev->node, false, false);
        store_event_release(ev);
    }
    put(s, "/d/plain", "");
    ev = get_ok(s, "/d", true, true);
    assert_int_equal(ev->node.n_nodes, 10);
    for (size_t i = 0; i < ev->node.n_nodes; i++) {
        bool plain = i == ev->node.n_nodes - 1; /* "plain" sorts last */
        check_plain(&ev->node.nodes[i], plain, plain);
    }
    check_plain(&ev->node, true, false); /* a dir has no value */
    store_event_release(ev);
    /* A delete's node keeps the key's mark and has no value. */
    ev = ok_req(s, STORE_OP_DELETE, "/d/plain", OPTS(0));
    check_plain(&ev->node, true, false);
    check_plain(&ev->prev_node, true, true);
    store_event_release(ev);
    store_free(s);
}

static void test_implicit_parents(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/x", "0");
    store_event_t *ev = ok_req(s, STORE_OP_SET, "/a/b/c", OPTS(.value = "v"));
    check_node(&ev->node, "/a/b/c", "v", 2, 2, false);
    store_event_release(ev);
    /* Parents take the child's index. */
    ev = get_ok(s, "/a", false, false);
    check_node(&ev->node, "/a", NULL, 2, 2, true);
    assert_int_equal(ev->node.n_nodes, 1);
    check_node(&ev->node.nodes[0], "/a/b", NULL, 2, 2, true);
    assert_int_equal(ev->node.nodes[0].n_nodes, 0); /* not recursive */
    store_event_release(ev);
    /* A dir's modifiedIndex does not change with its children. */
    put(s, "/a/b/d", "w");
    ev = get_ok(s, "/a/b", false, false);
    check_node(&ev->node, "/a/b", NULL, 2, 2, true);
    assert_int_equal(ev->node.n_nodes, 2);
    store_event_release(ev);
    assert_int_equal(store_node_count(s), 5);
    store_free(s);
}

static void test_root_listing(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_event_t *ev = get_ok(s, "/", false, false);
    /* No key, no indexes, no nodes when empty. */
    assert_int_equal(ev->node.key_len, 0);
    assert_true(ev->node.dir);
    assert_int_equal(ev->node.modified_index, 0);
    assert_int_equal(ev->node.created_index, 0);
    assert_int_equal(ev->node.n_nodes, 0);
    assert_null(ev->node.value);
    store_event_release(ev);
    put(s, "/k", "v");
    put(s, "/_hidden", "h");
    ev = get_ok(s, "/", false, false);
    assert_int_equal(ev->node.n_nodes, 1);
    check_node(&ev->node.nodes[0], "/k", "v", 1, 1, false);
    assert_int_equal(ev->etcd_index, 2);
    store_event_release(ev);
    /* A hidden key can be read directly. */
    ev = get_ok(s, "/_hidden", false, false);
    check_node(&ev->node, "/_hidden", "h", 2, 2, false);
    store_event_release(ev);
    store_free(s);
}

static void test_sorted_recursive_listing(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    const char *names[] = {"alpha", "a b", "Mid", "9", "10"};
    char key[64];
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof(key), "/d/%s", names[i]);
        put(s, key, names[i]);
    }
    put(s, "/d/sub/x", "1");
    put(s, "/d/sub/_h", "2");
    put(s, "/d/_hid/y", "3");
    put(s, "/d/empty/z", "4");
    store_event_release(ok_req(s, STORE_OP_DELETE, "/d/empty/z", OPTS(0)));

    store_event_t *ev = get_ok(s, "/d", true, true);
    const char *want[] = {"/d/10", "/d/9", "/d/Mid", "/d/a b", "/d/alpha", "/d/empty", "/d/sub"};
    assert_int_equal(ev->node.n_nodes, 7);
    for (int i = 0; i < 7; i++)
        assert_string_equal(ev->node.nodes[i].key, want[i]);
    /* An empty dir has no nodes; recursive listings go down and hide `_`. */
    assert_true(ev->node.nodes[5].dir);
    assert_int_equal(ev->node.nodes[5].n_nodes, 0);
    assert_int_equal(ev->node.nodes[6].n_nodes, 1);
    check_node(&ev->node.nodes[6].nodes[0], "/d/sub/x", "1", 6, 6, false);
    store_event_release(ev);

    /* Unsorted: the same set of children. */
    ev = get_ok(s, "/d", false, false);
    assert_int_equal(ev->node.n_nodes, 7);
    for (size_t i = 0; i < ev->node.n_nodes; i++)
        if (ev->node.nodes[i].dir)
            assert_int_equal(ev->node.nodes[i].n_nodes, 0);
    store_event_release(ev);
    store_free(s);
}

static void test_create(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_event_t *ev = ok_req(s, STORE_OP_CREATE, "/lock", OPTS(.value = "me"));
    assert_int_equal(ev->action, STORE_ACTION_CREATE);
    check_node(&ev->node, "/lock", "me", 1, 1, false);
    assert_false(ev->has_prev_node);
    store_event_release(ev);
    fail_req(s, STORE_OP_CREATE, "/lock", OPTS(.value = "you"), STORE_E_NODE_EXIST, "/lock", 1);
    /* dir=true create over a file: 105 too. */
    fail_req(s, STORE_OP_CREATE, "/lock", OPTS(.dir = true), STORE_E_NODE_EXIST, "/lock", 1);
    ev = ok_req(s, STORE_OP_CREATE, "/d", OPTS(.dir = true, .value = "ignored"));
    check_node(&ev->node, "/d", NULL, 2, 2, true);
    store_event_release(ev);
    fail_req(s, STORE_OP_CREATE, "/d", OPTS(.dir = true), STORE_E_NODE_EXIST, "/d", 2);
    store_free(s);
}

static void test_create_unique(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    for (int i = 0; i < 8; i++)
        put(s, "/pad", "x");
    store_event_t *ev = ok_req(s, STORE_OP_CREATE_UNIQUE, "/q", OPTS(.value = "job"));
    assert_int_equal(ev->action, STORE_ACTION_CREATE);
    check_node(&ev->node, "/q/00000000000000000009", "job", 9, 9, false);
    store_event_release(ev);
    /* POST to the root is allowed. */
    ev = ok_req(s, STORE_OP_CREATE_UNIQUE, "/", OPTS(.value = "r"));
    check_node(&ev->node, "/00000000000000000010", "r", 10, 10, false);
    store_event_release(ev);
    /* POST to a file: 104 with the file as cause. */
    fail_req(s, STORE_OP_CREATE_UNIQUE, "/pad", OPTS(.value = "v"), STORE_E_NOT_DIR, "/pad", 10);
    ev = get_ok(s, "/q", true, true);
    assert_int_equal(ev->node.n_nodes, 1);
    store_event_release(ev);
    store_free(s);
}

static void test_update(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/k", "v1");
    store_event_t *ev = ok_req(s, STORE_OP_UPDATE, "/k", OPTS(.value = "v2"));
    assert_int_equal(ev->action, STORE_ACTION_UPDATE);
    check_node(&ev->node, "/k", "v2", 2, 1, false); /* createdIndex kept */
    check_node(&ev->prev_node, "/k", "v1", 1, 1, false);
    store_event_release(ev);
    /* Update without value wipes it. */
    ev = ok_req(s, STORE_OP_UPDATE, "/k", OPTS(.ttl = NO_TTL));
    check_node(&ev->node, "/k", "", 3, 1, false);
    store_event_release(ev);
    fail_req(s, STORE_OP_UPDATE, "/nope", OPTS(.value = "x"), STORE_E_KEY_NOT_FOUND, "/nope", 3);

    /* Update of a dir with no value changes its TTL; the index is stored too. */
    store_event_release(ok_req(s, STORE_OP_SET, "/d", OPTS(.dir = true)));
    ev = ok_req(s, STORE_OP_UPDATE, "/d", OPTS(.ttl = 100));
    check_node(&ev->node, "/d", NULL, 5, 4, true);
    assert_int_equal(ev->node.ttl, 100);
    assert_int_equal(ev->node.expiration_ns, T0 + 100 * SEC);
    check_node(&ev->prev_node, "/d", NULL, 4, 4, true);
    store_event_release(ev);
    ev = get_ok(s, "/d", false, false);
    check_node(&ev->node, "/d", NULL, 5, 4, true);
    assert_int_equal(ev->node.ttl, 100);
    store_event_release(ev);
    fail_req(s, STORE_OP_UPDATE, "/d", OPTS(.value = "x"), STORE_E_NOT_FILE, "/d", 5);
    store_free(s);
}

static void test_update_value_sizes(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/k", "abcdef");
    const char *vals[] = {
        "a much longer value than the first one", "z", "", "abcdef", "abcdefg", "", "q"};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        store_event_t *ev = ok_req(s, STORE_OP_UPDATE, "/k", OPTS(.value = vals[i]));
        check_node(&ev->node, "/k", vals[i], 2 + i, 1, false);
        store_event_release(ev);
        ev = get_ok(s, "/k", false, false);
        check_node(&ev->node, "/k", vals[i], 2 + i, 1, false);
        store_event_release(ev);
    }
    store_free(s);
}

static void test_cas(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/k", "one");
    put(s, "/other", "x");
    store_event_t *ev = ok_req(s, STORE_OP_CAS, "/k", OPTS(.prev_value = "one", .value = "two"));
    assert_int_equal(ev->action, STORE_ACTION_CAS);
    check_node(&ev->node, "/k", "two", 3, 1, false);
    check_node(&ev->prev_node, "/k", "one", 1, 1, false);
    store_event_release(ev);
    ev = ok_req(s, STORE_OP_CAS, "/k", OPTS(.prev_index = 3, .value = "three"));
    check_node(&ev->node, "/k", "three", 4, 1, false);
    store_event_release(ev);
    ev = ok_req(s, STORE_OP_CAS, "/k",
                OPTS(.prev_index = 4, .prev_value = "three", .value = "four"));
    check_node(&ev->node, "/k", "four", 5, 1, false);
    store_event_release(ev);
    fail_req(s, STORE_OP_CAS, "/k", OPTS(.prev_value = "bad", .value = "x"), STORE_E_TEST_FAILED,
             "[bad != four]", 5);
    fail_req(s, STORE_OP_CAS, "/k", OPTS(.prev_index = 2, .value = "x"), STORE_E_TEST_FAILED,
             "[2 != 5]", 5);
    fail_req(s, STORE_OP_CAS, "/k", OPTS(.prev_index = 2, .prev_value = "bad", .value = "x"),
             STORE_E_TEST_FAILED, "[bad != four] [2 != 5]", 5);
    /* Only the failing condition is reported. */
    fail_req(s, STORE_OP_CAS, "/k", OPTS(.prev_index = 5, .prev_value = "bad", .value = "x"),
             STORE_E_TEST_FAILED, "[bad != four]", 5);
    fail_req(s, STORE_OP_CAS, "/k", OPTS(.prev_index = 9, .prev_value = "four", .value = "x"),
             STORE_E_TEST_FAILED, "[9 != 5]", 5);
    store_free(s);
}

static void test_delete(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/k", "v");
    store_event_t *ev = ok_req(s, STORE_OP_DELETE, "/k", OPTS(0));
    assert_int_equal(ev->action, STORE_ACTION_DELETE);
    check_node(&ev->node, "/k", NULL, 2, 1, false);
    check_node(&ev->prev_node, "/k", "v", 1, 1, false);
    store_event_release(ev);
    get_fail(s, "/k", STORE_E_KEY_NOT_FOUND, "/k");

    put(s, "/d/a", "1");
    put(s, "/d/b/c", "2");
    fail_req(s, STORE_OP_DELETE, "/d", OPTS(0), STORE_E_NOT_FILE, "/d", 4);
    fail_req(s, STORE_OP_DELETE, "/d", OPTS(.dir = true), STORE_E_DIR_NOT_EMPTY, "/d", 4);
    ev = ok_req(s, STORE_OP_DELETE, "/d", OPTS(.recursive = true));
    check_node(&ev->node, "/d", NULL, 5, 3, true);
    check_node(&ev->prev_node, "/d", NULL, 3, 3, true);
    store_event_release(ev);
    assert_int_equal(store_node_count(s), 0);

    /* dir=true on an empty dir; a hidden child makes it non-empty. */
    store_event_release(ok_req(s, STORE_OP_SET, "/e", OPTS(.dir = true)));
    ev = ok_req(s, STORE_OP_DELETE, "/e", OPTS(.dir = true));
    check_node(&ev->node, "/e", NULL, 7, 6, true);
    store_event_release(ev);
    put(s, "/h/_x", "1");
    fail_req(s, STORE_OP_DELETE, "/h", OPTS(.dir = true), STORE_E_DIR_NOT_EMPTY, "/h", 8);
    /* dir=true on a file deletes it. */
    put(s, "/f", "1");
    ev = ok_req(s, STORE_OP_DELETE, "/f", OPTS(.dir = true));
    check_node(&ev->node, "/f", NULL, 10, 9, false);
    store_event_release(ev);
    store_free(s);
}

static void test_cad(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/k", "v");
    fail_req(s, STORE_OP_CAD, "/k", OPTS(.prev_value = "w"), STORE_E_TEST_FAILED, "[w != v]", 1);
    fail_req(s, STORE_OP_CAD, "/k", OPTS(.prev_index = 7), STORE_E_TEST_FAILED, "[7 != 1]", 1);
    store_event_t *ev = ok_req(s, STORE_OP_CAD, "/k", OPTS(.prev_value = "v", .prev_index = 1));
    assert_int_equal(ev->action, STORE_ACTION_CAD);
    check_node(&ev->node, "/k", NULL, 2, 1, false);
    check_node(&ev->prev_node, "/k", "v", 1, 1, false);
    store_event_release(ev);
    put(s, "/d/x", "1");
    fail_req(s, STORE_OP_CAD, "/d", OPTS(.prev_value = "v"), STORE_E_NOT_FILE, "/d", 3);
    store_free(s);
}

static void test_set_dir(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/f", "file");
    /* PUT dir=true over a file replaces it, with the file as prevNode. */
    store_event_t *ev = ok_req(s, STORE_OP_SET, "/f", OPTS(.dir = true, .value = "ignored"));
    check_node(&ev->node, "/f", NULL, 2, 2, true);
    assert_true(ev->has_prev_node);
    check_node(&ev->prev_node, "/f", "file", 1, 1, false);
    store_event_release(ev);
    /* A plain PUT on a dir, with or without dir=true: 102. */
    fail_req(s, STORE_OP_SET, "/f", OPTS(.value = "x"), STORE_E_NOT_FILE, "/f", 2);
    fail_req(s, STORE_OP_SET, "/f", OPTS(.dir = true), STORE_E_NOT_FILE, "/f", 2);
    fail_req(s, STORE_OP_CAS, "/f", OPTS(.prev_value = "x", .value = "y"), STORE_E_NOT_FILE, "/f",
             2);
    store_free(s);
}

static void test_refresh(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_event_release(ok_req(s, STORE_OP_SET, "/k", OPTS(.value = "keep", .ttl = 5)));
    /* Without prevExist: a set with a new createdIndex, value kept. */
    store_event_t *ev =
        ok_req(s, STORE_OP_SET, "/k", OPTS(.refresh = true, .ttl = 30, .time_ns = T0 + SEC));
    assert_int_equal(ev->action, STORE_ACTION_SET);
    assert_true(ev->refresh);
    check_node(&ev->node, "/k", "keep", 2, 2, false);
    assert_int_equal(ev->node.ttl, 30);
    assert_int_equal(ev->node.expiration_ns, T0 + 31 * SEC);
    check_node(&ev->prev_node, "/k", "keep", 1, 1, false);
    assert_int_equal(ev->prev_node.ttl, 4);
    store_event_release(ev);
    /* With prevExist=true: an update keeping createdIndex. */
    ev = ok_req(s, STORE_OP_UPDATE, "/k", OPTS(.refresh = true, .ttl = 10));
    assert_int_equal(ev->action, STORE_ACTION_UPDATE);
    assert_true(ev->refresh);
    check_node(&ev->node, "/k", "keep", 3, 2, false);
    assert_int_equal(ev->node.ttl, 10);
    store_event_release(ev);
    /* On a key without a TTL, and on a dir (update). */
    put(s, "/p", "perm");
    ev = ok_req(s, STORE_OP_UPDATE, "/p", OPTS(.refresh = true, .ttl = 10));
    check_node(&ev->node, "/p", "perm", 5, 4, false);
    store_event_release(ev);
    store_event_release(ok_req(s, STORE_OP_SET, "/d", OPTS(.dir = true)));
    ev = ok_req(s, STORE_OP_UPDATE, "/d", OPTS(.refresh = true, .ttl = 10));
    check_node(&ev->node, "/d", NULL, 7, 6, true);
    store_event_release(ev);
    /* CAS refresh keeps the value too. */
    ev = ok_req(s, STORE_OP_CAS, "/p", OPTS(.refresh = true, .ttl = 3, .prev_value = "perm"));
    check_node(&ev->node, "/p", "perm", 8, 4, false);
    assert_true(ev->refresh);
    store_event_release(ev);
    /* On a missing key: 100. */
    fail_req(s, STORE_OP_SET, "/missing", OPTS(.refresh = true, .ttl = 3), STORE_E_KEY_NOT_FOUND,
             "/missing", 8);
    store_free(s);
}

static void test_ttl_fields(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_event_t *ev = ok_req(s, STORE_OP_SET, "/t", OPTS(.value = "v", .ttl = 10));
    assert_int_equal(ev->node.expiration_ns, T0 + 10 * SEC);
    assert_int_equal(ev->node.ttl, 10);
    store_event_release(ev);
    store_error_t err = {0};
    /* ttl rounds up: 9.5 s left is 10, 9.0 s left is 9. */
    assert_int_equal(store_get(s, "/t", 2, false, false, T0 + SEC / 2, &ev, &err), 0);
    assert_int_equal(ev->node.ttl, 10);
    store_event_release(ev);
    assert_int_equal(store_get(s, "/t", 2, false, false, T0 + SEC, &ev, &err), 0);
    assert_int_equal(ev->node.ttl, 9);
    store_event_release(ev);
    /* ttl=0: expiration is now and there is no ttl. */
    ev = ok_req(s, STORE_OP_SET, "/z", OPTS(.value = "v", .ttl = 0));
    assert_int_equal(ev->node.expiration_ns, T0);
    assert_int_equal(ev->node.ttl, 0);
    store_event_release(ev);
    /* A plain set without ttl drops the TTL; update with no ttl too. */
    ev = ok_req(s, STORE_OP_SET, "/t", OPTS(.value = "w"));
    assert_int_equal(ev->node.expiration_ns, 0);
    assert_int_equal(ev->prev_node.ttl, 10);
    store_event_release(ev);
    store_event_release(ok_req(s, STORE_OP_UPDATE, "/z", OPTS(.value = "u", .ttl = 7)));
    ev = ok_req(s, STORE_OP_UPDATE, "/z", OPTS(.value = "u"));
    assert_int_equal(ev->node.expiration_ns, 0);
    assert_int_equal(ev->prev_node.ttl, 7);
    store_event_release(ev);
    assert_int_equal(store_next_expiration(s), 0);
    /* Dir TTLs show in listings. */
    store_event_release(ok_req(s, STORE_OP_SET, "/d", OPTS(.dir = true, .ttl = 20)));
    ev = get_ok(s, "/", false, true);
    assert_int_equal(ev->node.n_nodes, 3);
    assert_string_equal(ev->node.nodes[0].key, "/d");
    assert_int_equal(ev->node.nodes[0].ttl, 20);
    store_event_release(ev);
    store_free(s);
}

static void test_path_cleaning(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_event_t *ev = ok_req(s, STORE_OP_SET, "a//b/./c/", OPTS(.value = "v"));
    check_node(&ev->node, "/a/b/c", "v", 1, 1, false);
    store_event_release(ev);
    ev = get_ok(s, "/a/b/../b/c", false, false);
    check_node(&ev->node, "/a/b/c", "v", 1, 1, false);
    store_event_release(ev);
    ev = get_ok(s, "", false, false);
    assert_int_equal(ev->node.key_len, 0);
    store_event_release(ev);
    store_free(s);
}

static void test_stats(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/a", "1");
    fail_req(s, STORE_OP_CREATE, "/a", OPTS(0), STORE_E_NODE_EXIST, "/a", 1);
    store_event_release(ok_req(s, STORE_OP_CREATE_UNIQUE, "/q", OPTS(0)));
    store_event_release(ok_req(s, STORE_OP_UPDATE, "/a", OPTS(.value = "2")));
    fail_req(s, STORE_OP_CAS, "/a", OPTS(.prev_value = "x"), STORE_E_TEST_FAILED, "[x != 2]", 3);
    store_event_release(ok_req(s, STORE_OP_DELETE, "/a", OPTS(0)));
    get_fail(s, "/a", STORE_E_KEY_NOT_FOUND, "/a");
    store_event_release(get_ok(s, "/q", false, false));
    store_stats_t st;
    store_get_stats(s, &st);
    assert_int_equal(st.sets_success, 1);
    assert_int_equal(st.create_success, 1);
    assert_int_equal(st.create_fail, 1);
    assert_int_equal(st.update_success, 1);
    assert_int_equal(st.compare_and_swap_fail, 1);
    assert_int_equal(st.delete_success, 1);
    assert_int_equal(st.gets_fail, 1);
    assert_int_equal(st.gets_success, 1);
    store_free(s);
}

/* The write sequence of the etcd comparison case stats_store_counters. */
static void test_stats_like_etcd(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_stats_t st;
    store_event_release(ok_req(s, STORE_OP_SET, "/a", OPTS(.value = "1")));
    store_event_release(ok_req(s, STORE_OP_SET, "/a", OPTS(.value = "2")));
    store_event_release(ok_req(s, STORE_OP_CREATE, "/b", OPTS(.value = "1")));
    fail_req(s, STORE_OP_CREATE, "/b", OPTS(.value = "1"), STORE_E_NODE_EXIST, "/b", 3);
    store_event_release(ok_req(s, STORE_OP_UPDATE, "/a", OPTS(.value = "3")));
    fail_req(s, STORE_OP_UPDATE, "/z", OPTS(.value = "3"), STORE_E_KEY_NOT_FOUND, "/z", 4);
    store_event_release(ok_req(s, STORE_OP_CAS, "/a", OPTS(.value = "4", .prev_value = "3")));
    fail_req(s, STORE_OP_CAS, "/a", OPTS(.value = "5", .prev_value = "x"), STORE_E_TEST_FAILED,
             "[x != 4]", 5);
    store_event_release(ok_req(s, STORE_OP_CAD, "/b", OPTS(.prev_value = "1")));
    fail_req(s, STORE_OP_CAD, "/a", OPTS(.prev_value = "x"), STORE_E_TEST_FAILED, "[x != 4]", 6);
    store_event_release(ok_req(s, STORE_OP_DELETE, "/a", OPTS(0)));
    fail_req(s, STORE_OP_DELETE, "/a", OPTS(0), STORE_E_KEY_NOT_FOUND, "/a", 7);
    store_event_release(ok_req(s, STORE_OP_CREATE_UNIQUE, "/q", OPTS(.value = "1")));
    store_get_stats(s, &st);
    /* etcd 3.4.23's deltas for this sequence. */
    assert_int_equal(st.sets_success, 2);
    assert_int_equal(st.sets_fail, 0);
    assert_int_equal(st.create_success, 2);
    assert_int_equal(st.create_fail, 1);
    assert_int_equal(st.update_success, 1);
    assert_int_equal(st.update_fail, 1);
    assert_int_equal(st.compare_and_swap_success, 1);
    assert_int_equal(st.compare_and_swap_fail, 1);
    assert_int_equal(st.compare_and_delete_success, 2); /* etcd counts 101 here as a success */
    assert_int_equal(st.compare_and_delete_fail, 0);
    assert_int_equal(st.delete_success, 1);
    assert_int_equal(st.delete_fail, 1);
    /* The other quirks of etcd's counters. */
    put(s, "/f", "1");
    fail_req(s, STORE_OP_CREATE, "/f/x", OPTS(0), STORE_E_NOT_DIR, "/f", 9);
    fail_req(s, STORE_OP_UPDATE, "/", OPTS(0), STORE_E_ROOT_RONLY, "/", 9);
    fail_req(s, STORE_OP_CAS, "/", OPTS(.prev_index = 1), STORE_E_ROOT_RONLY, "/", 9);
    fail_req(s, STORE_OP_DELETE, "/", OPTS(0), STORE_E_ROOT_RONLY, "/", 9);
    fail_req(s, STORE_OP_SET, "/", OPTS(0), STORE_E_ROOT_RONLY, "/", 9);
    store_get_stats(s, &st);
    assert_int_equal(st.create_fail, 2);
    assert_int_equal(st.sets_fail, 2); /* the 104 create, and the root set */
    assert_int_equal(st.update_success, 2);
    assert_int_equal(st.compare_and_swap_success, 2);
    assert_int_equal(st.delete_success, 2);
    store_free(s);
}

static void test_many_keys(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    char key[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "/m/%d/%d", i % 7, i);
        put(s, key, "v");
    }
    assert_int_equal(store_node_count(s), 5000 + 7 + 1);
    for (int i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "/m/%d/%d", i % 7, i);
        store_event_release(ok_req(s, STORE_OP_DELETE, key, OPTS(0)));
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "/m/%d/%d", i % 7, i);
        store_event_t *ev = NULL;
        int rc = store_get(s, key, strlen(key), false, false, T0, &ev, NULL);
        assert_int_equal(rc, i % 2 ? 0 : -STORE_E_KEY_NOT_FOUND);
        store_event_release(ev);
    }
    store_event_t *ev = get_ok(s, "/m", true, true);
    size_t total = 0;
    for (size_t i = 0; i < ev->node.n_nodes; i++) {
        const store_node_t *d = &ev->node.nodes[i];
        total += d->n_nodes;
        for (size_t j = 1; j < d->n_nodes; j++)
            assert_true(strcmp(d->nodes[j - 1].key, d->nodes[j].key) < 0);
    }
    assert_int_equal(total, 2500);
    store_event_release(ev);
    store_event_release(ok_req(s, STORE_OP_DELETE, "/m", OPTS(.recursive = true)));
    assert_int_equal(store_node_count(s), 0);
    store_free(s);
}

static void test_deep_tree(void **state)
{
    (void)state;
    enum { DEPTH = 3000 };
    store_t *s = new_store(0);
    char *key = malloc(2 * DEPTH + 1);
    for (int i = 0; i < DEPTH; i++) {
        key[2 * i] = '/';
        key[2 * i + 1] = (char)('a' + i % 26);
    }
    key[2 * DEPTH] = '\0';
    put(s, key, "deep");
    assert_int_equal(store_node_count(s), DEPTH);
    store_event_t *ev = get_ok(s, "/", true, true);
    const store_node_t *n = &ev->node;
    int depth = 0;
    while (n->n_nodes) {
        assert_int_equal(n->n_nodes, 1);
        n = &n->nodes[0];
        depth++;
    }
    assert_int_equal(depth, DEPTH);
    assert_string_equal(n->value, "deep");
    assert_string_equal(n->key, key);
    store_event_release(ev);
    store_event_release(ok_req(s, STORE_OP_DELETE, "/a", OPTS(.recursive = true)));
    assert_int_equal(store_node_count(s), 0);
    free(key);
    store_free(s);
}

static void test_node_table_churn(void **state)
{
    (void)state;
    enum { N = 20000 };
    node_table_t t;
    assert_int_equal(node_table_init(&t, 42), 0);
    static tnode_t *nodes[N];
    static bool live[N];
    char path[32];
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/t/%d", i);
        nodes[i] = tnode_new(path, strlen(path), false, 1);
        node_table_insert(&t, nodes[i]);
        live[i] = true;
    }
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < N / 2; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            int i = (int)((x >> 33) % N);
            if (live[i]) {
                node_table_delete(&t, nodes[i]);
                live[i] = false;
            } else {
                node_table_insert(&t, nodes[i]);
                live[i] = true;
            }
        }
        size_t count = 0;
        for (int i = 0; i < N; i++) {
            tnode_t *f = node_table_find(&t, nodes[i]->path, nodes[i]->path_len, nodes[i]->hash);
            assert_true(f == (live[i] ? nodes[i] : NULL));
            count += live[i];
        }
        assert_int_equal(t.count, count);
    }
    for (int i = 0; i < N; i++)
        tnode_free(nodes[i]);
    node_table_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_new_and_replace),
        cmocka_unit_test(test_implicit_parents),
        cmocka_unit_test(test_root_listing),
        cmocka_unit_test(test_sorted_recursive_listing),
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_create_unique),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_update_value_sizes),
        cmocka_unit_test(test_cas),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_cad),
        cmocka_unit_test(test_set_dir),
        cmocka_unit_test(test_refresh),
        cmocka_unit_test(test_ttl_fields),
        cmocka_unit_test(test_path_cleaning),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_stats_like_etcd),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_node_table_churn),
        cmocka_unit_test(test_deep_tree),
        cmocka_unit_test(test_plain_marks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
