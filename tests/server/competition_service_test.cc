// A competition through the real Oracle and Admin services in process, with
// raw stubs and bearer tokens: the access matrix, open mode, learner
// registration, phases, commit and reveal (every answer reproduced bit for
// bit), transcripts, per-learner secrets, submission limits and feedback,
// the leaderboard, grants, exports, and restarts on the same database.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <latch>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/codec.h"
#include "common/hashing.h"
#include "common/transcript.h"
#include "server/core/sqlite_store.h"
#include "tests/server/competition_fixture.h"
#include "tests/server/core_fixture.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::Bearer;
using ::attnoracle::test::BitwiseEqual;
using ::attnoracle::test::CompetitionTest;
using ::attnoracle::test::kAdminToken;
using ::attnoracle::test::MessageOf;
using ::attnoracle::test::NamedCall;
using ::attnoracle::test::OpenStoreOrDie;
using ::attnoracle::test::RandomMatrix;
using ::attnoracle::test::ReadFileBytes;
using ::attnoracle::test::ReplayTranscript;
using ::attnoracle::test::Session;
using ::attnoracle::test::SmallConfig;
using ::attnoracle::test::SmallSequences;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kCh[] = "comp";

// Every Oracle RPC, each with a request that would succeed for a learner
// allowed to make it on the open challenge `id`.
std::vector<NamedCall> OracleCalls(const std::string& id,
                                   const LayerParams& hypothesis) {
  const std::vector<Matrix> x = SmallSequences(1, 2, 1);
  return {
      {"ListChallenges", [](const Session& s) { return s.List().status(); }},
      {"DescribeChallenge",
       [id](const Session& s) { return s.Describe(id).status(); }},
      {"Query", [id, x](const Session& s) { return s.Query(id, x).status(); }},
      {"QueryStream",
       [id, x](const Session& s) { return s.QueryOverStream(id, x).status(); }},
      {"GetUsage", [id](const Session& s) { return s.GetUsage(id).status(); }},
      {"Submit",
       [id, hypothesis](const Session& s) {
         return s.Submit(id, hypothesis).status();
       }},
      {"GetLeaderboard",
       [id](const Session& s) { return s.Leaderboard(id).status(); }},
      {"GetTranscript",
       [id](const Session& s) { return s.Transcript(id).status(); }},
      {"GetReveal", [id](const Session& s) { return s.Reveal(id).status(); }},
  };
}

// Every Admin RPC, each with a request that would succeed for the admin.
std::vector<NamedCall> AdminCalls(const std::string& id) {
  return {
      {"CreateChallenge",
       [](const Session& s) {
         return s.Create(SmallConfig("created-by-call")).status();
       }},
      {"SetPhase",
       [id](const Session& s) {
         return s.SetPhase(id, v1::PHASE_CLOSED).status();
       }},
      {"RegisterLearner",
       [](const Session& s) { return s.Register("newcomer").status(); }},
      {"RevokeLearner", [](const Session& s) { return s.Revoke("alice"); }},
      {"GrantBudget",
       [id](const Session& s) { return s.Grant(id, "alice", 1, 1).status(); }},
      {"ExportTranscripts",
       [id](const Session& s) { return s.Export(id).status(); }},
  };
}

void ExpectEveryCall(const std::vector<NamedCall>& calls,
                     const Session& session, absl::StatusCode code,
                     const std::string& message_part) {
  for (const NamedCall& c : calls) {
    const absl::Status status = c.call(session);
    EXPECT_EQ(status.code(), code) << c.name << ": " << status;
    EXPECT_THAT(MessageOf(status), HasSubstr(message_part)) << c.name;
  }
}

// theta and omega far from the secret's: every error is large.
LayerParams Perturbed(const LayerParams& secret, double scale, uint64_t seed) {
  Rng rng(seed);
  LayerParams p = secret;
  for (HeadParams& h : p.heads) {
    h.wq += RandomMatrix(rng, h.wq.rows(), h.wq.cols(), scale);
    h.wv += RandomMatrix(rng, h.wv.rows(), h.wv.cols(), scale);
  }
  return p;
}

std::vector<v1::TranscriptEntry> EntriesOf(
    const absl::StatusOr<v1::GetTranscriptResponse>& page) {
  EXPECT_TRUE(page.ok()) << page.status();
  if (!page.ok()) return {};
  return {page->entries().begin(), page->entries().end()};
}

bool SameMessage(const google::protobuf::Message& a,
                 const google::protobuf::Message& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

class CompetitionServiceTest : public CompetitionTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(CompetitionTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(CreateChallenge(SmallConfig(kCh)));
  }
};

// ---- The access matrix ------------------------------------------------

TEST_F(CompetitionServiceTest, MissingBadOrMalformedTokensAreUnauthenticated) {
  const std::string alice_token = RegisterToken("alice");
  struct Case {
    std::string authorization;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"", "Bearer TOKEN"},
      {"Bearer nope", "not valid"},
      {"Bearer ", "Bearer TOKEN"},
      {kAdminToken, "Bearer TOKEN"},                          // no scheme
      {absl::StrCat("Basic ", alice_token), "Bearer TOKEN"},  // other scheme
      {absl::StrCat("bearer ", alice_token), "Bearer TOKEN"},
      {absl::StrCat("Bearer ", alice_token, "x"), "not valid"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat("authorization \"", c.authorization, "\""));
    const Session session = As(c.authorization);
    ExpectEveryCall(OracleCalls(kCh, HiddenSecret(kCh)), session,
                    absl::StatusCode::kUnauthenticated, c.message_part);
    ExpectEveryCall(AdminCalls(kCh), session,
                    absl::StatusCode::kUnauthenticated, c.message_part);
  }
  // Nothing was charged or changed on the way.
  const Session alice = As(Bearer(alice_token));
  EXPECT_EQ(alice.GetUsage(kCh)->queries_used(), 0u);
  EXPECT_EQ(Admin().Describe(kCh)->phase(), v1::PHASE_OPEN);
}

