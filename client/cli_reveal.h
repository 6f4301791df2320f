// oracle-client reveal: shows a revealed challenge's secret, as a table per
// head or (with --json) as a hypothesis file that scores perfectly.
//
//   oracle-client reveal tiny-d4
//   oracle-client --json reveal tiny-d4 >secret.json
#ifndef ATTNORACLE_CLIENT_CLI_REVEAL_H_
#define ATTNORACLE_CLIENT_CLI_REVEAL_H_

#include "client/cli_common.h"

namespace attnoracle::cli {

const Command& RevealCommand();

}  // namespace attnoracle::cli

#endif  // ATTNORACLE_CLIENT_CLI_REVEAL_H_
