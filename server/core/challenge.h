// Challenge: one hosted challenge: its resolved configuration, its phase,
// its commitment nonce, and the secret(s) queries are answered with.
//
//   auto c = std::make_shared<Challenge>(config, nonce, created_ms,
//   Phase::kOpen); std::shared_ptr<const Secret> s = c->SecretFor("alice");
//
// Thread-safe. The configuration is immutable. The phase changes only
// under a writer lock of phase_mutex(); work that must happen entirely in
// one phase (answering a query, taking a submission) holds a reader lock
// from its phase check to its commit, so "closed" means no answer is
// given after it. An answer whose durable commit completes later (the
// asynchronous query path) is counted from its phase check to that commit
// (BeginAnswer/EndAnswer), and a phase change waits for the count to drop
// to zero (WaitForAnswers). With
// per-learner secrets each learner's secret is drawn on first use and
// cached (deterministically: the same name always gets the same secret).
#ifndef ATTNORACLE_SERVER_CORE_CHALLENGE_H_
#define ATTNORACLE_SERVER_CORE_CHALLENGE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/challenge_config.h"
#include "common/layer_params.h"
#include "server/core/scorer.h"

namespace attnoracle {

// One secret layer with everything derived from it. The noise of answers
// is not here: it is keyed by the learner (Challenge::NoiseSeedFor), also
// when learners share one secret.
struct Secret {
  uint64_t stream_index = 0;  // 0: the challenge's shared secret
  LayerParams params;
  std::string commitment;  // SHA-256(EncodeParams(params) || nonce)
  Scorer scorer;
};

class Challenge {
 public:
  // `config` must be resolved; `nonce` is the commitment nonce (raw bytes).
  Challenge(ChallengeConfig config, std::string nonce, int64_t created_ms,
            Phase phase);

  const ChallengeConfig& config() const { return config_; }
  const std::string& id() const { return config_.id; }
  const std::string& nonce() const { return nonce_; }
  int64_t created_ms() const { return created_ms_; }
  Phase phase() const { return phase_.load(); }
  // Callers hold phase_mutex() as writers.
  void set_phase(Phase phase) ABSL_EXCLUSIVE_LOCKS_REQUIRED(phase_mu_) {
    phase_.store(phase);
  }
  absl::Mutex& phase_mutex() const ABSL_LOCK_RETURNED(phase_mu_) {
    return phase_mu_;
  }
  // An answer under way: begun with phase_mutex() held as a reader, after
  // the phase check; ended once its commit is durable or failed.
  void BeginAnswer() const ABSL_SHARED_LOCKS_REQUIRED(phase_mu_);
  void EndAnswer() const;
  // Blocks until every begun answer has ended. Called with phase_mutex()
  // held as a writer, so no answer begins meanwhile.
  void WaitForAnswers() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(phase_mu_);

  // The secret `learner`'s queries are answered with: the shared one, or
  // with per-learner secrets the learner's own. An empty learner (the
  // organiser) gets the shared one.
  std::shared_ptr<const Secret> SecretFor(const std::string& learner) const;

  // The seed of the noise added to `learner`'s answers:
  // DeriveSeed(prior.seed, kNoise, LearnerStreamIndex(learner)), and index
  // 0 for the empty name (the organiser). One rule with or without
  // per-learner secrets, so two accounts never get the same noise for the
  // same query index (docs/VERIFICATION.md).
  uint64_t NoiseSeedFor(const std::string& learner) const;

  // The public description as `learner` sees it (the commitment to the
  // secret it is answered with).
  ChallengeInfo InfoFor(const std::string& learner) const;

 private:
  std::shared_ptr<const Secret> MakeSecret(uint64_t stream_index) const;

  const ChallengeConfig config_;
  const std::string nonce_;
  const int64_t created_ms_;
  std::atomic<Phase> phase_;
  mutable absl::Mutex phase_mu_;
  mutable absl::Mutex answers_mu_;
  mutable int64_t answers_in_flight_ ABSL_GUARDED_BY(answers_mu_) = 0;
  std::shared_ptr<const Secret> shared_;
  mutable absl::Mutex mu_;
  mutable std::map<std::string, std::shared_ptr<const Secret>> per_learner_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_CHALLENGE_H_
