// FUZZ_CHECK: an invariant of a fuzz target. A violation prints the
// condition and aborts, which libFuzzer (and the corpus replay) reports as a
// crash with the input that caused it.
//
//   FUZZ_CHECK(decoded.ok());
#ifndef ATTNORACLE_TESTS_FUZZ_FUZZ_CHECK_H_
#define ATTNORACLE_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                           \
  do {                                                                  \
    if (!(condition)) {                                                 \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, \
                   __LINE__, #condition);                               \
      std::abort();                                                     \
    }                                                                   \
  } while (false)

#endif  // ATTNORACLE_TESTS_FUZZ_FUZZ_CHECK_H_
