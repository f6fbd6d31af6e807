// `dpowb train --nproc N`: N local ranks of one data-parallel job, each a child process that
// runs this same command (without --nproc) with the variables torchrun would give it.
#pragma once

#include <atomic>

namespace dpowb::cli {

// Pause for `dpowb train`: SIGUSR1 asks the run to hold after its current step, SIGUSR2 to go
// on (the launcher passes both to rank 0; the ranks of a job agree on the step to hold after).
// Installs the two handlers; pauseWanted() is the last request, pauseSignals() counts them.
void installPauseSignals();
std::atomic<bool>& pauseWanted();
std::atomic<unsigned>& pauseSignals();

// Starts the ranks and waits for them. Ctrl-C (or SIGINT to this process) is passed on to
// every rank once, which stops the job after the current step; when a rank fails, the others
// get `graceSeconds` to notice (their collectives fail) and record the run, then are ended.
// SIGUSR1/SIGUSR2 are passed on to rank 0 as they come.
// Returns the job's exit code: 0, 130 when cancelled, else the failed ranks' code (1).
int launchLocalRanks(int nproc, int graceSeconds = 60);

}  // namespace dpowb::cli
