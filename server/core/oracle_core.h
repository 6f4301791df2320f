// OracleCore: everything the Oracle and Admin services do, without gRPC:
// access rules, phases, limits and budgets, answers with durable charging
// and transcripts, scoring, leaderboards and reveals.
//
//   OracleCore core(&registry, &ledger, &auth, &store);
//   absl::StatusOr<QueryResult> r = core.Query(principal, "tiny-d4", inputs,
//       [&](size_t i, int rows, int cols) { return MutableMatrixProto(...); });
//
// Codes: NOT_FOUND unknown challenge or learner; FAILED_PRECONDITION wrong
// phase; PERMISSION_DENIED a learner calling an admin operation, the admin
// calling a learner-only one, or a learner asking for another's data;
// INVALID_ARGUMENT bad input (the message names the field);
// RESOURCE_EXHAUSTED budget or submission limit spent, request rate or
// stream cap exceeded (RetryAfter tells when to retry a rate-limited
// request); UNAVAILABLE the store failed. Messages never contain secret values.
//
// Thread-safe; every collaborator must outlive it.
#ifndef ATTNORACLE_SERVER_CORE_ORACLE_CORE_H_
#define ATTNORACLE_SERVER_CORE_ORACLE_CORE_H_

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/challenge_config.h"
#include "common/layer_params.h"
#include "common/score.h"
#include "common/task_pool.h"
#include "common/tensor.h"
#include "server/core/authenticator.h"
#include "server/core/challenge_registry.h"
#include "server/core/ledger.h"
#include "server/core/rate_limiter.h"
#include "server/core/server_metrics.h"
#include "server/core/store.h"
#include "server/core/submission_book.h"
#include "server/core/work_pool.h"

namespace attnoracle {

struct QueryResult {
  Usage usage;  // after this request
  uint64_t first_query_index = 0;
  std::string transcript_head;  // chain hash of this request's entry
  // The form the answers were written in; under kTopK each answer is
  // rows x 2 * top_k (index, value) pairs (common/answer.h).
  Answers answers = Answers::kValues;
};

// Sample's answer: the examples drawn and their answers (as QueryResult's).
struct SampleResult {
  std::vector<Matrix> inputs;
  std::vector<Matrix> outputs;
  Usage usage;
  uint64_t first_query_index = 0;  // the sequence index of inputs[0]
  std::string transcript_head;
  Answers answers = Answers::kValues;
};

struct LeaderboardRow {
  uint32_t rank = 0;
  std::string learner;
  Score score;  // as the viewer may see it
  uint64_t submission_id = 0;
  int64_t submitted_ms = 0;
  uint32_t submissions = 0;
};

struct TranscriptPage {
  std::vector<TranscriptEntry> entries;
  uint64_t total_entries = 0;
};

struct Reveal {
  ChallengeConfig config;
  LayerParams secret;
  std::string nonce;
  std::string commitment;
  uint64_t noise_seed = 0;
};

// Storage for the answer to sequence `index`, rows x cols; the returned map
// must stay valid until Query returns (QueryAsync: until its callback ran).
using OutputAllocator =
    std::function<MatrixMap(size_t index, int rows, int cols)>;

// Receives QueryAsync's result.
using QueryCallback = std::function<void(absl::StatusOr<QueryResult> result)>;
// Receives SampleAsync's result.
using SampleCallback = std::function<void(absl::StatusOr<SampleResult> result)>;
// Receives SubmitAsync's result.
using SubmitCallback = std::function<void(absl::StatusOr<SubmitResult> result)>;

// How submissions are scored: on a pool of `threads` threads beside the
// ones answering queries, with at most `max_queued` waiting (one more is
// RESOURCE_EXHAUSTED with a retry hint), so scoring takes at most
// `threads` cores whatever learners submit.
struct ScoringOptions {
  int threads = 1;
  int max_queued = 4;
};

// Threads one large forward pass may use, its own included: the core lends
// it forward_threads - 1 helper threads whenever they are idle (TaskPool),
// so a lone query uses several cores and, under load, each query runs on
// its own thread. 1: every forward pass on its query's thread alone.
struct ForwardOptions {
  int threads = 1;
};

// Most transcript entries one GetTranscript page returns.
inline constexpr uint32_t kTranscriptPageEntries = 1000;
// Most bytes of entries (requests, responses, digests, names, plus a
// per-entry allowance for the encoding) one GetTranscript page holds: half
// of a stock gRPC client's 4 MiB receive limit, so a page always fits.
inline constexpr size_t kMaxTranscriptPageBytes = size_t{2} << 20;

class OracleCore {
 public:
  OracleCore(ChallengeRegistry* registry, Ledger* ledger,
             Authenticator* authenticator, Store* store,
             const RateLimiterOptions& rate_limits = {},
             const ScoringOptions& scoring = {},
             const ForwardOptions& forward = {});

