// The client's JSON forms: transcript export lines survive text exactly
// (so the digests still cover the re-encoded bytes), malformed lines are
// refused naming the field, scores hide what the feedback setting hides,
// and challenge descriptions carry the commitment and scoring.
#include "client/json_codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/hashing.h"
#include "common/transcript.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using test::MessageOf;
using ::testing::HasSubstr;

// Doubles that stress a text round trip.
std::vector<Matrix> AwkwardMatrices() {
  Matrix a(2, 4);
  a << 0.1, -0.0, 1e-310 /* subnormal */, std::numeric_limits<double>::max(),
      std::numeric_limits<double>::min(), -1.0 / 3.0, 123456789.123456789,
      std::nextafter(1.0, 2.0);
  Rng rng(3);
  return {a, test::RandomMatrix(rng, 3, 4, 1e-3),
          test::RandomMatrix(rng, 1, 4, 1e6)};
}

TranscriptEntry MakeEntry() {
  TranscriptEntry e;
  e.learner = "alice";
  e.index = 7;
  e.first_query_index = 19;
  const std::vector<Matrix> m = AwkwardMatrices();
  e.request = EncodeMatrices(m);
  e.response = EncodeMatrices(std::vector<Matrix>(m.rbegin(), m.rend()));
  e.request_digest = Sha256(e.request);
  e.response_digest = Sha256(e.response);
  e.chain_hash = ChainHash("previous", e.request_digest, e.response_digest);
  e.answered_unix_ms = 1767225600123;
  return e;
}

TEST(TranscriptEntryJsonTest, RoundTripsThroughTextBitForBit) {
  const TranscriptEntry e = MakeEntry();
  absl::StatusOr<nlohmann::ordered_json> doc = TranscriptEntryToJson(e);
  ASSERT_TRUE(doc.ok()) << doc.status();
  const std::string line = doc->dump();
  EXPECT_EQ(line.find('\n'), std::string::npos);
  absl::StatusOr<TranscriptEntry> back =
      TranscriptEntryFromJson(nlohmann::ordered_json::parse(line));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->learner, e.learner);
  EXPECT_EQ(back->index, e.index);
  EXPECT_EQ(back->first_query_index, e.first_query_index);
  EXPECT_EQ(back->request, e.request);
  EXPECT_EQ(back->response, e.response);
  EXPECT_EQ(back->request_digest, e.request_digest);
  EXPECT_EQ(back->response_digest, e.response_digest);
  EXPECT_EQ(back->chain_hash, e.chain_hash);
  EXPECT_EQ(back->answered_unix_ms, e.answered_unix_ms);
}

TEST(TranscriptEntryJsonTest, DocumentShape) {
  const nlohmann::ordered_json doc = *TranscriptEntryToJson(MakeEntry());
  std::vector<std::string> keys;
  for (const auto& [key, value] : doc.items()) keys.push_back(key);
  EXPECT_THAT(keys, ::testing::ElementsAre(
                        "learner", "index", "first_query_index", "request",
                        "response", "request_digest", "response_digest",
                        "chain_hash", "answered_unix_ms"));
  EXPECT_EQ(doc["request"]["sequences"].size(), 3u);
  EXPECT_EQ(doc["request"]["sequences"][0].size(), 2u);     // rows
  EXPECT_EQ(doc["request"]["sequences"][0][0].size(), 4u);  // columns
  EXPECT_EQ(doc["response"]["outputs"].size(), 3u);
  EXPECT_EQ(doc["request_digest"], HexEncode(Sha256(MakeEntry().request)));
}

TEST(TranscriptEntryJsonTest, ASampleEntryRoundTripsAsSamples) {
  TranscriptEntry e = MakeEntry();
  e.request = EncodeSampleRequest(AwkwardMatrices());
  const nlohmann::ordered_json doc = *TranscriptEntryToJson(e);
  EXPECT_FALSE(doc["request"].contains("sequences"));
  ASSERT_EQ(doc["request"]["samples"].size(), 3u);
  absl::StatusOr<TranscriptEntry> back =
      TranscriptEntryFromJson(nlohmann::ordered_json::parse(doc.dump()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->request, e.request);
  absl::StatusOr<DecodedRequest> decoded = DecodeRequest(back->request);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->sample);
}

