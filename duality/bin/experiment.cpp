// experiment.cpp — the main of every per-experiment duality binary (exp1_scalar_equivalence, ...,
// exp6_chunked_ssd): CMake compiles it once per program name, passed as SSMLAB_DUALITY_PROGRAM.
// The flags, help text and run come from that program's row in duality/table.h.
#include "duality/table.h"
#include "ssmlab/main_guard.h"

#ifndef SSMLAB_DUALITY_PROGRAM
#error "compile with -DSSMLAB_DUALITY_PROGRAM=\"<program name>\" (duality/CMakeLists.txt)"
#endif

static int ssmlab_main(int argc, char** argv) {
  return ssmlab::duality::experiment_main(SSMLAB_DUALITY_PROGRAM, argc, argv);
}

// Exit 2 for a usage error, 1 for a failure while working, never a signal (ssmlab/main_guard.h).
int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
