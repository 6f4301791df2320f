// PublicView: what anyone may see of the hosted challenges, as JSON: each
// challenge's public description, phase, budget and commitment, and its
// leaderboard exactly as GetLeaderboard shows it to a learner (a pass/fail
// challenge shows pass/fail, never errors); after the reveal, whether the
// revealed secret opens the commitment, and the revealed secret itself.
// The web page and /api both read it, so they cannot disagree.
//
//   PublicView view(&core);
//   nlohmann::ordered_json all = view.Challenges();
//   absl::StatusOr<nlohmann::ordered_json> one = view.Challenge("tiny-d4");
//
// Codes: INVALID_ARGUMENT for an id that is not 1 to 64 of [a-z0-9._-]
// (the message names the field), NOT_FOUND for an unknown challenge,
// FAILED_PRECONDITION for a reveal before the challenge is revealed. No
// secret value appears before the reveal.
//
// Thread-safe; the core must outlive it.
#ifndef ATTNORACLE_SERVER_HTTP_PUBLIC_VIEW_H_
#define ATTNORACLE_SERVER_HTTP_PUBLIC_VIEW_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/core/oracle_core.h"

namespace attnoracle {

class PublicView {
 public:
  explicit PublicView(const OracleCore* core) : core_(core) {}

  // {"challenges": [Challenge(id) for every hosted challenge, by id]}.
  nlohmann::ordered_json Challenges() const;
  // The challenge's public description with "leaderboard" (rows ranked as
  // GetLeaderboard ranks them for a learner) and, once revealed, "reveal":
  // {"commitment_opens": bool, "export": "/api/challenges/ID/reveal"}.
  [[nodiscard]] absl::StatusOr<nlohmann::ordered_json> Challenge(
      const std::string& id) const;
  // {"challenge": id, "feedback": ..., "leaderboard": [...]}.
  [[nodiscard]] absl::StatusOr<nlohmann::ordered_json> Leaderboard(
      const std::string& id) const;
  // After the reveal: the shared secret as a hypothesis file ("heads",
  // "bo"), the nonce, the commitment and whether the secret opens it.
  [[nodiscard]] absl::StatusOr<nlohmann::ordered_json> Reveal(
      const std::string& id) const;

 private:
  // The leaderboard rows of `id` as JSON, or the core's error.
  absl::StatusOr<nlohmann::ordered_json> Rows(const ChallengeInfo& info) const;
  // The public description of `info`, leaderboard and reveal check added.
  absl::StatusOr<nlohmann::ordered_json> Describe(
      const ChallengeInfo& info) const;

  const OracleCore* core_;
};

// INVALID_ARGUMENT naming "challenge id" unless `id` is 1 to 64 of
// [a-z0-9._-].
[[nodiscard]] absl::Status CheckChallengeId(const std::string& id);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_HTTP_PUBLIC_VIEW_H_
