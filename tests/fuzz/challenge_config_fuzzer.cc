// Fuzz target: arbitrary text as a challenge configuration, both as a
// ChallengeSet file (ParseChallengeSet, what --config and `admin create`
// read) and as one stored ChallengeConfig (ParseChallengeConfig, what the
// server reads back from its database).
// Invariants: refusals are INVALID_ARGUMENT; a set that parses is non-empty
// with distinct valid ids; every config that parses is resolved (resolving
// it again changes nothing), round-trips through ChallengeConfigToText to an
// equal config, and can be served: its ChallengeConfig and ChallengeInfo
// messages serialize and parse back.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "attnoracle/v1/admin.pb.h"
#include "attnoracle/v1/types.pb.h"
#include "common/challenge_config.h"
#include "common/codec.h"
#include "tests/fuzz/fuzz_check.h"

namespace attnoracle::fuzz {
namespace {

bool SameConfig(const ChallengeConfig& a, const ChallengeConfig& b) {
  return a.id == b.id && a.title == b.title && a.description == b.description &&
         a.spec == b.spec && a.prior.scale == b.prior.scale &&
         a.prior.seed == b.prior.seed && a.policy == b.policy &&
         a.scoring.max_submissions == b.scoring.max_submissions &&
         a.scoring.feedback == b.scoring.feedback &&
         a.scoring.pass_threshold == b.scoring.pass_threshold &&
         a.per_learner_secrets == b.per_learner_secrets;
}

// A message as it crosses the wire: serialized by one side, parsed by the
// other.
template <typename Message>
bool CrossesTheWire(const Message& m) {
  std::string bytes;
  Message back;
  return m.SerializeToString(&bytes) && back.ParseFromString(bytes);
}

void CheckConfig(const ChallengeConfig& c) {
  FUZZ_CHECK(ValidName(c.id));
  absl::StatusOr<ChallengeConfig> again = ResolveChallenge(c);
  FUZZ_CHECK(again.ok() && SameConfig(*again, c));

  const std::string text = ChallengeConfigToText(c);
  absl::StatusOr<ChallengeConfig> parsed = ParseChallengeConfig(text);
  FUZZ_CHECK(parsed.ok() && SameConfig(*parsed, c));

  pb::ChallengeConfig config_proto;
  ConfigToProto(c, &config_proto);
  FUZZ_CHECK(CrossesTheWire(config_proto));
  const ChallengeInfo info{c.id,   c.title,   c.description,
                           c.spec, c.policy,  Phase::kOpen,
                           "",     c.scoring, c.per_learner_secrets};
  pb::ChallengeInfo info_proto;
  InfoToProto(info, &info_proto);
  FUZZ_CHECK(CrossesTheWire(info_proto));
}

}  // namespace
}  // namespace attnoracle::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attnoracle;
  const absl::string_view text(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<std::vector<ChallengeConfig>> set =
      ParseChallengeSet(text, "fuzz.textproto");
  if (set.ok()) {
    FUZZ_CHECK(!set->empty());
    std::set<std::string> ids;
    for (const ChallengeConfig& c : *set) {
      FUZZ_CHECK(ids.insert(c.id).second);
      fuzz::CheckConfig(c);
    }
  } else {
    FUZZ_CHECK(set.status().code() == absl::StatusCode::kInvalidArgument);
  }

  absl::StatusOr<ChallengeConfig> one = ParseChallengeConfig(text);
  if (one.ok()) {
    fuzz::CheckConfig(*one);
  } else {
    FUZZ_CHECK(one.status().code() == absl::StatusCode::kInvalidArgument);
  }
  return 0;
}
