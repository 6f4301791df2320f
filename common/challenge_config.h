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
#include "common/score.h"

namespace attnoracle {

struct Prior {
  double scale = 0;  // standard deviation of every entry; 0: 1/sqrt(d_model)
  uint64_t seed = 0;
};

enum class Phase { kOpen, kClosed, kRevealed };

inline constexpr double kDefaultPassThreshold = 1e-6;

// Submission limits and how scores are shown to learners.
struct Scoring {
  int max_submissions = 0;  // per learner and challenge; 0: unlimited
  Feedback feedback = Feedback::kFull;
  double pass_threshold = 0;  // functional_rel_err; 0: kDefaultPassThreshold
};

struct ChallengeConfig {
  std::string id;
  std::string title;
  std::string description;
  LayerSpec spec;
  Prior prior;
  AccessPolicy policy;
  Scoring scoring;
  // One secret per learner from the same prior and seed.
  bool per_learner_secrets = false;
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
  Scoring scoring;
  bool per_learner_secrets = false;
};

// Resolves spec, policy, prior and scoring defaults and checks the id (1 to
// 64 of [a-z0-9._-]) and that title and description are UTF-8.
// INVALID_ARGUMENT naming challenge and field otherwise.
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

// One ChallengeConfig in protobuf text format, and back (resolved). Used to
// store a challenge exactly as it was created.
std::string ChallengeConfigToText(const ChallengeConfig& config);
[[nodiscard]] absl::StatusOr<ChallengeConfig> ParseChallengeConfig(
    absl::string_view text);

// The challenges built into every binary (configs/default.textproto).
absl::string_view DefaultChallengeSetText();

const char* PhaseName(Phase phase);

// What Query, QueryStream and Sample are called in a phase refusal: the
// server core and a shared store's database refuse them alike.
inline constexpr char kAnswering[] = "answering";

// FAILED_PRECONDITION: `what` needs challenge `challenge_id` in phase
// `needed`, and it is in `current`. The one wording of a phase refusal,
// wherever the phase is checked (OracleCore, PostgresStore).
[[nodiscard]] absl::Status WrongPhaseError(absl::string_view challenge_id,
                                           Phase current, Phase needed,
                                           absl::string_view what);
const char* FeedbackName(Feedback feedback);

// 1 to 64 characters of [a-z0-9._-]: challenge ids and learner names.
bool ValidName(absl::string_view name);

}  // namespace attnoracle

#endif  // ATTNORACLE_COMMON_CHALLENGE_CONFIG_H_
