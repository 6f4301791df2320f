// Fuzz target: a hypothesis file (`oracle-client submit --params FILE`) as
// the CLI reads it: JSON text, HypothesisFromJson, then ParamsFromProto
// against the spec of every challenge of FuzzChallenges().
// Invariants: refusals are INVALID_ARGUMENT; a hypothesis that a spec
// accepts has that spec's shapes and only finite values, and writing it out
// (HypothesisToJson, as `learn --save` does) and reading it back gives the
// same bits.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "attnoracle/v1/oracle.pb.h"
#include "client/json_codec.h"
#include "common/codec.h"
#include "tests/fuzz/fuzz_challenges.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attnoracle;
  const nlohmann::ordered_json doc = nlohmann::ordered_json::parse(
      data, data + size, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  absl::StatusOr<v1::LayerParams> proto = HypothesisFromJson(doc);
  if (!proto.ok()) {
    FUZZ_CHECK(proto.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  for (const fuzz::FuzzChallenge& c : fuzz::FuzzChallenges()) {
    const LayerSpec& spec = c.config.spec;
    absl::StatusOr<LayerParams> params = ParamsFromProto(*proto, spec);
    if (!params.ok()) {
      FUZZ_CHECK(params.status().code() == absl::StatusCode::kInvalidArgument);
      continue;
    }
    fuzz::CheckFitsSpec(spec, *params);

    const std::string saved = HypothesisToJson(*params).dump();
    const nlohmann::ordered_json reread = nlohmann::ordered_json::parse(
        saved, nullptr, /*allow_exceptions=*/false);
    FUZZ_CHECK(!reread.is_discarded());
    absl::StatusOr<v1::LayerParams> reread_proto = HypothesisFromJson(reread);
    FUZZ_CHECK(reread_proto.ok());
    absl::StatusOr<LayerParams> again = ParamsFromProto(*reread_proto, spec);
    FUZZ_CHECK(again.ok() && fuzz::SameParams(*params, *again));
  }
  return 0;
}
