/* The production build: no test hooks (see src/server/hooks.h). */
#include "src/server/hooks.h"

void server_test_hooks(node_config_t *cfg)
{
    (void)cfg;
}
