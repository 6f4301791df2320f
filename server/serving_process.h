// The process-wide settings of a program that serves or measures serving
// (oracle-server, oracle-bench, oracle-microbench): lock bookkeeping, and
// which allocator serves malloc.
//
//   int main(int argc, char** argv) {
//     TuneProcessForServing();          // before any thread starts
//     std::cout << "malloc " << MallocLibrary() << "\n";
//   }
//
// Thread-safe, except TuneProcessForServing (call it before threads start).
#ifndef ATTNORACLE_SERVER_SERVING_PROCESS_H_
#define ATTNORACLE_SERVER_SERVING_PROCESS_H_

#include <string>

namespace attnoracle {

// For the main() of a process that serves or measures serving
// (oracle-server, oracle-bench, oracle-microbench),
// before it starts threads: turns off Abseil's mutex deadlock detection.
// Debian's Abseil is built with it on, so every lock (gRPC's included)
// updates a global lock graph (2% of a profile of the small workload, plus
// the contention on that graph's lock). Tests leave it on, so they still
// catch lock-order inversions.
void TuneProcessForServing();

// The shared object that serves this process's malloc, by file name, with
// jemalloc's release when jemalloc serves it: "libjemalloc.so.2 5.3.0" in
// oracle-server and the benchmarks as built by default
// (ATTNORACLE_JEMALLOC), "libc.so.6" without it, and under a sanitizer its
// runtime's library, or the program's own file when the runtime is linked
// in statically. Runs and their numbers depend on it, so the bench and the
// server's startup line name it.
std::string MallocLibrary();

// Gives the heap's free pages back to the system, under glibc's malloc or
// jemalloc; for a measurement that must start from fresh pages.
void ReleaseFreeHeapMemory();

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_SERVING_PROCESS_H_
