/* raft-sim: runs the deterministic cluster simulator over many seeds.
 *   raft-sim --seeds N          seeds 1..N; exit 0 only if all pass
 *   raft-sim --seed S [--trace] replay one seed, with a readable trace */
#include "tests/raft/sim/sim.h"

#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fputs("usage: raft-sim --seeds N | --seed S [--trace]\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    uint64_t first = 1, last = 0;
    bool trace = false, have = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            first = 1;
            last = strtoull(argv[++i], NULL, 10);
            have = true;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            first = last = strtoull(argv[++i], NULL, 10);
            have = true;
        } else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
            first = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--trace") == 0) {
            trace = true;
        } else {
            return usage();
        }
    }
    if (!have || last < first)
        return usage();
    struct sim_stats st = {0};
    uint64_t failed = 0, runs = 0;
    for (uint64_t seed = first; seed <= last; seed++) {
        char why[512];
        runs++;
        if (sim_run(seed, trace, &st, why, sizeof(why)) != 0) {
            failed++;
            printf("FAIL seed %llu: %s\n  replay: raft-sim --seed %llu --trace\n",
                   (unsigned long long)seed, why, (unsigned long long)seed);
            fflush(stdout);
        }
    }
    printf("raft-sim: seeds %llu..%llu: %llu passed, %llu failed; steps %llu, elections %llu, "
           "commits %llu, faults injected %llu (reads %llu, snapshots %llu, conf changes %llu, "
           "transfers %llu)\n",
           (unsigned long long)first, (unsigned long long)last, (unsigned long long)(runs - failed),
           (unsigned long long)failed, (unsigned long long)st.steps,
           (unsigned long long)st.elections, (unsigned long long)st.commits,
           (unsigned long long)st.faults, (unsigned long long)st.reads,
           (unsigned long long)st.snapshots, (unsigned long long)st.conf_changes,
           (unsigned long long)st.transfers);
    return failed ? 1 : 0;
}