TEST_F(CompetitionServiceTest, RevokedLearnerIsUnauthenticated) {
  const Session alice = Register("alice");
  const Session bob = Register("bob");
  ASSERT_TRUE(alice.Query(kCh, SmallSequences(1, 1, 1)).ok());
  ASSERT_TRUE(Admin().Revoke("alice").ok());
  ExpectEveryCall(OracleCalls(kCh, HiddenSecret(kCh)), alice,
                  absl::StatusCode::kUnauthenticated, "revoked");
  EXPECT_TRUE(bob.Query(kCh, SmallSequences(1, 1, 1)).ok());

  const absl::Status unknown = Admin().Revoke("zed");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(unknown), HasSubstr("no learner \"zed\""));

  // Revocation is stored.
  ASSERT_NO_FATAL_FAILURE(Restart());
  EXPECT_EQ(alice.GetUsage(kCh).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(bob.GetUsage(kCh).ok());
}

TEST_F(CompetitionServiceTest, LearnerCallingAdminRpcsIsPermissionDenied) {
  const Session alice = Register("alice");
  ExpectEveryCall(AdminCalls(kCh), alice, absl::StatusCode::kPermissionDenied,
                  "admin token");
  // None of them took effect.
  EXPECT_EQ(Admin().Describe(kCh)->phase(), v1::PHASE_OPEN);
  EXPECT_EQ(Admin().Describe("created-by-call").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(alice.GetUsage(kCh)->queries_left(), 40u);
  EXPECT_TRUE(Admin().Register("newcomer").ok());
}

TEST_F(CompetitionServiceTest, AdminTokenReadsPublicStateOnly) {
  const Session admin = Admin();
  EXPECT_TRUE(admin.List().ok());
  EXPECT_TRUE(admin.Describe(kCh).ok());
  EXPECT_TRUE(admin.Leaderboard(kCh).ok());
  const std::vector<Matrix> x = SmallSequences(1, 2, 1);
  const std::vector<NamedCall> learner_only = {
      {"Query", [&](const Session& s) { return s.Query(kCh, x).status(); }},
      {"QueryStream",
       [&](const Session& s) { return s.QueryOverStream(kCh, x).status(); }},
      {"Submit",
       [&](const Session& s) {
         return s.Submit(kCh, HiddenSecret(kCh)).status();
       }},
      {"GetUsage", [](const Session& s) { return s.GetUsage(kCh).status(); }},
      {"GetTranscript",
       [](const Session& s) { return s.Transcript(kCh).status(); }},
  };
  ExpectEveryCall(learner_only, admin, absl::StatusCode::kPermissionDenied,
                  "learner token");
  EXPECT_THAT(admin.Leaderboard(kCh)->entries(), IsEmpty());
}

TEST_F(CompetitionServiceTest, LearnerCannotRevealAnotherLearnersSecret) {
  v1::ChallengeConfig config = SmallConfig("mine");
  config.set_per_learner_secrets(true);
  ASSERT_NO_FATAL_FAILURE(CreateChallenge(config));
  const Session alice = Register("alice");
  const Session bob = Register("bob");
  ASSERT_NO_FATAL_FAILURE(SetPhase("mine", v1::PHASE_REVEALED));

  absl::StatusOr<v1::GetRevealResponse> other = alice.Reveal("mine", "bob");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(MessageOf(other.status()), HasSubstr("another learner"));

  absl::StatusOr<v1::GetRevealResponse> own = alice.Reveal("mine", "alice");
  ASSERT_TRUE(own.ok()) << own.status();
  absl::StatusOr<v1::GetRevealResponse> bobs = bob.Reveal("mine");
  ASSERT_TRUE(bobs.ok()) << bobs.status();
  absl::StatusOr<v1::GetRevealResponse> by_admin =
      Admin().Reveal("mine", "bob");
  ASSERT_TRUE(by_admin.ok()) << by_admin.status();
  EXPECT_TRUE(SameMessage(*by_admin, *bobs));
  EXPECT_NE(own->commitment(), bobs->commitment());
}

TEST_F(CompetitionServiceTest, LearnersSeeOnlyTheirOwnUsageAndTranscript) {
  const Session alice = Register("alice");
  const Session bob = Register("bob");
  const std::vector<Matrix> alice_x = SmallSequences(1, 2, 10);
  const std::vector<Matrix> bob_x = SmallSequences(3, 1, 20);
  ASSERT_TRUE(alice.Query(kCh, alice_x).ok());
  ASSERT_TRUE(bob.Query(kCh, bob_x).ok());
  ASSERT_TRUE(bob.Query(kCh, bob_x).ok());

  EXPECT_EQ(alice.GetUsage(kCh)->queries_used(), 1u);
  EXPECT_EQ(alice.GetUsage(kCh)->tokens_used(), 2u);
  EXPECT_EQ(bob.GetUsage(kCh)->queries_used(), 6u);
  EXPECT_EQ(bob.GetUsage(kCh)->tokens_used(), 6u);

  const std::vector<v1::TranscriptEntry> a = EntriesOf(alice.Transcript(kCh));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].learner(), "alice");
  EXPECT_EQ(a[0].request(), EncodeMatrices(alice_x));
  const std::vector<v1::TranscriptEntry> b = EntriesOf(bob.Transcript(kCh));
  ASSERT_EQ(b.size(), 2u);
  for (const v1::TranscriptEntry& e : b) {
    EXPECT_EQ(e.learner(), "bob");
    EXPECT_EQ(e.request(), EncodeMatrices(bob_x));
  }
  EXPECT_EQ(alice.Transcript(kCh)->total_entries(), 1u);
}

// ---- Open mode ---------------------------------------------------------

class OpenModeTest : public CompetitionTest {
 protected:
  void SetUp() override {
    options_.listen_address = "";
    options_.db_path = test::TempDbPath();
    ASSERT_NO_FATAL_FAILURE(Start());
  }
};

