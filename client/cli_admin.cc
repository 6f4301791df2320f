#include "client/cli_admin.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "client/admin_client.h"
#include "client/json_codec.h"
#include "common/challenge_config.h"
#include "common/codec.h"
#include "common/hashing.h"

ABSL_FLAG(std::string, config, "",
          "admin create: ChallengeSet file in protobuf text format.");
ABSL_FLAG(std::string, out, "",
          "admin export: JSONL file to write (- for stdout).");
ABSL_FLAG(uint64_t, queries, 0, "admin grant: extra sequences.");
ABSL_FLAG(uint64_t, tokens, 0, "admin grant: extra tokens.");

namespace attnoracle::cli {
namespace {

std::unique_ptr<AdminClient> Admin(const Context& ctx) {
  return AdminClient::Connect(ctx.options);
}

int RunRegister(Context& ctx) {
  absl::StatusOr<LearnerCredentials> c =
      Admin(ctx)->RegisterLearner(ctx.args[0]);
  if (!c.ok()) return Fail(c.status());
  if (ctx.json) {
    PrintJson({{"learner", c->learner}, {"token", c->token}});
    return kExitOk;
  }
  std::cout << "learner: " << c->learner << "\ntoken:   " << c->token << "\n";
  std::cerr << "Hand the token to the learner now: the server keeps only its "
               "hash and cannot show it again.\n";
  return kExitOk;
}

int RunRevoke(Context& ctx) {
  if (absl::Status s = Admin(ctx)->RevokeLearner(ctx.args[0]); !s.ok()) {
    return Fail(s);
  }
  if (ctx.json) {
    PrintJson({{"learner", ctx.args[0]}, {"revoked", true}});
  } else {
    std::cout << "revoked learner " << ctx.args[0]
              << ": its token no longer works\n";
  }
  return kExitOk;
}

int RunGrant(Context& ctx) {
  const uint64_t queries = absl::GetFlag(FLAGS_queries);
  const uint64_t tokens = absl::GetFlag(FLAGS_tokens);
  if (queries == 0 && tokens == 0) {
    return UsageError("admin grant needs --queries N and/or --tokens N");
  }
  const std::string& challenge = ctx.args[0];
  const std::string& learner = ctx.args[1];
  absl::StatusOr<Usage> usage =
      Admin(ctx)->GrantBudget(challenge, learner, queries, tokens);
  if (!usage.ok()) return Fail(usage.status());
  if (ctx.json) {
    PrintJson({{"challenge", challenge},
               {"learner", learner},
               {"granted", {{"queries", queries}, {"tokens", tokens}}},
               {"usage", UsageToJson(*usage)}});
    return kExitOk;
  }
  std::cout << "granted " << learner << " "
            << Counted(queries, "query", "queries") << " and "
            << Counted(tokens, "token", "tokens") << " on " << challenge
            << "\nusage: " << Counted(usage->queries_used, "query", "queries")
            << " and " << Counted(usage->tokens_used, "token", "tokens")
            << " used; " << Counted(usage->queries_left, "query", "queries")
            << " and " << Counted(usage->tokens_left, "token", "tokens")
            << " left\n";
  return kExitOk;
}

int RunCreate(Context& ctx) {
  const std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) return UsageError("admin create needs --config FILE");
  // Parsed and checked here first (the same code as the server's), so a bad
  // file creates nothing; the server checks again.
  absl::StatusOr<std::vector<ChallengeConfig>> set = LoadChallengeSet(path);
  if (!set.ok()) return UsageError(std::string(set.status().message()));
  std::unique_ptr<AdminClient> admin = Admin(ctx);
  nlohmann::ordered_json created = nlohmann::ordered_json::array();
  for (const ChallengeConfig& c : *set) {
    absl::StatusOr<ChallengeInfo> info = admin->CreateChallenge(c);
    if (!info.ok()) {
      return Fail(absl::Status(
          info.status().code(),
          absl::StrCat("creating \"", c.id, "\" (after ", created.size(),
                       " created): ", info.status().message())));
    }
    if (ctx.json) {
      created.push_back(InfoToJson(*info));
    } else {
      created.push_back(info->id);
      std::cout << "created " << info->id << ": " << info->title << "\n  "
                << (info->commitment.empty()
                        ? std::string("commitments per learner (see describe "
                                      "with a learner's token)")
                        : "commitment " + HexEncode(info->commitment))
                << "\n";
    }
  }
  if (ctx.json) PrintJson({{"created", created}});
  return kExitOk;
}

int RunPhase(Context& ctx) {
  const std::string& name = ctx.args[1];
  Phase phase;
  if (name == "open") {
    phase = Phase::kOpen;
  } else if (name == "closed") {
    phase = Phase::kClosed;
  } else if (name == "revealed") {
    phase = Phase::kRevealed;
  } else {
    return UsageError(absl::StrCat("unknown phase \"", name,
                                   "\" (open, closed or revealed)"));
  }
  absl::StatusOr<ChallengeInfo> info = Admin(ctx)->SetPhase(ctx.args[0], phase);
  if (!info.ok()) return Fail(info.status());
  if (ctx.json) {
    PrintJson(InfoToJson(*info));
  } else {
    std::cout << info->id << ": phase " << PhaseName(info->phase) << "\n";
  }
  return kExitOk;
}

int RunExport(Context& ctx) {
  const std::string path = absl::GetFlag(FLAGS_out);
  if (path.empty()) return UsageError("admin export needs --out FILE");
  const bool to_stdout = path == "-";
  // A failed export leaves no partial file behind: entries go to a
  // temporary file that is renamed when the stream completed.
  const std::string temp = absl::StrCat(path, ".partial");
  std::ofstream file;
  if (!to_stdout) {
    file.open(temp, std::ios::trunc);
    if (!file) {
      return UsageError(absl::StrCat("cannot write --out \"", path, "\""));
    }
  }
  std::ostream& out = to_stdout ? std::cout : file;
  uint64_t entries = 0;
  std::set<std::string> learners;
  absl::Status status = Admin(ctx)->ExportTranscripts(
      ctx.args[0], [&](const TranscriptEntry& e) -> absl::Status {
        absl::StatusOr<nlohmann::ordered_json> line = TranscriptEntryToJson(e);
        if (!line.ok()) {
          return absl::DataLossError(absl::StrCat("learner ", e.learner,
                                                  ": entry ", e.index, ": ",
                                                  line.status().message()));
        }
        out << line->dump() << "\n";
        if (!out) return absl::InternalError("writing the export failed");
        ++entries;
        learners.insert(e.learner);
        return absl::OkStatus();
      });
  if (!to_stdout) {
    file.close();
    if (status.ok() && !file) {
      status = absl::InternalError(absl::StrCat("cannot write \"", temp, "\""));
    }
    if (status.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
      status = absl::InternalError(
          absl::StrCat("cannot rename \"", temp, "\" to \"", path, "\""));
    }
    if (!status.ok()) std::remove(temp.c_str());
  }
  if (!status.ok()) return Fail(status);
  if (ctx.json && !to_stdout) {
    PrintJson({{"challenge", ctx.args[0]},
               {"out", path},
               {"entries", entries},
               {"learners", learners.size()}});
  } else {
    (to_stdout ? std::cerr : std::cout)
        << "exported " << Counted(entries, "answered query", "answered queries")
        << " of " << Counted(learners.size(), "learner", "learners") << " on "
        << ctx.args[0] << (to_stdout ? "" : absl::StrCat(" to ", path)) << "\n";
  }
  return kExitOk;
}

constexpr FlagDoc kGrantFlags[] = {{"queries", "N"}, {"tokens", "N"}};
constexpr FlagDoc kCreateFlags[] = {{"config", "FILE"}};
constexpr FlagDoc kExportFlags[] = {{"out", "FILE"}};

constexpr Command kAdminCommands[] = {
    {"register",
     "admin register NAME",
     "Register a learner and print its token (shown only once).\n"
     "The server keeps only the token's hash. NAME is 1 to 64 characters of "
     "[a-z0-9._-]. With --json:\n"
     "  {\"learner\": NAME, \"token\": TOKEN}",
     1,
     RunRegister,
     {},
     true},
    {"revoke",
     "admin revoke NAME",
     "Revoke a learner's token. Its usage, transcripts and submissions stay.",
     1,
     RunRevoke,
     {},
     true},
    {"grant",
     "admin grant CH NAME --queries N --tokens N",
     "Give a learner extra budget on a challenge.\n"
     "Learner NAME gets, on top of challenge CH's budget, N more\n"
     "sequences (--queries) and/or tokens (--tokens). Prints the learner's\n"
     "usage after the grant.",
     2,
     RunGrant,
     {},
     true,
     kGrantFlags},
    {"create",
     "admin create --config FILE",
     "Create the challenges of a configuration file.\n"
     "FILE is a ChallengeSet in protobuf text format (like\n"
     "configs/default.textproto). The file is checked before anything\n"
     "is created; a syntax error is reported with its line and column. Prints\n"
     "each challenge's commitment to its secret.",
     0,
     RunCreate,
     {},
     true,
     kCreateFlags},
    {"phase",
     "admin phase CH open|closed|revealed",
     "Move a challenge to another phase.\n"
     "Phases: open (queries and submissions),\n"
     "closed (both refused), revealed (GetReveal discloses the secret, the\n"
     "commitment's nonce and the seeds, so learners can verify).",
     2,
     RunPhase,
     {},
     true},
    {"export",
     "admin export CH --out FILE",
     "Export every answered query of a challenge as JSON lines.\n"
     "Learner by learner, in order, to FILE (- for stdout), one a line:\n"
     "  {\"learner\", \"index\", \"first_query_index\",\n"
     "   \"request\": {\"sequences\": [...]}, \"response\": {\"outputs\": "
     "[...]},\n"
     "   \"request_digest\": HEX, \"response_digest\": HEX, \"chain_hash\": "
     "HEX,\n"
     "   \"answered_unix_ms\"}\n"
     "Numbers print so that they parse back to the same doubles; 'verify CH\n"
     "--transcript FILE' checks such a file. The file appears only when the\n"
     "export completed.",
     1,
     RunExport,
     {},
     true,
     kExportFlags},
};

}  // namespace

std::span<const Command> AdminCommands() { return kAdminCommands; }

}  // namespace attnoracle::cli
