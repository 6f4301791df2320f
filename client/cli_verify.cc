#include "client/cli_verify.h"

#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "client/json_codec.h"
#include "client/verify.h"
#include "common/hashing.h"

ABSL_FLAG(std::string, commitment, "",
          "verify: the commitment (hex) you recorded before the reveal "
          "(default: the one the server publishes).");
ABSL_FLAG(std::string, transcript, "",
          "verify: an 'admin export' JSONL file; verifies every learner's "
          "transcript in it instead, each against its learner's reveal "
          "(needs the admin token: --token or $ATTNORACLE_ADMIN_TOKEN).");

namespace attnoracle::cli {
namespace {

// Prints a failed verification (stderr, and a JSON document with --json)
// and returns kExitFailure.
int Refute(const Context& ctx, const absl::Status& status) {
  if (ctx.json) {
    PrintJson({{"challenge", ctx.args[0]},
               {"verified", false},
               {"code", absl::StatusCodeToString(status.code())},
               {"error", std::string(status.message())}});
  }
  return Fail(status);
}

absl::Status WithLearner(const std::string& learner,
                         const absl::Status& status) {
  return absl::Status(
      status.code(), absl::StrCat("learner ", learner, ": ", status.message()));
}

// The caller's own transcript, reveal and commitment, from the server.
int VerifyOwn(Context& ctx, const std::optional<std::string>& recorded) {
  const std::string& challenge = ctx.args[0];
  absl::StatusOr<ChallengeInfo> info = ctx.client->Describe(challenge);
  if (!info.ok()) return Fail(info.status());
  if (recorded && !info->commitment.empty() && info->commitment != *recorded) {
    return Refute(
        ctx,
        absl::FailedPreconditionError(absl::StrCat(
            "the server now publishes commitment ", HexEncode(info->commitment),
            ", not the one recorded (", HexEncode(*recorded), ")")));
  }
  const std::string commitment = recorded ? *recorded : info->commitment;
  if (commitment.empty()) {
    return Refute(ctx, absl::FailedPreconditionError(
                           "the server publishes no commitment for " +
                           challenge + "; pass --commitment HEX"));
  }
  absl::StatusOr<RevealedChallenge> reveal = ctx.client->GetReveal(challenge);
  if (!reveal.ok()) return Fail(reveal.status());
  absl::StatusOr<std::vector<TranscriptEntry>> entries =
      ctx.client->GetTranscript(challenge);
  if (!entries.ok()) return Fail(entries.status());
  absl::StatusOr<VerifiedTranscript> v =
      VerifyTranscript(*reveal, commitment, *entries);
  if (!v.ok()) return Refute(ctx, v.status());
  // A prefix of a chain is a valid chain, so the length is compared with
  // what the server charged. Only reported: a crash between charging and
  // answering legitimately charges a query the transcript does not hold.
  absl::StatusOr<Usage> charged = ctx.client->GetUsage(challenge);
  if (ctx.json) {
    nlohmann::ordered_json doc = {{"challenge", challenge},
                                  {"verified", true},
                                  {"commitment", HexEncode(commitment)},
                                  {"entries", v->entries},
                                  {"sequences", v->sequences},
                                  {"tokens", v->tokens},
                                  {"unanswered_indices", v->unanswered_indices},
                                  {"chain_head", HexEncode(v->chain_head)}};
    if (charged.ok()) {
      doc["charged"] = {{"queries", charged->queries_used},
                        {"tokens", charged->tokens_used}};
    }
    PrintJson(doc);
    return kExitOk;
  }
  std::cout << "verified " << challenge
            << ": the revealed secret opens commitment "
            << HexEncode(commitment) << "\n  "
            << Counted(v->entries, "answered query", "answered queries") << " ("
            << Counted(v->sequences, "sequence", "sequences") << ", "
            << Counted(v->tokens, "token", "tokens")
            << ") replay bit for bit along the chain";
  if (!v->chain_head.empty()) {
    std::cout << "\n  chain head " << HexEncode(v->chain_head);
  }
  if (v->unanswered_indices > 0) {
    std::cout << "\n  "
              << Counted(v->unanswered_indices, "query index", "query indices")
              << " reserved but never answered (a replica stopped before "
                 "committing; not a failure)";
  }
  std::cout << "\n";
  if (charged.ok() && (charged->queries_used != v->sequences ||
                       charged->tokens_used != v->tokens)) {
    std::cout << "  note: the server charged you "
              << Counted(charged->queries_used, "sequence", "sequences")
              << " and " << Counted(charged->tokens_used, "token", "tokens")
              << "; the transcript holds " << v->sequences << " and "
              << v->tokens << "\n";
  }
  return kExitOk;
}

struct LearnerTranscript {
  std::string learner;
  std::vector<TranscriptEntry> entries;
};

// Every learner's entries in an export file, learners in order of first
// appearance. DATA_LOSS naming the line for a line that does not parse.
absl::StatusOr<std::vector<LearnerTranscript>> ReadExport(
    std::istream& in, const std::string& path) {
  std::vector<LearnerTranscript> out;
  std::map<std::string, size_t> position;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::ordered_json doc = nlohmann::ordered_json::parse(
        line, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
      return absl::DataLossError(
          absl::StrCat(path, " line ", number, ": not valid JSON"));
    }
    absl::StatusOr<TranscriptEntry> entry = TranscriptEntryFromJson(doc);
    if (!entry.ok()) {
      return absl::DataLossError(
          absl::StrCat(path, " line ", number, ": ", entry.status().message()));
    }
    auto [it, added] = position.emplace(entry->learner, out.size());
    if (added) out.push_back(LearnerTranscript{entry->learner, {}});
    out[it->second].entries.push_back(*std::move(entry));
  }
  return out;
}

// Every learner's transcript in an export file, each against the reveal of
// its own secret and noise seed (admin).
int VerifyExport(Context& ctx, const std::optional<std::string>& recorded,
                 const std::string& path) {
  const std::string& challenge = ctx.args[0];
  std::ifstream in(path);
  if (!in) {
    return UsageError(absl::StrCat("cannot read --transcript \"", path, "\""));
  }
  absl::StatusOr<std::vector<LearnerTranscript>> transcripts =
      ReadExport(in, path);
  if (!transcripts.ok()) return Refute(ctx, transcripts.status());
  absl::StatusOr<ChallengeInfo> info = ctx.client->Describe(challenge);
  if (!info.ok()) return Fail(info.status());
  if (transcripts->empty() && !info->per_learner_secrets) {
    // Nothing to replay, but the shared secret must still open the
    // commitment.
    transcripts->push_back(LearnerTranscript{});
  }
  nlohmann::ordered_json learners = nlohmann::ordered_json::array();
  uint64_t total_entries = 0;
  for (const LearnerTranscript& t : *transcripts) {
    absl::StatusOr<RevealedChallenge> reveal =
        ctx.client->GetReveal(challenge, t.learner);
    if (!reveal.ok()) return Fail(WithLearner(t.learner, reveal.status()));
    // With a shared secret the commitment is the one published for all;
    // with per-learner secrets only the reveal names the learner's own.
    std::string commitment = reveal->commitment;
    if (recorded) {
      commitment = *recorded;
    } else if (!info->per_learner_secrets && !info->commitment.empty()) {
      commitment = info->commitment;
    }
    absl::StatusOr<VerifiedTranscript> v =
        VerifyTranscript(*reveal, commitment, t.entries);
    if (!v.ok()) return Refute(ctx, WithLearner(t.learner, v.status()));
    if (t.learner.empty() && t.entries.empty()) continue;
    total_entries += v->entries;
    learners.push_back({{"learner", t.learner},
                        {"entries", v->entries},
                        {"sequences", v->sequences},
                        {"tokens", v->tokens},
                        {"unanswered_indices", v->unanswered_indices},
                        {"chain_head", HexEncode(v->chain_head)}});
  }
  if (ctx.json) {
    PrintJson({{"challenge", challenge},
               {"verified", true},
               {"transcript", path},
               {"learners", learners}});
    return kExitOk;
  }
  if (learners.empty()) {
    std::cout << "verified " << challenge << ": " << path
              << " holds no answered query"
              << (info->per_learner_secrets
                      ? "\n"
                      : "; the revealed secret opens the commitment\n");
    return kExitOk;
  }
  std::cout << "verified " << challenge << " from " << path << ": "
            << Counted(learners.size(), "learner", "learners") << ", "
            << Counted(total_entries, "answered query", "answered queries")
            << " replay bit for bit against the revealed "
            << (learners.size() == 1 ? "secret\n" : "secrets\n");
  for (const auto& l : learners) {
    std::cout << "  " << l["learner"].get<std::string>() << ": "
              << Counted(l["entries"].get<uint64_t>(), "answered query",
                         "answered queries")
              << " ("
              << Counted(l["sequences"].get<uint64_t>(), "sequence",
                         "sequences")
              << "), chain head " << l["chain_head"].get<std::string>() << "\n";
  }
  return kExitOk;
}

int RunVerify(Context& ctx) {
  std::optional<std::string> recorded;
  if (const std::string hex = absl::GetFlag(FLAGS_commitment); !hex.empty()) {
    absl::StatusOr<std::string> bytes = BytesFromHex(hex);
    if (!bytes.ok() || bytes->size() != kSha256Bytes) {
      return UsageError(
          "--commitment must be 64 hex digits (a SHA-256 digest)");
    }
    recorded = *std::move(bytes);
  }
  const std::string path = absl::GetFlag(FLAGS_transcript);
  if (path.empty()) return VerifyOwn(ctx, recorded);
  // Reading other learners' reveals takes the admin token.
  if (ctx.token_flag.empty()) {
    ctx.options.token = ResolveToken("", /*admin=*/true);
    ctx.client = OracleClient::Connect(ctx.options);
  }
  return VerifyExport(ctx, recorded, path);
}

constexpr FlagDoc kVerifyFlags[] = {{"commitment", "HEX"},
                                    {"transcript", "FILE"}};

constexpr Command kVerify = {
    "verify",
    "verify CH [--commitment HEX] [--transcript FILE]",
    "After CH is revealed, check every answer you got against the secret.\n"
    "The revealed secret must open the commitment published before any\n"
    "query, and must reproduce every answer of your transcript bit for bit\n"
    "(with the declared noise and precision) along an unbroken hash chain.\n"
    "Exits 0 only when all of this holds; otherwise exits 1 naming the\n"
    "first entry that fails.\n"
    "A transcript cut short is still a valid chain: compare its length with\n"
    "what you were charged (printed when they differ).\n"
    "With --json: {challenge, verified, entries, sequences, tokens,\n"
    "chain_head, charged: {queries, tokens}, ...}, or {challenge, verified:\n"
    "false, code, error}.",
    1,
    RunVerify,
    {},
    false,
    kVerifyFlags};

}  // namespace

const Command& VerifyCommand() { return kVerify; }

}  // namespace attnoracle::cli