TEST_F(OpenModeTest, AdminIsRefusedAndEveryoneIsAnonymous) {
  EXPECT_FALSE(server_->competition_mode());
  for (const std::string& authorization :
       {std::string(), Bearer(kAdminToken), Bearer("anything")}) {
    SCOPED_TRACE(authorization);
    ExpectEveryCall(AdminCalls("tiny-d4"), As(authorization),
                    absl::StatusCode::kPermissionDenied, "admin-token-file");
  }
  const Session anyone = As("");
  absl::StatusOr<v1::QueryResponse> r =
      anyone.Query("tiny-d4", SmallSequences(2, 3, 1));
  ASSERT_TRUE(r.ok()) << r.status();
  // Any token is the same anonymous learner.
  absl::StatusOr<v1::Usage> usage = As(Bearer("whoever")).GetUsage("tiny-d4");
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->queries_used(), 2u);
  const std::vector<v1::TranscriptEntry> entries =
      EntriesOf(anyone.Transcript("tiny-d4"));
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].learner(), kAnonymousLearner);
  EXPECT_EQ(entries[0].chain_hash(), r->transcript_head());
  EXPECT_TRUE(anyone.Submit("tiny-d4", HiddenSecret("tiny-d4")).ok());
}

// ---- Learners ----------------------------------------------------------

TEST_F(CompetitionServiceTest, RegisterReturnsTheTokenOnceAndStoresItsHash) {
  absl::StatusOr<v1::RegisterLearnerResponse> alice = Admin().Register("alice");
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->learner(), "alice");
  const std::string token = alice->token();
  ASSERT_GE(token.size(), 32u);
  absl::StatusOr<v1::RegisterLearnerResponse> bob = Admin().Register("bob");
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_NE(bob->token(), token);

  absl::StatusOr<v1::RegisterLearnerResponse> again = Admin().Register("alice");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(MessageOf(again.status()), HasSubstr("\"alice\" already exists"));

  for (const std::string& bad :
       {std::string(""), std::string("Alice"), std::string("a b"),
        std::string("al/ice"), std::string(65, 'a'),
        std::string(kAnonymousLearner)}) {
    absl::StatusOr<v1::RegisterLearnerResponse> r = Admin().Register(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(MessageOf(r.status()), HasSubstr(absl::StrCat("\"", bad, "\"")))
        << bad;
    EXPECT_THAT(MessageOf(r.status()), HasSubstr("[a-z0-9._-]")) << bad;
  }
  EXPECT_TRUE(As(Bearer(token)).GetUsage(kCh).ok());

  // Only SHA-256(token) is stored: not the token, in no table and no page.
  server_.reset();
  {
    std::unique_ptr<SqliteStore> store = OpenStoreOrDie(options_.db_path);
    absl::StatusOr<std::vector<LearnerRecord>> learners = store->LoadLearners();
    ASSERT_TRUE(learners.ok()) << learners.status();
    ASSERT_EQ(learners->size(), 2u);
    EXPECT_EQ((*learners)[0].name, "alice");
    EXPECT_EQ((*learners)[0].token_hash, Sha256(token));
    EXPECT_FALSE((*learners)[0].revoked);
  }
  for (const char* suffix : {"", "-wal"}) {
    const std::string bytes = ReadFileBytes(options_.db_path + suffix);
    EXPECT_EQ(bytes.find(token), std::string::npos) << "file" << suffix;
    EXPECT_EQ(bytes.find(kAdminToken), std::string::npos) << "file" << suffix;
  }
  EXPECT_NE(ReadFileBytes(options_.db_path).find(Sha256(token)),
            std::string::npos);
}

// ---- Phases ------------------------------------------------------------

TEST_F(CompetitionServiceTest, PhasesGateQueriesSubmissionsAndReveals) {
  const Session alice = Register("alice");
  const std::vector<Matrix> x = SmallSequences(1, 2, 1);
  ASSERT_TRUE(alice.Query(kCh, x).ok());

  absl::StatusOr<v1::GetRevealResponse> early = alice.Reveal(kCh);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(early.status()), HasSubstr("is open"));
  EXPECT_THAT(MessageOf(early.status()), HasSubstr("revealed"));

  ASSERT_NO_FATAL_FAILURE(SetPhase(kCh, v1::PHASE_CLOSED));
  EXPECT_EQ(alice.Describe(kCh)->phase(), v1::PHASE_CLOSED);
  const std::vector<NamedCall> refused = {
      {"Query", [&](const Session& s) { return s.Query(kCh, x).status(); }},
      {"QueryStream",
       [&](const Session& s) { return s.QueryOverStream(kCh, x).status(); }},
      {"Submit",
       [&](const Session& s) {
         return s.Submit(kCh, HiddenSecret(kCh)).status();
       }},
      {"GetReveal", [](const Session& s) { return s.Reveal(kCh).status(); }},
  };
  ExpectEveryCall(refused, alice, absl::StatusCode::kFailedPrecondition,
                  "is closed");
  // Reading one's own state goes on.
  EXPECT_EQ(alice.GetUsage(kCh)->queries_used(), 1u);
  EXPECT_EQ(alice.Transcript(kCh)->entries_size(), 1);
  EXPECT_TRUE(alice.Leaderboard(kCh).ok());

  ASSERT_NO_FATAL_FAILURE(SetPhase(kCh, v1::PHASE_REVEALED));
  EXPECT_TRUE(alice.Reveal(kCh).ok());
  EXPECT_EQ(alice.Query(kCh, x).status().code(),
            absl::StatusCode::kFailedPrecondition);

  for (v1::Phase back : {v1::PHASE_OPEN, v1::PHASE_CLOSED}) {
    absl::StatusOr<v1::ChallengeInfo> r = Admin().SetPhase(kCh, back);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(MessageOf(r.status()), HasSubstr("only move forward"));
  }
  for (v1::Phase bad : {v1::PHASE_UNSPECIFIED, static_cast<v1::Phase>(7)}) {
    absl::StatusOr<v1::ChallengeInfo> r = Admin().SetPhase(kCh, bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(MessageOf(r.status()), HasSubstr("PHASE_OPEN"));
  }
  absl::StatusOr<v1::ChallengeInfo> unknown =
      Admin().SetPhase("nope", v1::PHASE_CLOSED);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(MessageOf(unknown.status()), HasSubstr("no challenge \"nope\""));
  EXPECT_EQ(Admin().Describe(kCh)->phase(), v1::PHASE_REVEALED);
}