  // On a store shared with other servers: applies what they changed
  // (challenges and phases, learners, submissions). The server calls it
  // when the store's generation moves.
  [[nodiscard]] absl::Status RefreshShared();

  // Counts answers, refusals and submissions into `metrics` (which must
  // outlive the core) from now on; nullptr stops counting. Call before
  // serving.
  void set_metrics(ServerMetrics* metrics) { metrics_ = metrics; }

  // Public state: any authenticated caller.
  std::vector<ChallengeInfo> ListChallenges(const Principal& caller) const;
  [[nodiscard]] absl::StatusOr<ChallengeInfo> DescribeChallenge(
      const Principal& caller, const std::string& id) const;
  [[nodiscard]] absl::StatusOr<std::vector<LeaderboardRow>> GetLeaderboard(
      const Principal& caller, const std::string& id) const;

  // A slot the caller holds while one of its QueryStreams is open;
  // RESOURCE_EXHAUSTED when it has as many open as it may.
  [[nodiscard]] absl::StatusOr<StreamSlot> OpenStream(const Principal& caller);

  // Learners only. Answers every sequence or none; on OK the charge and
  // the transcript entry were durable before any answer was returned.
  [[nodiscard]] absl::StatusOr<QueryResult> Query(
      const Principal& caller, const std::string& challenge_id,
      std::span<const ConstMatrixMap> sequences,
      const OutputAllocator& allocate_output);
  // Query without blocking on the durable commit: checks, charges and
  // computes the answers on the calling thread, then returns; `done` gets
  // the result once the charge and the transcript entry are durable, on the
  // thread the ledger calls back on (its committer thread for a durable
  // store; for one in memory this thread or another querying thread that
  // was writing), or the error (on the calling thread when the request is
  // refused before the commit). Only then may the answers be sent.
  // `sequences` need only live until QueryAsync returns. `done` must not
  // block, and runs with no lock of the core held.
  void QueryAsync(const Principal& caller, const std::string& challenge_id,
                  std::span<const ConstMatrixMap> sequences,
                  const OutputAllocator& allocate_output, QueryCallback done);
  // Learners only, on challenges whose policy.access allows examples
  // (FAILED_PRECONDITION otherwise; Query is refused likewise on
  // examples-only challenges). Draws the caller's next `count` examples
  // (common/examples.h) at the sequence indices the ledger charges them
  // at, answers them as Query would, and charges `count` sequences of
  // policy.examples.tokens tokens each. INVALID_ARGUMENT for count 0 or
  // over a per-request limit, and for `tokens` other than 0 or the
  // policy's. Durable like QueryAsync before `done` gets the result.
  void SampleAsync(const Principal& caller, const std::string& challenge_id,
                   uint32_t count, uint32_t tokens, SampleCallback done);
  // SampleAsync, waiting for the result.
  [[nodiscard]] absl::StatusOr<SampleResult> Sample(
      const Principal& caller, const std::string& challenge_id, uint32_t count,
      uint32_t tokens);
  [[nodiscard]] absl::StatusOr<Usage> GetUsage(
      const Principal& caller, const std::string& challenge_id) const;
  // Scores and stores a submission; the score comes back as the challenge's
  // feedback setting allows. Checks the caller, the phase, the
  // submission rate (RESOURCE_EXHAUSTED with a retry hint), the hypothesis
  // (INVALID_ARGUMENT naming the field; see CheckHypothesisWidths) and the
  // submission limit on the calling thread, then queues the scoring on the
  // scoring pool (RESOURCE_EXHAUSTED with a retry hint when its queue is
  // full). A non-OK return is that refusal and `done` is never called; on
  // OK, `done` gets the result on a pool thread. `done` must not block.
  [[nodiscard]] absl::Status SubmitAsync(const Principal& caller,
                                         const std::string& challenge_id,
                                         LayerParams hypothesis,
                                         SubmitCallback done);
  // SubmitAsync, waiting for its result.
  [[nodiscard]] absl::StatusOr<SubmitResult> Submit(
      const Principal& caller, const std::string& challenge_id,
      const LayerParams& hypothesis);
  // The caller's transcript entries from index `first_index` on, at most
  // `max_entries` (0: kTranscriptPageEntries), with the total. A
  // `first_index` at or past the total, however large, gives an empty page.
  // A page also stops before kMaxTranscriptPageBytes, but always holds at
  // least one entry when one is left, so asking again from the index after
  // its last entry pages through any transcript.
  [[nodiscard]] absl::StatusOr<TranscriptPage> GetTranscript(
      const Principal& caller, const std::string& challenge_id,
      uint64_t first_index, uint32_t max_entries) const;

