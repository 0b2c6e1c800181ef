/* raft-sim: runs the deterministic cluster simulator over many seeds.
 *   raft-sim --seeds N          seeds 1..N; exit 0 only if all pass
 *   raft-sim --seed S [--trace] replay one seed, with a readable trace */
#include "tests/raft/sim/sim.h"

#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* The core aborts when it meets an impossible state (a follower told to
 * commit past its log, a committed entry about to be overwritten): that
 * is a failed seed too, reported like the others. */
static sigjmp_buf abort_jump;

static void on_abort(int sig)
{
    (void)sig;
    siglongjmp(abort_jump, 1);
}

static int usage(void)
{
    fputs("usage: raft-sim --seeds N | --seed S [--trace]\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    static uint64_t first = 1, last = 0; /* static: survive the longjmp */
    static bool trace = false, have = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
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
    volatile uint64_t failed = 0, runs = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_abort;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGABRT, &sa, NULL);
    for (volatile uint64_t seed = first; seed <= last; seed++) {
        char why[512];
        runs++;
        if (sigsetjmp(abort_jump, 1)) {
            /* The seed's memory is abandoned: the process goes on. */
            failed++;
            fflush(stdout);
            printf("FAIL seed %llu: the raft core aborted on an inconsistent state\n"
                   "  replay: raft-sim --seed %llu --trace\n",
                   (unsigned long long)seed, (unsigned long long)seed);
            fflush(stdout);
            continue;
        }
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