// ---- Commit, reveal and transcripts -------------------------------------

struct RevealCase {
  std::string name;
  v1::Precision precision;
  double noise_sigma;
};

void PrintTo(const RevealCase& c, std::ostream* os) { *os << c.name; }

class RevealTest : public CompetitionTest,
                   public ::testing::WithParamInterface<RevealCase> {};

TEST_P(RevealTest, RevealedSecretReproducesEveryAnswerBitForBit) {
  v1::ChallengeConfig config = SmallConfig("reveal", 31);
  config.mutable_policy()->set_precision(GetParam().precision);
  config.mutable_policy()->set_noise_sigma(GetParam().noise_sigma);
  ASSERT_NO_FATAL_FAILURE(CreateChallenge(config));
  const Session alice = Register("alice");
  absl::StatusOr<v1::ChallengeInfo> described = alice.Describe("reveal");
  ASSERT_TRUE(described.ok()) << described.status();
  EXPECT_EQ(described->commitment().size(), kSha256Bytes);

  std::vector<v1::QueryResponse> responses;
  for (int tokens : {1, 3, 5}) {
    absl::StatusOr<v1::QueryResponse> r =
        alice.Query("reveal", SmallSequences(2, tokens, tokens));
    ASSERT_TRUE(r.ok()) << r.status();
    responses.push_back(*r);
  }
  ASSERT_NO_FATAL_FAILURE(SetPhase("reveal", v1::PHASE_REVEALED));
  absl::StatusOr<v1::GetRevealResponse> reveal = alice.Reveal("reveal");
  ASSERT_TRUE(reveal.ok()) << reveal.status();
  EXPECT_EQ(reveal->commitment(), described->commitment());
  EXPECT_EQ(reveal->prior_seed(), 31u);
  absl::StatusOr<test::RevealedLayer> layer = test::LayerOf(*reveal);
  ASSERT_TRUE(layer.ok()) << layer.status();
  EXPECT_EQ(Commitment(layer->secret, reveal->nonce()),
            described->commitment());

  const std::vector<v1::TranscriptEntry> entries =
      EntriesOf(alice.Transcript("reveal"));
  ASSERT_EQ(entries.size(), responses.size());
  EXPECT_TRUE(ReplayTranscript(*reveal, entries));
  // The transcript holds exactly what the answers carried.
  for (size_t i = 0; i < entries.size(); ++i) {
    std::vector<Matrix> outputs;
    for (const v1::Matrix& m : responses[i].outputs()) {
      outputs.push_back(*MatrixView(m, "output"));
    }
    EXPECT_EQ(entries[i].response(), EncodeMatrices(outputs)) << i;
    EXPECT_EQ(entries[i].chain_hash(), responses[i].transcript_head()) << i;
    EXPECT_EQ(entries[i].first_query_index(), responses[i].first_query_index());
    if (GetParam().precision == v1::PRECISION_FLOAT32) {
      for (const Matrix& y : outputs) {
        EXPECT_TRUE(y.cast<float>().cast<double>() == y) << "entry " << i;
      }
    }
  }

  // The replay can fail: a changed answer, or the wrong noise seed.
  std::vector<v1::TranscriptEntry> tampered = entries;
  std::string response = tampered[1].response();
  response[response.size() - 1] ^= 1;
  tampered[1].set_response(response);
  tampered[1].set_response_digest(Sha256(response));
  EXPECT_THAT(std::string(ReplayTranscript(*reveal, tampered).message()),
              HasSubstr("entry 1: chain hash"));
  v1::GetRevealResponse wrong_seed = *reveal;
  wrong_seed.set_noise_seed(reveal->noise_seed() + 1);
  EXPECT_EQ(static_cast<bool>(ReplayTranscript(wrong_seed, entries)),
            GetParam().noise_sigma == 0);
}

INSTANTIATE_TEST_SUITE_P(
    Policies, RevealTest,
    ::testing::Values(RevealCase{"Float64", v1::PRECISION_FLOAT64, 0},
                      RevealCase{"NoisyFloat64", v1::PRECISION_FLOAT64, 1e-3},
                      RevealCase{"Float32", v1::PRECISION_FLOAT32, 0},
                      RevealCase{"NoisyFloat32", v1::PRECISION_FLOAT32, 1e-2}),
    [](const ::testing::TestParamInfo<RevealCase>& info) {
      return info.param.name;
    });

TEST_F(CompetitionServiceTest, TranscriptChainsAndPages) {
  const Session alice = Register("alice");
  std::vector<std::string> heads;
  for (int i = 0; i < 5; ++i) {
    // Unary and streamed queries share one chain.
    const std::vector<Matrix> x = SmallSequences(1 + i % 2, 2, i);
    absl::StatusOr<v1::QueryResponse> r =
        i == 2 ? alice.QueryOverStream(kCh, x) : alice.Query(kCh, x);
    ASSERT_TRUE(r.ok()) << r.status();
    heads.push_back(r->transcript_head());
  }
  const std::vector<v1::TranscriptEntry> all = EntriesOf(alice.Transcript(kCh));
  ASSERT_EQ(all.size(), 5u);
  std::string previous;
  uint64_t first_query_index = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].index(), i);
    EXPECT_EQ(all[i].first_query_index(), first_query_index);
    first_query_index += 1 + i % 2;
    EXPECT_EQ(all[i].request_digest(),
              RequestDigest(all[i].first_query_index(), all[i].request()));
    EXPECT_EQ(all[i].response_digest(), Sha256(all[i].response()));
    EXPECT_EQ(all[i].chain_hash(), ChainHash(previous, all[i].request_digest(),
                                             all[i].response_digest()));
    EXPECT_EQ(all[i].chain_hash(), heads[i]);
    EXPECT_GT(all[i].answered_unix_ms(), 0);
    previous = all[i].chain_hash();
  }

  struct Page {
    uint64_t first;
    uint32_t max;
    std::vector<uint64_t> indices;
  };
  for (const Page& p :
       {Page{0, 2, {0, 1}}, Page{2, 2, {2, 3}}, Page{4, 2, {4}}, Page{5, 2, {}},
        Page{9, 0, {}}, Page{1, 0, {1, 2, 3, 4}}}) {
    absl::StatusOr<v1::GetTranscriptResponse> page =
        alice.Transcript(kCh, p.first, p.max);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->total_entries(), 5u);
    std::vector<uint64_t> indices;
    for (const v1::TranscriptEntry& e : page->entries()) {
      indices.push_back(e.index());
      EXPECT_TRUE(SameMessage(e, all[e.index()]));
    }
    EXPECT_EQ(indices, p.indices) << "from " << p.first << " max " << p.max;
  }
}

