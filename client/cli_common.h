// The plumbing oracle-client's subcommands share: the command table entry,
// the context a command runs in, exit codes, token resolution and output
// helpers. Only the oracle-client binary uses it.
//
//   int RunUsage(cli::Context& ctx) {
//     absl::StatusOr<Usage> u = ctx.client->GetUsage(ctx.args[0]);
//     if (!u.ok()) return cli::Fail(u.status());
//     ...
//   }
#ifndef ATTNORACLE_CLIENT_CLI_COMMON_H_
#define ATTNORACLE_CLIENT_CLI_COMMON_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "client/connection.h"
#include "client/oracle_client.h"
#include "common/flag_help.h"

namespace attnoracle::cli {

// Exit codes: success; the server refused (or could not be reached), or a
// verification failed; the command line or an input file is wrong.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct Context {
  std::vector<std::string> args;  // after the (sub)command
  bool json = false;
  std::string token_flag;  // --token as given, possibly empty
  ClientOptions options;   // server, deadline and the resolved token
  std::unique_ptr<OracleClient> client;
};

// One subcommand, or a group of them (run == nullptr, subcommands set).
struct Command {
  const char* name;
  const char* synopsis;
  const char* help;  // first line is the summary in listings
  size_t num_args;
  int (*run)(Context&);
  std::span<const Command> subcommands = {};
  // The token falls back to $ATTNORACLE_ADMIN_TOKEN before $ATTNORACLE_TOKEN
  // (after it for other commands).
  bool admin = false;
  // The command's own flags, listed with their defaults by its --help.
  std::span<const FlagDoc> flags = {};
};

// `flag` when not empty; otherwise the first set of $ATTNORACLE_TOKEN and
// $ATTNORACLE_ADMIN_TOKEN, in the other order for admin commands; otherwise
// empty. The fallback to the admin token lets an organiser read public state
// (challenges, describe, leaderboard) with only the admin token set.
std::string ResolveToken(const std::string& flag, bool admin);

// Prints "oracle-client: CODE: message" on stderr; returns kExitFailure.
int Fail(const absl::Status& status);
// Prints "oracle-client: message" on stderr; returns kExitUsage.
int UsageError(absl::string_view message);

void PrintJson(const nlohmann::ordered_json& doc);

// Reads a JSON document from `path` (stdin for "" or "-"); on failure
// prints why (naming `what`) and returns nullopt.
std::optional<nlohmann::ordered_json> ReadJson(const std::string& path,
                                               const char* what);

// "1 query", "2 queries": `n` and the noun agreeing with it.
std::string Counted(uint64_t n, absl::string_view singular,
                    absl::string_view plural);

// "2026-01-02 15:04:05" in UTC.
std::string FormatUnixMs(int64_t unix_ms);

}  // namespace attnoracle::cli

#endif  // ATTNORACLE_CLIENT_CLI_COMMON_H_
