#include "server/core/clock.h"

#include <chrono>

namespace attnoracle {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace attnoracle
