/*
 * The seam for test hooks. The metcd program links hooks_none.c, which does
 * nothing: the production binary reads no test variable. The test-only
 * program metcd-hooks (tests/server/) links an implementation that reads
 * METCD_TEST_* variables to shrink WAL segments and inject disk faults.
 */
#ifndef METCD_SERVER_HOOKS_H
#define METCD_SERVER_HOOKS_H

#include "src/server/node.h"

/* Called once by node_open() before the WAL is opened; may change cfg. */
void server_test_hooks(node_config_t *cfg);

#endif /* METCD_SERVER_HOOKS_H */