TEST_F(CompetitionServiceTest, PerLearnerSecretsSeparateLearners) {
  v1::ChallengeConfig config = SmallConfig("own", 5);
  config.set_per_learner_secrets(true);
  ASSERT_NO_FATAL_FAILURE(CreateChallenge(config));
  const Session alice = Register("alice");
  const Session bob = Register("bob");
  const std::vector<Matrix> x = SmallSequences(1, 3, 1);
  absl::StatusOr<v1::QueryResponse> a = alice.Query("own", x);
  absl::StatusOr<v1::QueryResponse> b = bob.Query("own", x);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(BitwiseEqual(*MatrixView(a->outputs(0), "a"),
                            *MatrixView(b->outputs(0), "b")));

  const std::string alice_commitment = alice.Describe("own")->commitment();
  const std::string bob_commitment = bob.Describe("own")->commitment();
  EXPECT_EQ(alice_commitment.size(), kSha256Bytes);
  EXPECT_NE(alice_commitment, bob_commitment);
  EXPECT_THAT(Admin().Describe("own")->commitment(), IsEmpty());
  EXPECT_TRUE(Admin().Describe("own")->per_learner_secrets());

  ASSERT_NO_FATAL_FAILURE(SetPhase("own", v1::PHASE_REVEALED));
  absl::StatusOr<v1::GetRevealResponse> alice_reveal = alice.Reveal("own");
  absl::StatusOr<v1::GetRevealResponse> bob_reveal = bob.Reveal("own");
  ASSERT_TRUE(alice_reveal.ok() && bob_reveal.ok());
  EXPECT_EQ(alice_reveal->commitment(), alice_commitment);
  EXPECT_EQ(bob_reveal->commitment(), bob_commitment);
  const std::vector<v1::TranscriptEntry> alice_entries =
      EntriesOf(alice.Transcript("own"));
  const std::vector<v1::TranscriptEntry> bob_entries =
      EntriesOf(bob.Transcript("own"));
  EXPECT_TRUE(ReplayTranscript(*alice_reveal, alice_entries));
  EXPECT_TRUE(ReplayTranscript(*bob_reveal, bob_entries));
  EXPECT_THAT(
      std::string(ReplayTranscript(*alice_reveal, bob_entries).message()),
      HasSubstr("entry 0: answer 0 differs"));
  EXPECT_FALSE(ReplayTranscript(*bob_reveal, alice_entries));
}

// ---- Submissions and the leaderboard ------------------------------------

TEST_F(CompetitionServiceTest, SubmissionLimitIsPerLearner) {
  v1::ChallengeConfig config = SmallConfig("limited");
  config.mutable_scoring()->set_max_submissions(2);
  ASSERT_NO_FATAL_FAILURE(CreateChallenge(config));
  const Session alice = Register("alice");
  const LayerParams& secret = HiddenSecret("limited");
  for (uint32_t left : {1u, 0u}) {
    absl::StatusOr<v1::SubmitResponse> r = alice.Submit("limited", secret);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->submissions_left(), left);
  }
  absl::StatusOr<v1::SubmitResponse> third = alice.Submit("limited", secret);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(MessageOf(third.status()), HasSubstr("submission limit"));
  EXPECT_THAT(MessageOf(third.status()), HasSubstr("2 submissions"));
  EXPECT_TRUE(Register("bob").Submit("limited", secret).ok());
  // Refused submissions are not stored.
  absl::StatusOr<v1::GetLeaderboardResponse> board =
      Admin().Leaderboard("limited");
  ASSERT_TRUE(board.ok()) << board.status();
  ASSERT_EQ(board->entries_size(), 2);
  for (const v1::LeaderboardEntry& e : board->entries()) {
    EXPECT_EQ(e.submissions(), e.learner() == "alice" ? 2u : 1u);
  }
}

// Learners racing their own submissions never get past the limit.
TEST_F(CompetitionServiceTest, SubmissionLimitHoldsUnderConcurrency) {
  constexpr int kThreads = 8;
  constexpr int kLimit = 2;
  v1::ChallengeConfig config = SmallConfig("limited");
  config.mutable_scoring()->set_max_submissions(kLimit);
  ASSERT_NO_FATAL_FAILURE(CreateChallenge(config));
  const Session alice = Register("alice");
  const LayerParams secret = HiddenSecret("limited");
  std::latch start(kThreads);
  std::vector<absl::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      results[t] = alice.Submit("limited", secret).status();
    });
  }
  for (std::thread& t : threads) t.join();
  int accepted = 0;
  for (const absl::Status& s : results) {
    if (s.ok()) {
      ++accepted;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
    }
  }
  EXPECT_EQ(accepted, kLimit);
  absl::StatusOr<v1::GetLeaderboardResponse> board =
      Admin().Leaderboard("limited");
  ASSERT_TRUE(board.ok()) << board.status();
  ASSERT_EQ(board->entries_size(), 1);
  EXPECT_EQ(board->entries(0).submissions(), static_cast<uint32_t>(kLimit));
}

// 2 significant digits, computed independently of the server.
double Round2(double x) { return std::stod(absl::StrFormat("%.1e", x)); }

