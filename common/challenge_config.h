// ChallengeConfig: one challenge as an organiser writes it (public spec,
// access policy, and the prior its secret is drawn from), and ChallengeInfo,
// what anyone may see of it. Configuration files are protobuf text format of
// attnoracle.v1.ChallengeSet; see configs/default.textproto.
//
//   absl::StatusOr<std::vector<ChallengeConfig>> set =
//       LoadChallengeSet("configs/default.textproto");
#ifndef ATTNORACLE_COMMON_CHALLENGE_CONFIG_H_
#define ATTNORACLE_COMMON_CHALLENGE_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/access_policy.h"
#include "common/layer_spec.h"

namespace attnoracle {

struct Prior {
  double scale = 0;  // standard deviation of every entry; 0: 1/sqrt(d_model)
  uint64_t seed = 0;
};

enum class Phase { kOpen, kClosed, kRevealed };

struct ChallengeConfig {
  std::string id;
  std::string title;
  std::string description;
  LayerSpec spec;
  Prior prior;
  AccessPolicy policy;
};

// Everything public about a challenge. Never holds the prior's seed.
struct ChallengeInfo {
  std::string id;
  std::string title;
  std::string description;
  LayerSpec spec;
  AccessPolicy policy;
  Phase phase = Phase::kOpen;
  std::string commitment;  // raw bytes; empty until published
};

// Resolves spec, policy and prior defaults and checks the id (1 to 64 of
// [a-z0-9._-]). INVALID_ARGUMENT naming challenge and field otherwise.
[[nodiscard]] absl::StatusOr<ChallengeConfig> ResolveChallenge(
    const ChallengeConfig& raw);

// Parses a ChallengeSet in protobuf text format and resolves every
// challenge. INVALID_ARGUMENT with line and column for a syntax error,
// naming the challenge for a bad value or a duplicate id, and for a set
// with no challenge.
[[nodiscard]] absl::StatusOr<std::vector<ChallengeConfig>> ParseChallengeSet(
    absl::string_view text, absl::string_view source_name);

// Reads and parses a file. NOT_FOUND when it cannot be read.
[[nodiscard]] absl::StatusOr<std::vector<ChallengeConfig>> LoadChallengeSet(
    const std::string& path);

// The challenges built into every binary (configs/default.textproto).
absl::string_view DefaultChallengeSetText();

const char* PhaseName(Phase phase);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_CHALLENGE_CONFIG_H_
