#include "server/core/submission_book.h"

#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace attnoracle {

bool BetterSubmission(const SubmissionRecord& a, const SubmissionRecord& b,
                      Headline headline) {
  const double ha = HeadlineValue(a.score, headline);
  const double hb = HeadlineValue(b.score, headline);
  return std::tie(ha, a.score.tokens_used, a.created_ms, a.id) <
         std::tie(hb, b.score.tokens_used, b.created_ms, b.id);
}

struct SubmissionBook::Page {
  explicit Page(Headline h) : headline(h) {}

  struct Learner {
    uint32_t stored = 0;
    uint32_t reserved = 0;  // by Slots not yet stored or given back
    SubmissionRecord best;  // meaningful when stored > 0
  };

  // Takes what `records` (one challenge's submissions) say.
  void Load(std::vector<SubmissionRecord> records)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (SubmissionRecord& r : records) Add(std::move(r));
    loaded = true;
  }

  void Add(SubmissionRecord record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    // Once each: Refresh may read a record this server is about to Add.
    if (!ids.insert(record.id).second) return;
    Learner& l = learners[record.learner];
    if (l.stored++ == 0 || BetterSubmission(record, l.best, headline)) {
      l.best = std::move(record);
    }
  }

  const Headline headline;  // set at creation
  absl::Mutex mu;
  bool loaded ABSL_GUARDED_BY(mu) = false;
  std::map<std::string, Learner> learners ABSL_GUARDED_BY(mu);
  std::set<uint64_t> ids ABSL_GUARDED_BY(mu);  // of the records added
};

SubmissionBook::Slot::Slot(std::shared_ptr<Page> page, std::string challenge_id,
                           std::string learner, uint32_t earlier)
    : page_(std::move(page)),
      challenge_id_(std::move(challenge_id)),
      learner_(std::move(learner)),
      earlier_(earlier) {}

SubmissionBook::Slot& SubmissionBook::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    page_ = std::move(other.page_);
    challenge_id_ = std::move(other.challenge_id_);
    learner_ = std::move(other.learner_);
    earlier_ = other.earlier_;
  }
  return *this;
}

SubmissionBook::Slot::~Slot() { Release(); }

void SubmissionBook::Slot::Release() {
  if (page_ == nullptr) return;
  {
    absl::MutexLock lock(&page_->mu);
    auto it = page_->learners.find(learner_);
    if (--it->second.reserved == 0 && it->second.stored == 0) {
      page_->learners.erase(it);
    }
  }
  page_.reset();
}

SubmissionBook::SubmissionBook(Store* store) : store_(store) {}

SubmissionBook::~SubmissionBook() = default;

absl::StatusOr<std::shared_ptr<SubmissionBook::Page>> SubmissionBook::PageOf(
    const std::string& challenge_id, Headline headline) const {
  if (challenge_id.empty()) {
    // The store reads every challenge's submissions for an empty id.
    return absl::InvalidArgumentError("a submission needs a challenge id");
  }
  std::shared_ptr<Page> page;
  {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<Page>& kept = pages_[challenge_id];
    if (kept == nullptr) kept = std::make_shared<Page>(headline);
    page = kept;
  }
  {
    absl::ReaderMutexLock lock(&page->mu);
    if (page->loaded) return page;
  }
  absl::MutexLock lock(&page->mu);
  if (!page->loaded) {
    // Under the page's lock, so that it is read once; only this
    // challenge's callers wait for it.
    ATTN_ASSIGN_OR_RETURN(std::vector<SubmissionRecord> records,
                          store_->LoadSubmissions(challenge_id));
    page->Load(std::move(records));
  }
  return page;
}

absl::Status SubmissionBook::Refresh() {
  std::vector<std::pair<std::string, std::shared_ptr<Page>>> pages;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, page] : pages_) pages.emplace_back(id, page);
  }
  for (const auto& [challenge_id, page] : pages) {
    absl::MutexLock lock(&page->mu);
    if (!page->loaded) continue;  // read whole when first needed
    ATTN_ASSIGN_OR_RETURN(std::vector<SubmissionRecord> records,
                          store_->LoadSubmissions(challenge_id));
    page->Load(std::move(records));
  }
  return absl::OkStatus();
}

absl::StatusOr<SubmissionBook::Slot> SubmissionBook::Reserve(
    const std::string& challenge_id, Headline headline,
    const std::string& learner, uint32_t max_submissions) {
  ATTN_ASSIGN_OR_RETURN(std::shared_ptr<Page> page,
                        PageOf(challenge_id, headline));
  absl::MutexLock lock(&page->mu);
  Page::Learner& l = page->learners[learner];
  const uint32_t earlier = l.stored + l.reserved;
  if (max_submissions > 0 && earlier >= max_submissions) {
    return absl::ResourceExhaustedError(
        absl::StrCat("submission limit reached: ", max_submissions,
                     " submissions per learner on \"", challenge_id, "\""));
  }
  ++l.reserved;
  return Slot(std::move(page), challenge_id, learner, earlier);
}

absl::StatusOr<SubmissionRecord> SubmissionBook::Insert(Slot slot,
                                                        const Score& score,
                                                        int64_t created_ms) {
  if (slot.page_ == nullptr) {
    return absl::FailedPreconditionError(
        "a submission slot can be used once (this one was used or moved)");
  }
  // Outside the page's lock: a store write (a sync, for a durable store)
  // holds up no one else's bookkeeping.
  ATTN_ASSIGN_OR_RETURN(
      SubmissionRecord stored,
      store_->InsertSubmission(SubmissionRecord{
          0, slot.challenge_id_, slot.learner_, score, created_ms}));
  {
    absl::MutexLock lock(&slot.page_->mu);
    --slot.page_->learners[slot.learner_].reserved;
    slot.page_->Add(stored);
  }
  slot.page_.reset();  // used: nothing to give back
  return stored;
}

absl::StatusOr<std::vector<Standing>> SubmissionBook::Standings(
    const std::string& challenge_id, Headline headline) const {
  ATTN_ASSIGN_OR_RETURN(std::shared_ptr<Page> page,
                        PageOf(challenge_id, headline));
  absl::ReaderMutexLock lock(&page->mu);
  std::vector<Standing> out;
  out.reserve(page->learners.size());
  for (const auto& [learner, l] : page->learners) {
    if (l.stored > 0) out.push_back(Standing{l.best, l.stored});
  }
  return out;
}

}  // namespace attnoracle