TEST_F(CompetitionServiceTest, FeedbackModesShowWhatTheScoringAllows) {
  for (auto [id, feedback] : {std::pair{"full", v1::FEEDBACK_FULL},
                              std::pair{"rounded", v1::FEEDBACK_ROUNDED},
                              std::pair{"passfail", v1::FEEDBACK_PASS_FAIL}}) {
    v1::ChallengeConfig config = SmallConfig(id, 77);  // one secret for all
    config.mutable_scoring()->set_feedback(feedback);
    ASSERT_NO_FATAL_FAILURE(CreateChallenge(config));
  }
  const Session alice = Register("alice");
  const Session bob = Register("bob");
  const LayerParams wrong = Perturbed(HiddenSecret("full"), 0.3, 1);

  absl::StatusOr<v1::SubmitResponse> full = alice.Submit("full", wrong);
  ASSERT_TRUE(full.ok()) << full.status();
  const v1::Score& f = full->score();
  EXPECT_EQ(f.feedback(), v1::FEEDBACK_FULL);
  EXPECT_GT(f.functional_rel_err(), 1e-3);
  EXPECT_FALSE(f.passed());

  absl::StatusOr<v1::SubmitResponse> rounded = alice.Submit("rounded", wrong);
  ASSERT_TRUE(rounded.ok()) << rounded.status();
  const v1::Score& r = rounded->score();
  EXPECT_EQ(r.feedback(), v1::FEEDBACK_ROUNDED);
  EXPECT_NE(r.functional_rel_err(), f.functional_rel_err());
  EXPECT_DOUBLE_EQ(r.functional_rel_err(), Round2(f.functional_rel_err()));
  EXPECT_DOUBLE_EQ(r.max_abs_err(), Round2(f.max_abs_err()));
  EXPECT_DOUBLE_EQ(r.theta_rel_err(), Round2(f.theta_rel_err()));
  EXPECT_DOUBLE_EQ(r.omega_rel_err(), Round2(f.omega_rel_err()));
  EXPECT_EQ(r.bits(), std::round(f.bits()));

  absl::StatusOr<v1::SubmitResponse> failed = alice.Submit("passfail", wrong);
  ASSERT_TRUE(failed.ok()) << failed.status();
  absl::StatusOr<v1::SubmitResponse> passed =
      bob.Submit("passfail", HiddenSecret("passfail"));
  ASSERT_TRUE(passed.ok()) << passed.status();
  for (const v1::Score* s : {&failed->score(), &passed->score()}) {
    EXPECT_EQ(s->feedback(), v1::FEEDBACK_PASS_FAIL);
    EXPECT_EQ(s->functional_rel_err(), 0);
    EXPECT_EQ(s->max_abs_err(), 0);
    EXPECT_EQ(s->bits(), 0);
    EXPECT_EQ(s->theta_rel_err(), 0);
    EXPECT_EQ(s->omega_rel_err(), 0);
  }
  EXPECT_FALSE(failed->score().passed());
  EXPECT_TRUE(passed->score().passed());

  // Learners see the leaderboard as their feedback allows...
  absl::StatusOr<v1::GetLeaderboardResponse> seen = bob.Leaderboard("passfail");
  ASSERT_TRUE(seen.ok()) << seen.status();
  ASSERT_EQ(seen->entries_size(), 2);
  EXPECT_EQ(seen->entries(0).learner(), "bob");
  EXPECT_TRUE(seen->entries(0).score().passed());
  EXPECT_FALSE(seen->entries(1).score().passed());
  EXPECT_EQ(seen->entries(1).score().functional_rel_err(), 0);
  absl::StatusOr<v1::GetLeaderboardResponse> seen_rounded =
      bob.Leaderboard("rounded");
  ASSERT_TRUE(seen_rounded.ok()) << seen_rounded.status();
  EXPECT_EQ(seen_rounded->entries(0).score().functional_rel_err(),
            r.functional_rel_err());

  // ... and the organiser always sees the full metrics.
  for (const char* id : {"full", "rounded", "passfail"}) {
    SCOPED_TRACE(id);
    absl::StatusOr<v1::GetLeaderboardResponse> board = Admin().Leaderboard(id);
    ASSERT_TRUE(board.ok()) << board.status();
    const v1::LeaderboardEntry* alices = nullptr;
    for (const v1::LeaderboardEntry& e : board->entries()) {
      if (e.learner() == "alice") alices = &e;
    }
    ASSERT_NE(alices, nullptr);
    const v1::Score& s = alices->score();
    EXPECT_EQ(s.functional_rel_err(), f.functional_rel_err());
    EXPECT_EQ(s.max_abs_err(), f.max_abs_err());
    EXPECT_EQ(s.bits(), f.bits());
    EXPECT_EQ(s.theta_rel_err(), f.theta_rel_err());
    EXPECT_EQ(s.omega_rel_err(), f.omega_rel_err());
    EXPECT_FALSE(s.passed());
    EXPECT_EQ(s.feedback(), v1::FEEDBACK_FULL);
  }
  absl::StatusOr<v1::GetLeaderboardResponse> organiser =
      Admin().Leaderboard("passfail");
  ASSERT_TRUE(organiser.ok());
  EXPECT_EQ(organiser->entries(0).learner(), "bob");
  EXPECT_TRUE(organiser->entries(0).score().passed());
}