TEST(TopKJsonTest, PairsPerRow) {
  Matrix pairs(2, 4);
  pairs << 3, 0.5, 0, -0.25,  //
      1, 2, 2, 2;
  EXPECT_EQ(TopKToJson(pairs).dump(),
            "[[[3,0.5],[0,-0.25]],[[1,2.0],[2,2.0]]]");
  EXPECT_EQ(AnswersToJson({pairs}, true).dump(),
            "[[[[3,0.5],[0,-0.25]],[[1,2.0],[2,2.0]]]]");
  EXPECT_EQ(AnswersToJson({pairs}, false).dump(),
            "[[[3.0,0.5,0.0,-0.25],[1.0,2.0,2.0,2.0]]]");
}

TEST(TranscriptEntryJsonTest, UndecodableBytesAreRefused) {
  TranscriptEntry e = MakeEntry();
  e.response = "xx";
  absl::StatusOr<nlohmann::ordered_json> doc = TranscriptEntryToJson(e);
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(doc.status()), HasSubstr("response"));
}

TEST(TranscriptEntryJsonTest, MalformedLinesNameTheField) {
  const nlohmann::ordered_json good = *TranscriptEntryToJson(MakeEntry());
  struct Case {
    const char* field;
    nlohmann::ordered_json value;
    const char* message;
  };
  const Case cases[] = {
      {"learner", 3, "learner: must be a string"},
      {"index", -1, "index: must be a non-negative integer"},
      {"first_query_index", "0",
       "first_query_index: must be a non-negative integer"},
      {"request",
       {{"outputs", good["response"]["outputs"]}},
       "request: must be an object with a \"sequences\" array"},
      {"response",
       {{"outputs", nlohmann::ordered_json::array()}},
       "response.outputs: must be a non-empty array of matrices"},
      {"request_digest", "abc", "request_digest: hex string has an odd"},
      {"response_digest", 5, "response_digest: must be a hex string"},
      {"chain_hash", "zz", "chain_hash: 'zz' at offset 0 is not a hex byte"},
      {"answered_unix_ms", 1.5, "answered_unix_ms: must be an integer"},
  };
  for (const Case& c : cases) {
    nlohmann::ordered_json doc = good;
    doc[c.field] = c.value;
    absl::StatusOr<TranscriptEntry> e = TranscriptEntryFromJson(doc);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(MessageOf(e.status()), HasSubstr(c.message)) << c.field;
  }
  nlohmann::ordered_json ragged = good;
  ragged["request"]["sequences"][1][2] = {1.0};
  EXPECT_THAT(MessageOf(TranscriptEntryFromJson(ragged).status()),
              HasSubstr("request.sequences[1][2]: must be an array of 4"));
  EXPECT_THAT(
      MessageOf(
          TranscriptEntryFromJson(nlohmann::ordered_json::array()).status()),
      HasSubstr("must be a JSON object"));
}

TEST(BytesFromHexTest, DecodesEitherCaseAndRefusesTheRest) {
  EXPECT_EQ(*BytesFromHex(""), "");
  EXPECT_EQ(*BytesFromHex("00ff7F"), std::string("\x00\xff\x7f", 3));
  const std::string digest = Sha256("abc");
  EXPECT_EQ(*BytesFromHex(HexEncode(digest)), digest);
  EXPECT_EQ(BytesFromHex("0").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BytesFromHex("0g").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BytesFromHex(" 0").status().code(),
            absl::StatusCode::kInvalidArgument);
}

Score FullScore() {
  Score s;
  s.functional_rel_err = 1.5e-7;
  s.max_abs_err = 2e-8;
  s.bits = 25.6;
  s.theta_rel_err = 1e-6;
  s.omega_rel_err = 2e-6;
  s.queries_used = 17;
  s.tokens_used = 33;
  s.tokens_to_bound = 1.03;
  s.passed = true;
  return s;
}

TEST(ScoreJsonTest, FullAndRoundedShowTheErrors) {
  for (Feedback f : {Feedback::kFull, Feedback::kRounded}) {
    Score s = FullScore();
    s.feedback = f;
    const nlohmann::ordered_json doc = ScoreToJson(s);
    EXPECT_EQ(doc["functional_rel_err"], 1.5e-7);
    EXPECT_EQ(doc["bits"], 25.6);
    EXPECT_EQ(doc["tokens_used"], 33u);
    EXPECT_EQ(doc["feedback"], FeedbackName(f));
    EXPECT_EQ(doc["passed"], true);
  }
}

