#include "client/cli_admin.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "client/admin_client.h"
#include "client/json_codec.h"
#include "common/challenge_config.h"
#include "common/codec.h"
#include "common/hashing.h"

ABSL_FLAG(std::string, config, "",
          "admin create: ChallengeSet file in protobuf text format.");
ABSL_FLAG(std::string, out, "",
          "admin export: JSONL file to write (- for stdout). admin "
          "register-class: new CSV file for the name,token rows (default: "
          "stdout).");
ABSL_FLAG(bool, reissue, false,
          "admin register-class: give learners already registered a new "
          "token (the old one stops working, their usage stays) instead of "
          "skipping them.");
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

// Header words a class list's first line may carry in its first column.
constexpr const char* kClassListHeaders[] = {"name", "learner", "student"};

// Problems in a class list reported before giving up on it.
constexpr size_t kMaxReportedListErrors = 10;

// The learner names of a class list: a text file of one name a line, or a
// CSV file whose first column holds the names (quoted or not). Blank lines
// and lines starting with '#' are skipped; a first line whose first field
// is not a learner name (e.g. "Name") or is one of kClassListHeaders is a
// header. INVALID_ARGUMENT naming each bad or repeated line; NOT_FOUND
// when the file cannot be read.
absl::StatusOr<std::vector<std::string>> ReadClassList(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read \"", path, "\""));
  }
  std::vector<std::string> names;
  std::map<std::string, int> line_of;
  std::vector<std::string> errors;
  bool first = true;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    // Spreadsheets often save CSV with a UTF-8 byte order mark.
    if (number == 1) absl::ConsumePrefix(&text, "\xEF\xBB\xBF");
    if (text.empty() || absl::StartsWith(text, "#")) continue;
    absl::string_view field = text.substr(0, text.find(','));
    field = absl::StripAsciiWhitespace(field);
    if (field.size() >= 2 && absl::StartsWith(field, "\"") &&
        absl::EndsWith(field, "\"")) {
      field = absl::StripAsciiWhitespace(field.substr(1, field.size() - 2));
    }
    const std::string name(field);
    const bool valid = ValidName(name) && name != "anonymous";
    if (first) {
      first = false;
      bool header = !valid;
      for (const char* word : kClassListHeaders) header |= name == word;
      if (header) continue;
    }
    if (!valid) {
      errors.push_back(absl::StrCat(
          path, ":", number, ": \"", name,
          "\" is not a learner name (1 to 64 characters of [a-z0-9._-], not "
          "\"anonymous\")"));
    } else if (auto [it, added] = line_of.emplace(name, number); !added) {
      errors.push_back(absl::StrCat(path, ":", number, ": \"", name,
                                    "\" is already on line ", it->second));
    } else {
      names.push_back(name);
    }
  }
  if (!errors.empty()) {
    const size_t shown = std::min(errors.size(), kMaxReportedListErrors);
    return absl::InvalidArgumentError(absl::StrCat(
        absl::StrJoin(errors.begin(), errors.begin() + shown, "\n"),
        errors.size() > shown
            ? absl::StrCat("\n(and ", errors.size() - shown, " more)")
            : "",
        "\nnothing was registered"));
  }
  if (names.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", path, "\" holds no learner names"));
  }
  return names;
}

// A new file for `path` that only its owner can read (it will hold
// tokens); refuses to replace a file, whose tokens would be lost.
absl::StatusOr<FILE*> CreateTokenFile(const std::string& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot create --out \"", path, "\": ", std::strerror(errno),
        errno == EEXIST ? " (it may hold tokens of an earlier run: choose "
                          "another file)"
                        : ""));
  }
  FILE* file = fdopen(fd, "w");
  if (file == nullptr) {
    close(fd);
    return absl::InternalError(absl::StrCat("cannot write --out \"", path,
                                            "\": ", std::strerror(errno)));
  }
  return file;
}