TEST_F(CompetitionServiceTest, LeaderboardRanksByErrorThenTokensThenTime) {
  const LayerParams& secret = HiddenSecret(kCh);
  const Session alice = Register("alice");
  const Session bob = Register("bob");
  const Session carol = Register("carol");
  const Session dave = Register("dave");
  ASSERT_TRUE(alice.Query(kCh, SmallSequences(1, 3, 1)).ok());
  ASSERT_TRUE(carol.Query(kCh, SmallSequences(1, 1, 2)).ok());
  ASSERT_TRUE(dave.Query(kCh, SmallSequences(1, 1, 3)).ok());

  // bob: wrong with no tokens; alice: exact with 3 tokens, first; carol and
  // dave: exact with 1 token, carol before dave; alice's later worse
  // submission does not replace her best.
  ASSERT_TRUE(bob.Submit(kCh, Perturbed(secret, 0.1, 2)).ok());
  ASSERT_TRUE(alice.Submit(kCh, secret).ok());
  ASSERT_TRUE(carol.Submit(kCh, secret).ok());
  ASSERT_TRUE(dave.Submit(kCh, secret).ok());
  ASSERT_TRUE(alice.Submit(kCh, Perturbed(secret, 0.1, 3)).ok());

  for (const Session& viewer : {Admin(), bob}) {
    absl::StatusOr<v1::GetLeaderboardResponse> board = viewer.Leaderboard(kCh);
    ASSERT_TRUE(board.ok()) << board.status();
    std::vector<std::string> order;
    for (const v1::LeaderboardEntry& e : board->entries()) {
      order.push_back(e.learner());
      EXPECT_EQ(e.rank(), order.size());
    }
    EXPECT_THAT(order, ElementsAre("carol", "dave", "alice", "bob"));
    ASSERT_EQ(board->entries_size(), 4);
    EXPECT_EQ(board->entries(2).submissions(), 2u);
    EXPECT_EQ(board->entries(2).score().functional_rel_err(), 0);
    EXPECT_EQ(board->entries(2).score().tokens_used(), 3u);
    EXPECT_EQ(board->entries(0).score().tokens_used(), 1u);
    EXPECT_LT(board->entries(0).submission_id(),
              board->entries(1).submission_id());
    EXPECT_GT(board->entries(3).score().functional_rel_err(), 0);
  }
}

// ---- Budgets and exports ------------------------------------------------

TEST_F(CompetitionServiceTest, GrantBudgetRaisesALearnersBudget) {
  const Session alice = Register("alice");
  const Session bob = Register("bob");
  ASSERT_TRUE(alice.Query(kCh, SmallSequences(40, 1, 1)).ok());
  absl::StatusOr<v1::QueryResponse> refused =
      alice.Query(kCh, SmallSequences(1, 1, 2));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);

  absl::StatusOr<v1::Usage> granted = Admin().Grant(kCh, "alice", 5, 0);
  ASSERT_TRUE(granted.ok()) << granted.status();
  EXPECT_EQ(granted->queries_used(), 40u);
  EXPECT_EQ(granted->queries_left(), 5u);
  EXPECT_EQ(granted->tokens_left(), 360u);
  EXPECT_EQ(alice.GetUsage(kCh)->queries_left(), 5u);
  EXPECT_EQ(bob.GetUsage(kCh)->queries_left(), 40u);
  absl::StatusOr<v1::QueryResponse> more =
      alice.Query(kCh, SmallSequences(5, 1, 3));
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_EQ(more->usage().queries_left(), 0u);

  // Grants survive a restart.
  ASSERT_TRUE(Admin().Grant(kCh, "bob", 0, 100).ok());
  ASSERT_NO_FATAL_FAILURE(Restart());
  EXPECT_EQ(bob.GetUsage(kCh)->tokens_left(), 500u);
  EXPECT_EQ(alice.GetUsage(kCh)->queries_used(), 45u);

  struct Bad {
    std::string challenge;
    std::string learner;
    uint64_t queries;
    uint64_t tokens;
    absl::StatusCode code;
    std::string message;
  };
  for (const Bad& b :
       {Bad{kCh, "zed", 1, 1, absl::StatusCode::kNotFound,
            "no learner \"zed\""},
        Bad{"nope", "alice", 1, 1, absl::StatusCode::kNotFound,
            "no challenge \"nope\""},
        Bad{kCh, "alice", 0, 0, absl::StatusCode::kInvalidArgument,
            "greater than 0"},
        Bad{kCh, "alice", UINT64_MAX, 0, absl::StatusCode::kInvalidArgument,
            "overflow"}}) {
    absl::StatusOr<v1::Usage> r =
        Admin().Grant(b.challenge, b.learner, b.queries, b.tokens);
    EXPECT_EQ(r.status().code(), b.code) << b.message;
    EXPECT_THAT(MessageOf(r.status()), HasSubstr(b.message));
  }
  EXPECT_EQ(alice.GetUsage(kCh)->queries_left(), 0u);
}

TEST_F(CompetitionServiceTest, ExportReturnsEveryLearnersEntries) {
  const Session alice = Register("alice");
  const Session bob = Register("bob");
  ASSERT_TRUE(bob.Query(kCh, SmallSequences(1, 1, 1)).ok());
  ASSERT_TRUE(alice.Query(kCh, SmallSequences(2, 2, 2)).ok());
  ASSERT_TRUE(alice.Query(kCh, SmallSequences(1, 3, 3)).ok());

  absl::StatusOr<std::vector<v1::TranscriptEntry>> exported =
      Admin().Export(kCh);
  ASSERT_TRUE(exported.ok()) << exported.status();
  std::vector<v1::TranscriptEntry> expected = EntriesOf(alice.Transcript(kCh));
  for (const v1::TranscriptEntry& e : EntriesOf(bob.Transcript(kCh))) {
    expected.push_back(e);
  }
  ASSERT_EQ(exported->size(), 3u);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_FALSE((*exported)[i].learner().empty());
    EXPECT_TRUE(SameMessage((*exported)[i], expected[i]))
        << i << ": " << (*exported)[i].learner() << " #"
        << (*exported)[i].index();
  }

  absl::StatusOr<std::vector<v1::TranscriptEntry>> empty =
      Admin().Export("tiny-d4");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_THAT(*empty, IsEmpty());
  EXPECT_EQ(Admin().Export("nope").status().code(),
            absl::StatusCode::kNotFound);
}

// ---- Restarts -------------------------------------------------------------