  // After the challenge is revealed: the caller's secret; the admin may name
  // a learner (per-learner secrets) or get the shared secret.
  [[nodiscard]] absl::StatusOr<Reveal> GetReveal(
      const Principal& caller, const std::string& challenge_id,
      const std::string& learner) const;

  // Admin only.
  [[nodiscard]] absl::StatusOr<ChallengeInfo> CreateChallenge(
      const Principal& caller, const ChallengeConfig& config);
  [[nodiscard]] absl::StatusOr<ChallengeInfo> SetPhase(
      const Principal& caller, const std::string& challenge_id, Phase phase);
  // Returns the new learner's token (only its hash is kept).
  [[nodiscard]] absl::StatusOr<std::string> RegisterLearner(
      const Principal& caller, const std::string& name);
  [[nodiscard]] absl::Status RevokeLearner(const Principal& caller,
                                           const std::string& name);
  [[nodiscard]] absl::StatusOr<Usage> GrantBudget(
      const Principal& caller, const std::string& challenge_id,
      const std::string& learner, uint64_t queries, uint64_t tokens);
  // Calls `sink` with every transcript entry of the challenge, learner by
  // learner in index order, until it returns false.
  [[nodiscard]] absl::Status ExportTranscripts(
      const Principal& caller, const std::string& challenge_id,
      const std::function<bool(const TranscriptEntry&)>& sink) const;

 private:
  // A query answered and charged in memory, its commit not yet queued.
  struct Answered {
    std::shared_ptr<const Challenge> challenge;  // counting it in flight
    LedgerKey key;
    Reservation reservation;
    std::string request;  // transcript bytes
    std::string response;
    // Sample only: the examples drawn and their answers.
    std::vector<Matrix> inputs;
    std::vector<Matrix> outputs;
    uint64_t tokens = 0;  // charged, for the metrics
  };
  // SubmitAsync without the metrics: validates, takes a place and queues
  // the scoring.
  [[nodiscard]] absl::Status ScheduleSubmission(const Principal& caller,
                                                const std::string& challenge_id,
                                                LayerParams hypothesis,
                                                SubmitCallback done);
  // A refusal of `caller`'s request on `challenge_id`, in the metrics.
  void CountRefused(const Principal& caller, const std::string& challenge_id,
                    const absl::Status& status) const;
  // QueryAsync up to the commit, under the challenge's phase lock.
  [[nodiscard]] absl::StatusOr<Answered> Answer(
      const Principal& caller, const std::string& challenge_id,
      std::span<const ConstMatrixMap> sequences,
      const OutputAllocator& allocate_output);
  // SampleAsync up to the commit, under the challenge's phase lock.
  [[nodiscard]] absl::StatusOr<Answered> AnswerSample(
      const Principal& caller, const std::string& challenge_id, uint32_t count,
      uint32_t tokens);

  // A queued submission's scoring, on a pool thread: the phase checked
  // again, the score stored through `slot`.
  [[nodiscard]] absl::StatusOr<SubmitResult> ScoreQueued(
      const Challenge& challenge, const std::string& learner,
      const LayerParams& hypothesis, SubmissionBook::Slot slot);

  ChallengeRegistry* registry_;
  Ledger* ledger_;
  Authenticator* authenticator_;
  Store* store_;
  RateLimiter limiter_;
  // Submission counts (for the limit) and each learner's best (for the
  // leaderboard), so neither reads every submission of a challenge.
  SubmissionBook submissions_;
  ServerMetrics* metrics_ = nullptr;
  // Last: destroyed first, so the scoring still queued finishes while
  // everything it uses is there.
  WorkPool scoring_pool_;
  // Helpers of the forward passes (ForwardOptions).
  TaskPool forward_pool_;
};

// OK when every head of `hypothesis` has inner widths (wq's and wk's
// columns; wv's columns, which are wo's rows) of at most
// max(spec.d_model, the spec's own head_dim / value_dim). Wider factors
// gain nothing: theta = wq wk^T and omega = wv wo are d_model x d_model
// (x out_dim) and so have rank at most d_model, and any such theta and
// omega factor at width d_model; they only make scoring slower.
// INVALID_ARGUMENT naming the first offending field otherwise.
[[nodiscard]] absl::Status CheckHypothesisWidths(const LayerSpec& spec,
                                                 const LayerParams& hypothesis);

// The score a learner is shown under `scoring` (the admin sees it whole):
// rounded to 2 significant digits, or only pass/fail and the spend.
Score ApplyFeedback(const Score& full, const Scoring& scoring);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_ORACLE_CORE_H_
