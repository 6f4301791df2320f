#include "server/core/memory_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace attnoracle {

absl::StatusOr<std::vector<ChallengeRecord>> MemoryStore::LoadChallenges() {
  absl::MutexLock lock(&mu_);
  std::vector<ChallengeRecord> out;
  for (const auto& [id, record] : challenges_) out.push_back(record);
  return out;
}

absl::Status MemoryStore::InsertChallenge(const ChallengeRecord& record) {
  absl::MutexLock lock(&mu_);
  if (!challenges_.emplace(record.id, record).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("challenge \"", record.id, "\" already exists"));
  }
  return absl::OkStatus();
}

absl::Status MemoryStore::UpdatePhase(const std::string& id, Phase phase) {
  absl::MutexLock lock(&mu_);
  auto it = challenges_.find(id);
  if (it == challenges_.end()) {
    return absl::NotFoundError(absl::StrCat("no challenge \"", id, "\""));
  }
  it->second.phase = phase;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LearnerRecord>> MemoryStore::LoadLearners() {
  absl::MutexLock lock(&mu_);
  std::vector<LearnerRecord> out;
  for (const auto& [name, record] : learners_) out.push_back(record);
  return out;
}

absl::Status MemoryStore::InsertLearner(const LearnerRecord& record) {
  absl::MutexLock lock(&mu_);
  if (learners_.contains(record.name) ||
      token_hashes_.contains(record.token_hash)) {
    return absl::AlreadyExistsError(
        absl::StrCat("learner \"", record.name, "\" already exists"));
  }
  learners_.emplace(record.name, record);
  token_hashes_.insert(record.token_hash);
  return absl::OkStatus();
}

absl::Status MemoryStore::UpdateRevoked(const std::string& name, bool revoked) {
  absl::MutexLock lock(&mu_);
  auto it = learners_.find(name);
  if (it == learners_.end()) {
    return absl::NotFoundError(absl::StrCat("no learner \"", name, "\""));
  }
  it->second.revoked = revoked;
  return absl::OkStatus();
}

absl::Status MemoryStore::ReissueLearner(const std::string& name,
                                         const std::string& token_hash) {
  absl::MutexLock lock(&mu_);
  auto it = learners_.find(name);
  if (it == learners_.end()) {
    return absl::NotFoundError(absl::StrCat("no learner \"", name, "\""));
  }
  LearnerRecord& learner = it->second;
  if (token_hash != learner.token_hash && token_hashes_.contains(token_hash)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "another learner than \"", name, "\" has this token hash"));
  }
  token_hashes_.erase(learner.token_hash);
  token_hashes_.insert(token_hash);
  learner.token_hash = token_hash;
  learner.revoked = false;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<UsageRecord>> MemoryStore::LoadUsage() {
  absl::MutexLock lock(&mu_);
  std::vector<UsageRecord> out;
  for (const auto& [key, record] : usage_) out.push_back(record);
  return out;
}

MemoryStore::KeptEntry MemoryStore::Keep(const TranscriptEntry& e) {
  return KeptEntry{e.index,
                   e.first_query_index,
                   e.answered_unix_ms,
                   kept_.Keep(e.request),
                   kept_.Keep(e.response),
                   kept_.Keep(e.request_digest),
                   kept_.Keep(e.response_digest),
                   kept_.Keep(e.chain_hash)};
}

TranscriptEntry MemoryStore::Restore(const Key& key, const KeptEntry& e) {
  return TranscriptEntry{key.first,
                         key.second,
                         e.index,
                         e.first_query_index,
                         std::string(e.request),
                         std::string(e.response),
                         std::string(e.request_digest),
                         std::string(e.response_digest),
                         std::string(e.chain_hash),
                         e.answered_unix_ms};
}

namespace {

// The first of `chain`'s entries (in order of index) whose index is not
// below `index`.
template <typename Entry>
typename std::deque<Entry>::iterator EntryAt(std::deque<Entry>& chain,
                                             uint64_t index) {
  // Entries mostly come in order: past the last one is the common answer.
  if (chain.empty() || chain.back().index < index) return chain.end();
  return std::lower_bound(
      chain.begin(), chain.end(), index,
      [](const Entry& e, uint64_t i) { return e.index < i; });
}

}  // namespace