TEST_F(CompetitionServiceTest, RestartKeepsEverything) {
  const std::string alice_token = RegisterToken("alice");
  const Session alice = As(Bearer(alice_token));
  const Session bob = Register("bob");
  const Session carol = Register("carol");
  ASSERT_TRUE(alice.Query(kCh, SmallSequences(2, 3, 1)).ok());
  ASSERT_TRUE(alice.Query(kCh, SmallSequences(1, 1, 2)).ok());
  ASSERT_TRUE(bob.Query(kCh, SmallSequences(1, 2, 3)).ok());
  ASSERT_TRUE(alice.Submit(kCh, HiddenSecret(kCh)).ok());
  ASSERT_TRUE(bob.Submit(kCh, Perturbed(HiddenSecret(kCh), 0.1, 4)).ok());
  ASSERT_TRUE(Admin().Grant(kCh, "bob", 3, 0).ok());
  ASSERT_TRUE(Admin().Revoke("carol").ok());
  ASSERT_NO_FATAL_FAILURE(SetPhase(kCh, v1::PHASE_CLOSED));

  const v1::Usage alice_usage = *alice.GetUsage(kCh);
  const v1::Usage bob_usage = *bob.GetUsage(kCh);
  const v1::GetTranscriptResponse alice_transcript = *alice.Transcript(kCh);
  const v1::GetTranscriptResponse bob_transcript = *bob.Transcript(kCh);
  const v1::GetLeaderboardResponse board = *Admin().Leaderboard(kCh);
  const v1::ChallengeInfo info = *alice.Describe(kCh);
  const v1::ListChallengesResponse list = *Admin().List();

  ASSERT_NO_FATAL_FAILURE(Restart());

  absl::StatusOr<v1::Usage> usage = alice.GetUsage(kCh);
  ASSERT_TRUE(usage.ok()) << usage.status();  // the token still works
  EXPECT_TRUE(SameMessage(*usage, alice_usage));
  EXPECT_TRUE(SameMessage(*bob.GetUsage(kCh), bob_usage));
  EXPECT_TRUE(SameMessage(*alice.Transcript(kCh), alice_transcript));
  EXPECT_TRUE(SameMessage(*bob.Transcript(kCh), bob_transcript));
  EXPECT_TRUE(SameMessage(*Admin().Leaderboard(kCh), board));
  EXPECT_TRUE(SameMessage(*alice.Describe(kCh), info));
  EXPECT_TRUE(SameMessage(*Admin().List(), list));
  EXPECT_EQ(info.phase(), v1::PHASE_CLOSED);
  EXPECT_EQ(alice.Query(kCh, SmallSequences(1, 1, 5)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(carol.GetUsage(kCh).status().code(),
            absl::StatusCode::kUnauthenticated);

  // The restarted server reveals the very secret that answered before.
  ASSERT_NO_FATAL_FAILURE(SetPhase(kCh, v1::PHASE_REVEALED));
  absl::StatusOr<v1::GetRevealResponse> reveal = alice.Reveal(kCh);
  ASSERT_TRUE(reveal.ok()) << reveal.status();
  EXPECT_EQ(reveal->commitment(), info.commitment());
  EXPECT_TRUE(ReplayTranscript(*reveal, std::vector<v1::TranscriptEntry>(
                                            alice_transcript.entries().begin(),
                                            alice_transcript.entries().end())));
}

TEST_F(CompetitionServiceTest, RestartContinuesCountsAndChains) {
  v1::ChallengeConfig config = SmallConfig("noisy", 9);
  config.mutable_policy()->set_noise_sigma(1e-3);
  ASSERT_NO_FATAL_FAILURE(CreateChallenge(config));
  const Session alice = Register("alice");
  ASSERT_TRUE(alice.Query("noisy", SmallSequences(3, 2, 1)).ok());
  ASSERT_NO_FATAL_FAILURE(Restart());
  absl::StatusOr<v1::QueryResponse> after =
      alice.Query("noisy", SmallSequences(2, 2, 2));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->first_query_index(), 3u);
  EXPECT_EQ(after->usage().queries_used(), 5u);

  ASSERT_NO_FATAL_FAILURE(SetPhase("noisy", v1::PHASE_REVEALED));
  const std::vector<v1::TranscriptEntry> entries =
      EntriesOf(alice.Transcript("noisy"));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].chain_hash(), after->transcript_head());
  absl::StatusOr<v1::GetRevealResponse> reveal = alice.Reveal("noisy");
  ASSERT_TRUE(reveal.ok()) << reveal.status();
  EXPECT_TRUE(ReplayTranscript(*reveal, entries));
}

std::string WriteConfig(const std::string& name, const std::string& text) {
  const std::string path = test::TempPath(name, ".textproto");
  std::ofstream(path) << text;
  return path;
}

TEST_F(CompetitionServiceTest, ConfigDifferingFromTheStoreIsRefused) {
  options_.config_path =
      WriteConfig("a",
                  "challenge { id: \"cfg\" spec { d_model: 3 } "
                  "prior { seed: 1 } }");
  ASSERT_NO_FATAL_FAILURE(Restart());
  const std::string commitment = Admin().Describe("cfg")->commitment();
  server_.reset();

  options_.config_path =
      WriteConfig("b",
                  "challenge { id: \"cfg\" spec { d_model: 3 } "
                  "prior { seed: 2 } }");
  absl::StatusOr<std::unique_ptr<OracleServer>> refused =
      OracleServer::BuildAndStart(options_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(refused.status()), HasSubstr("\"cfg\""));
  EXPECT_THAT(MessageOf(refused.status()), HasSubstr("differs"));

  // The same configuration again serves the same hidden layer.
  options_.config_path =
      WriteConfig("c",
                  "challenge { id: \"cfg\" spec { d_model: 3 } "
                  "prior { seed: 1 } }");
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_EQ(Admin().Describe("cfg")->commitment(), commitment);
}

TEST_F(CompetitionServiceTest, CreateChallengeRefusesDuplicatesAndBadConfigs) {
  absl::StatusOr<v1::ChallengeInfo> duplicate =
      Admin().Create(SmallConfig(kCh));
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(MessageOf(duplicate.status()),
              HasSubstr("\"comp\" already exists"));
  v1::ChallengeConfig bad = SmallConfig("bad");
  bad.mutable_spec()->set_d_model(0);
  absl::StatusOr<v1::ChallengeInfo> invalid = Admin().Create(bad);
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(invalid.status()), HasSubstr("d_model"));

  absl::StatusOr<v1::ChallengeInfo> created =
      Admin().Create(SmallConfig("fresh"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->phase(), v1::PHASE_OPEN);
  EXPECT_EQ(created->spec().head_dim(), 4u);
  EXPECT_EQ(created->commitment().size(), kSha256Bytes);
}

}  // namespace
}  // namespace attnoracle
