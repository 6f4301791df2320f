// oracle-client's organiser commands (`oracle-client admin ...`) over the
// Admin service: register, register-class, revoke, grant, create, phase,
// export.
//
//   const cli::Command kAdmin = {"admin", ..., nullptr, cli::AdminCommands()};
#ifndef ATTNORACLE_CLIENT_CLI_ADMIN_H_
#define ATTNORACLE_CLIENT_CLI_ADMIN_H_

#include <span>

#include "client/cli_common.h"

namespace attnoracle::cli {

// The admin subcommands, each with its own --help text.
std::span<const Command> AdminCommands();

}  // namespace attnoracle::cli

#endif  // ATTNORACLE_CLIENT_CLI_ADMIN_H_