absl::Status MemoryStore::CommitCharges(
    std::span<const UsageRecord> usage,
    std::span<const TranscriptEntry> transcript) {
  absl::MutexLock lock(&mu_);
  const ByteBlocks::Mark mark = kept_.mark();
  std::deque<KeptEntry>* chain = nullptr;
  const Key* chain_key = nullptr;  // in transcripts_, stable
  // Which entries this call stored, to take them back.
  std::vector<std::pair<std::deque<KeptEntry>*, uint64_t>> stored;
  stored.reserve(transcript.size());
  for (const TranscriptEntry& e : transcript) {
    // A batch is mostly runs of one learner's entries: its chain is looked
    // up once per run.
    if (chain_key == nullptr || e.challenge_id != chain_key->first ||
        e.learner != chain_key->second) {
      auto it = transcripts_.try_emplace(Key{e.challenge_id, e.learner}).first;
      chain_key = &it->first;
      chain = &it->second;
    }
    auto at = EntryAt(*chain, e.index);
    if (at != chain->end() && at->index == e.index) {
      // All or nothing: a clash takes back the entries this call stored,
      // and their bytes.
      for (auto s = stored.rbegin(); s != stored.rend(); ++s) {
        s->first->erase(EntryAt(*s->first, s->second));
      }
      kept_.Rewind(mark);
      return absl::AlreadyExistsError(
          absl::StrCat("transcripts: entry ", e.index, " of \"", e.learner,
                       "\" on \"", e.challenge_id, "\" already exists"));
    }
    chain->insert(at, Keep(e));
    stored.emplace_back(chain, e.index);
  }
  for (const UsageRecord& r : usage) {
    usage_[Key{r.challenge_id, r.learner}] = r;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TranscriptEntry>> MemoryStore::LoadTranscript(
    const std::string& challenge_id, const std::string& learner) {
  absl::MutexLock lock(&mu_);
  std::vector<TranscriptEntry> out;
  // Keys sort by (challenge, learner), so one challenge's are contiguous.
  for (auto it = transcripts_.lower_bound(Key{challenge_id, ""});
       it != transcripts_.end() && it->first.first == challenge_id; ++it) {
    if (!learner.empty() && it->first.second != learner) continue;
    for (const KeptEntry& e : it->second) out.push_back(Restore(it->first, e));
  }
  return out;
}

absl::StatusOr<std::vector<TranscriptEntry>> MemoryStore::LoadTranscriptPage(
    const std::string& challenge_id, const std::string& learner,
    uint64_t first_index, uint64_t max_entries, size_t max_bytes,
    uint64_t* total) {
  absl::MutexLock lock(&mu_);
  std::vector<TranscriptEntry> out;
  size_t bytes = 0;
  auto it = transcripts_.find(Key{challenge_id, learner});
  if (it == transcripts_.end()) {
    *total = 0;
    return out;
  }
  std::deque<KeptEntry>& chain = it->second;
  *total = chain.size();
  for (auto e = EntryAt(chain, first_index);
       e != chain.end() && out.size() < max_entries; ++e) {
    TranscriptEntry entry = Restore(it->first, *e);
    bytes += TranscriptPageBytes(entry);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(std::move(entry));
  }
  return out;
}

absl::StatusOr<SubmissionRecord> MemoryStore::InsertSubmission(
    const SubmissionRecord& record) {
  absl::MutexLock lock(&mu_);
  SubmissionRecord stored = record;
  stored.id = submissions_.size() + 1;
  submissions_.push_back(stored);
  return stored;
}

absl::StatusOr<std::vector<SubmissionRecord>> MemoryStore::LoadSubmissions(
    const std::string& challenge_id) {
  absl::MutexLock lock(&mu_);
  std::vector<SubmissionRecord> out;
  for (const SubmissionRecord& r : submissions_) {
    if (challenge_id.empty() || r.challenge_id == challenge_id) {
      out.push_back(r);
    }
  }
  return out;
}

}  // namespace attnoracle
