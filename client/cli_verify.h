// oracle-client verify: after the reveal, checks that the revealed secret
// opens the published commitment and reproduces every answer of a
// transcript bit for bit (the caller's own, fetched from the server, or every
// learner's in an export file).
//
//   const cli::Command kCommands[] = {..., cli::VerifyCommand()};
#ifndef ATTNORACLE_CLIENT_CLI_VERIFY_H_
#define ATTNORACLE_CLIENT_CLI_VERIFY_H_

#include "client/cli_common.h"

namespace attnoracle::cli {

const Command& VerifyCommand();

}  // namespace attnoracle::cli

#endif  // ATTNORACLE_CLIENT_CLI_VERIFY_H_
