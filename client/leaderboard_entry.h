// LeaderboardEntry: one learner's best submission on a challenge's
// leaderboard, as OracleClient::GetLeaderboard returns it.
//
//   for (const LeaderboardEntry& e : *client->GetLeaderboard("tiny-d4"))
//     std::cout << e.rank << " " << e.learner << "\n";
#ifndef ATTNORACLE_CLIENT_LEADERBOARD_ENTRY_H_
#define ATTNORACLE_CLIENT_LEADERBOARD_ENTRY_H_

#include <cstdint>
#include <string>

#include "common/score.h"

namespace attnoracle {

struct LeaderboardEntry {
  int rank = 0;  // from 1
  std::string learner;
  Score score;  // as the caller may see it (Score::feedback says how much)
  uint64_t submission_id = 0;
  int64_t submitted_unix_ms = 0;
  int submissions = 0;  // by this learner on this challenge
};

}  // namespace attnoracle

#endif  // ATTNORACLE_CLIENT_LEADERBOARD_ENTRY_H_