int RunRegisterClass(Context& ctx) {
  absl::StatusOr<std::vector<std::string>> names = ReadClassList(ctx.args[0]);
  if (!names.ok()) return UsageError(names.status().message());
  const std::string path = absl::GetFlag(FLAGS_out);
  const bool reissue = absl::GetFlag(FLAGS_reissue);
  FILE* out = stdout;
  if (!path.empty() && path != "-") {
    absl::StatusOr<FILE*> file = CreateTokenFile(path);
    if (!file.ok()) return UsageError(file.status().message());
    out = *file;
  }
  // With --json the rows go to the JSON document, unless a file takes them.
  const bool csv = out != stdout || !ctx.json;
  if (csv) std::fputs("name,token\n", out);
  std::unique_ptr<AdminClient> admin = Admin(ctx);
  nlohmann::ordered_json issued = nlohmann::ordered_json::array();
  nlohmann::ordered_json skipped = nlohmann::ordered_json::array();
  int registered = 0, reissued = 0;
  absl::Status failure;
  const size_t total = names->size();
  for (size_t i = 0; i < total; ++i) {
    const std::string& name = (*names)[i];
    const std::string progress = absl::StrCat(" (", i + 1, " of ", total, ")");
    absl::StatusOr<LearnerCredentials> c = admin->RegisterLearner(name);
    bool again = false;
    if (absl::IsAlreadyExists(c.status())) {
      if (!reissue) {
        std::cerr << name << ": already registered, skipped" << progress
                  << "\n";
        skipped.push_back(name);
        continue;
      }
      // Revoked, a registered learner can be given a new token.
      if (absl::Status s = admin->RevokeLearner(name); !s.ok()) {
        c = s;
      } else {
        c = admin->RegisterLearner(name);
        again = true;
      }
    }
    if (!c.ok()) {
      failure = absl::Status(
          c.status().code(),
          absl::StrCat("registering \"", name, "\" (", i, " of ", total,
                       " names done): ", c.status().message(),
                       again ? " (it is revoked now: run again with --reissue "
                               "to give it a token)"
                             : ""));
      break;
    }
    std::cerr << name << (again ? ": re-issued" : ": registered") << progress
              << "\n";
    (again ? reissued : registered)++;
    if (csv) {
      std::fprintf(out, "%s,%s\n", c->learner.c_str(), c->token.c_str());
      // A token printed is the only copy: keep it even if a later step
      // fails.
      std::fflush(out);
    }
    issued.push_back(
        {{"learner", c->learner}, {"token", c->token}, {"reissued", again}});
  }
  const bool written = out == stdout || std::fclose(out) == 0;
  if (ctx.json) {
    nlohmann::ordered_json doc = {{"registered", registered},
                                  {"reissued", reissued},
                                  {"skipped", skipped}};
    if (out != stdout) {
      doc["out"] = path;
    } else {
      doc["learners"] = issued;
    }
    PrintJson(doc);
  }
  std::cerr << total << " names: " << registered << " registered, " << reissued
            << " re-issued, " << skipped.size()
            << " skipped as already registered"
            << (skipped.empty() ? "" : " (--reissue gives them new tokens)");
  if (registered + reissued > 0) {
    std::cerr << (out != stdout ? absl::StrCat("; tokens in ", path) : "")
              << ".\nHand each learner its own token now: the server keeps "
                 "only their hashes.\n";
  } else {
    std::cerr << ".\n";
  }
  if (!written) {
    return Fail(absl::InternalError(
        absl::StrCat("cannot write \"", path, "\": ", std::strerror(errno))));
  }
  if (!failure.ok()) return Fail(failure);
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
     "[a-z0-9._-].\nA revoked learner gets a new token and keeps its usage, "
     "transcripts and\nsubmissions (for a lost token: revoke, then register "
     "again). With --json:\n"
     "  {\"learner\": NAME, \"token\": TOKEN}",
     1,
     RunRegister,
     {},
     true},
    {"register-class",
     "admin register-class FILE [--out TOKENS.csv] [--reissue]",
     "Register every learner of a class list and print their tokens.\n"
     "FILE holds one name a line, or is a CSV file whose first column holds\n"
     "the names; blank lines and lines starting with # are skipped, and a\n"
     "first line such as \"name,email\" (whose first field is \"name\",\n"
     "\"learner\", \"student\" or not a learner name) is a header. The whole\n"
     "file is checked first: a bad or repeated name registers nobody.\n"
     "Prints CSV rows name,token (under a header line) to stdout, or to\n"
     "--out, a new file only its owner can read. Names already registered\n"
     "are skipped, or with --reissue given a new token (revoke, then\n"
     "register: the old token stops working, usage stays); revoked ones get\n"
     "a new token as with 'admin register'. Progress goes to stderr. Exits\n"
     "1 at the first name the server refuses otherwise, keeping the rows\n"
     "written so far. With --json (and no --out):\n"
     "  {\"registered\": N, \"reissued\": N, \"skipped\": [NAME, ...],\n"
     "   \"learners\": [{\"learner\", \"token\", \"reissued\"}, ...]}",
     1,
     RunRegisterClass,
     {},
     true},
    {"revoke",
     "admin revoke NAME",
     "Revoke a learner's token. Its usage, transcripts and submissions stay;\n"
     "'admin register NAME' then gives it a new token.",
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
