// SubmissionBook: what the submission limit and the leaderboard need to
// know of a challenge's submissions, kept in memory: per learner, how many
// are stored, how many are being stored, and the best one. A challenge's
// page is read from the store once, on its first use, and kept up to date
// as submissions are stored through the book; so neither a Submit nor a
// leaderboard read goes through every submission of the challenge again.
//
//   SubmissionBook book(&store);
//   absl::StatusOr<SubmissionBook::Slot> slot =
//       book.Reserve("tiny-d4", Headline::kFunctionalRelErr, "alice",
//                    max_submissions);
//   ... score the hypothesis, with no lock held ...
//   absl::StatusOr<SubmissionRecord> stored =
//       book.Insert(*std::move(slot), score, NowUnixMs());
//   absl::StatusOr<std::vector<Standing>> board = book.Standings("tiny-d4",
//       Headline::kFunctionalRelErr);
//
// The limit is exact under any concurrency: Reserve counts the learner's
// stored submissions and those reserved but not yet stored, so racing
// submissions never pass it together; a reservation that is not stored
// (the store failed, or the Slot was dropped) gives its place back.
//
// Thread-safe. Each challenge's page has its own lock, held only for the
// bookkeeping (and for the page's one store read), never while a
// submission is scored or written: submissions to different challenges
// never wait on each other, nor do other learners' submissions and
// leaderboard reads wait on a store write. The counts are exact only if
// every submission to the store's challenges goes through one book (as one
// server serves one database). The store must outlive the book.
#ifndef ATTNORACLE_SERVER_CORE_SUBMISSION_BOOK_H_
#define ATTNORACLE_SERVER_CORE_SUBMISSION_BOOK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/score.h"
#include "server/core/store.h"

namespace attnoracle {

// Best first: lower headline (functional error, or sign disagreement on a
// sign challenge), then fewer tokens, then earlier, then the lower id (so
// two submissions are never equal).
bool BetterSubmission(const SubmissionRecord& a, const SubmissionRecord& b,
                      Headline headline);

// One learner's place on a challenge's leaderboard, before ranking.
struct Standing {
  // By BetterSubmission. Its score.passed is not kept: the verdict follows
  // from the challenge's threshold wherever a score is shown.
  SubmissionRecord best;
  uint32_t submissions = 0;
};

class SubmissionBook {
 private:
  struct Page;

 public:
  // One learner's right to store one more submission to one challenge,
  // from Reserve to Insert. Destroying it unused gives the place back.
  // Move-only.
  class Slot {
   public:
    Slot(Slot&& other) noexcept = default;
    Slot& operator=(Slot&& other) noexcept;
    ~Slot();

    // The learner's submissions stored or reserved before this one.
    uint32_t earlier() const { return earlier_; }

   private:
    friend class SubmissionBook;
    Slot(std::shared_ptr<Page> page, std::string challenge_id,
         std::string learner, uint32_t earlier);
    void Release();

    std::shared_ptr<Page> page_;  // null once used or moved from
    std::string challenge_id_;
    std::string learner_;
    uint32_t earlier_ = 0;
  };

  explicit SubmissionBook(Store* store);
  // Adds the submissions other servers sharing the store stored to the
  // challenges this book has read.
  [[nodiscard]] absl::Status Refresh();
  ~SubmissionBook();
  SubmissionBook(const SubmissionBook&) = delete;
  SubmissionBook& operator=(const SubmissionBook&) = delete;

  // A place for one more submission of `learner` to `challenge_id` (not
  // empty). RESOURCE_EXHAUSTED when `max_submissions` > 0 and the learner
  // has that many stored or reserved; the store's error when the
  // challenge's page cannot be read (a later call tries again).
  // `headline` is the challenge's (HeadlineOf its policy), the same on
  // every call for one challenge: each learner's best is kept by it.
  [[nodiscard]] absl::StatusOr<Slot> Reserve(const std::string& challenge_id,
                                             Headline headline,
                                             const std::string& learner,
                                             uint32_t max_submissions);

  // Stores the submission `slot` was reserved for and returns it with its
  // id; on error (the store's) nothing is stored and the place is given
  // back. FAILED_PRECONDITION for a slot moved from.
  [[nodiscard]] absl::StatusOr<SubmissionRecord> Insert(Slot slot,
                                                        const Score& score,
                                                        int64_t created_ms);

  // Every learner with a stored submission to `challenge_id` (not empty):
  // the best one and how many, in no particular order. The store's error
  // when the page cannot be read.
  [[nodiscard]] absl::StatusOr<std::vector<Standing>> Standings(
      const std::string& challenge_id, Headline headline) const;

 private:
  // The page of `challenge_id`, read from the store if it was not yet.
  absl::StatusOr<std::shared_ptr<Page>> PageOf(const std::string& challenge_id,
                                               Headline headline) const;

  Store* const store_;
  mutable absl::Mutex mu_;
  // Pages are created on first use (a leaderboard read is const, hence
  // mutable) and never removed, as challenges are not.
  mutable std::map<std::string, std::shared_ptr<Page>> pages_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_SUBMISSION_BOOK_H_
