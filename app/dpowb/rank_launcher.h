// `dpowb train --nproc N`: N local ranks of one data-parallel job, each a child process that
// runs this same command (without --nproc) with the variables torchrun would give it.
#pragma once

namespace dpowb::cli {

// Starts the ranks and waits for them. Ctrl-C (or SIGINT to this process) is passed on to
// every rank once, which stops the job after the current step; when a rank fails, the others
// get `graceSeconds` to notice (their collectives fail) and record the run, then are ended.
// Returns the job's exit code: 0, 130 when cancelled, else the failed ranks' code (1).
int launchLocalRanks(int nproc, int graceSeconds = 60);

}  // namespace dpowb::cli