// A sign challenge's headline is its sign disagreement, shown even when 0
// (a perfect score); elsewhere the functional error, and no sign field.
TEST(ScoreJsonTest, HeadlineFollowsTheAnswerForm) {
  Score s = FullScore();
  s.sign_disagreement = 0;
  const nlohmann::ordered_json sign =
      ScoreToJson(s, Headline::kSignDisagreement);
  EXPECT_EQ(sign["headline"], "sign_disagreement");
  ASSERT_TRUE(sign.contains("sign_disagreement"));
  EXPECT_EQ(sign["sign_disagreement"], 0.0);
  const nlohmann::ordered_json values = ScoreToJson(s);
  EXPECT_EQ(values["headline"], "functional_rel_err");
  EXPECT_FALSE(values.contains("sign_disagreement"));
}

// An identified FFN error is a number; an omitted one is null beside the
// note, as theta and omega are.
TEST(ScoreJsonTest, FfnRelErrIsANumberOrNullWithTheNote) {
  Score s = FullScore();
  s.ffn_rel_err = 3e-9;
  s.omega_omitted = true;
  s.parameter_note = "FFN block: only omega w1 is identifiable";
  const nlohmann::ordered_json ffn = ScoreToJson(s);
  EXPECT_EQ(ffn["ffn_rel_err"], 3e-9);
  EXPECT_TRUE(ffn["omega_rel_err"].is_null());
  EXPECT_EQ(ffn["parameter_note"], s.parameter_note);

  s.ffn_omitted = true;
  s.parameter_note = "no FFN block, so ffn_rel_err does not apply";
  const nlohmann::ordered_json plain = ScoreToJson(s);
  ASSERT_TRUE(plain.contains("ffn_rel_err"));
  EXPECT_TRUE(plain["ffn_rel_err"].is_null());
  EXPECT_EQ(plain["parameter_note"], s.parameter_note);
}

TEST(ScoreJsonTest, PassFailShowsOnlyTheVerdictAndTheSpend) {
  Score s;
  s.feedback = Feedback::kPassFail;
  s.passed = false;
  s.queries_used = 4;
  s.tokens_used = 9;
  const nlohmann::ordered_json doc = ScoreToJson(s);
  for (const char* hidden : {"functional_rel_err", "max_abs_err", "bits",
                             "theta_rel_err", "omega_rel_err", "ffn_rel_err"}) {
    EXPECT_FALSE(doc.contains(hidden)) << hidden;
  }
  EXPECT_EQ(doc["feedback"], "pass_fail");
  EXPECT_EQ(doc["passed"], false);
  EXPECT_EQ(doc["queries_used"], 4u);
  EXPECT_EQ(doc["tokens_used"], 9u);
}

TEST(LeaderboardEntryJsonTest, Fields) {
  const LeaderboardEntry e{.rank = 2,
                           .learner = "bob",
                           .score = FullScore(),
                           .submission_id = 12,
                           .submitted_unix_ms = 1767225600000,
                           .submissions = 3};
  const nlohmann::ordered_json doc = LeaderboardEntryToJson(e);
  EXPECT_EQ(doc["rank"], 2);
  EXPECT_EQ(doc["learner"], "bob");
  EXPECT_EQ(doc["score"]["functional_rel_err"], 1.5e-7);
  EXPECT_EQ(doc["submission_id"], 12u);
  EXPECT_EQ(doc["submitted_unix_ms"], 1767225600000);
  EXPECT_EQ(doc["submissions"], 3);
}

TEST(InfoJsonTest, CommitmentScoringAndSecrets) {
  ChallengeInfo info;
  info.id = "c";
  info.spec = *ResolveSpec(LayerSpec{.d_model = 4});
  info.policy = *ResolvePolicy(AccessPolicy{});
  info.commitment = Sha256("secret");
  info.scoring = Scoring{.max_submissions = 5,
                         .feedback = Feedback::kPassFail,
                         .pass_threshold = 1e-4};
  info.per_learner_secrets = true;
  const nlohmann::ordered_json doc = InfoToJson(info);
  EXPECT_EQ(doc["commitment"], HexEncode(info.commitment));
  EXPECT_EQ(doc["scoring"]["max_submissions"], 5);
  EXPECT_EQ(doc["scoring"]["feedback"], "pass_fail");
  EXPECT_EQ(doc["scoring"]["pass_threshold"], 1e-4);
  EXPECT_EQ(doc["per_learner_secrets"], true);
  EXPECT_EQ(doc["spec"]["d_model"], 4);
}

}  // namespace
}  // namespace attnoracle
