// Submit through the real OracleServer in process (OracleClient and the raw
// stub), and the scorer and OracleCore::Submit underneath: the true secret
// scores perfectly on every built-in challenge, bad hypotheses get
// INVALID_ARGUMENT naming the field, usage and its ratio to the counting
// bound are reported, submission ids are unique under concurrency, the
// submission limit is exact under racing submissions and survives a
// restart, and a slow store write holds up no other learner's submission.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <latch>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "attnoracle/v1/oracle.grpc.pb.h"
#include "client/oracle_client.h"
#include "common/codec.h"
#include "common/grpc/grpc_status.h"
#include "common/layer_comparison.h"
#include "common/prior.h"
#include "common/retry_hint.h"
#include "server/core/challenge_registry.h"
#include "server/core/oracle_core.h"
#include "server/core/scorer.h"
#include "server/service/oracle_server.h"
#include "tests/server/core_fixture.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::AdminPrincipal;
using ::attnoracle::test::BitwiseEqual;
using ::attnoracle::test::CoreHarness;
using ::attnoracle::test::ForwardingStore;
using ::attnoracle::test::LearnerPrincipal;
using ::attnoracle::test::MessageOf;
using ::attnoracle::test::OpenStoreOrDie;
using ::attnoracle::test::RandomMatrix;
using ::attnoracle::test::TempDbPath;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr double kPerfectFunctionalRelErr = 1e-24;
constexpr double kPerfectParamRelErr = 1e-12;
// The exact secret scores kMaxBits; an equivalent reparameterisation loses
// a few ulp of outputs of order 1 to rounding.
constexpr double kPerfectBits = 50;
constexpr double kEquivalentBits = 44;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

constexpr char kSingle[] = "single-head-d16";
constexpr char kLast[] = "last-token-d16";
constexpr char kTwoHead[] = "two-head-d16";
constexpr double kSingleBoundTokens = 32;
constexpr double kLastBoundSequences = 32;

class SubmitServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.listen_address = "";  // in process only
    absl::StatusOr<std::unique_ptr<OracleServer>> server =
        OracleServer::BuildAndStart(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = server_->InProcessChannel();
    client_ = std::make_unique<OracleClient>(channel_, ClientOptions{});
    stub_ = v1::Oracle::NewStub(channel_);
  }

  const Challenge& ChallengeOf(const std::string& id) const {
    absl::StatusOr<std::shared_ptr<Challenge>> c = server_->registry().Find(id);
    EXPECT_TRUE(c.ok()) << c.status();
    return **c;
  }

  // The secret the open-mode caller ("anonymous") is answered with.
  const LayerParams& SecretOf(const std::string& id) const {
    return ChallengeOf(id).SecretFor(kAnonymousLearner)->params;
  }

  std::unique_ptr<OracleServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<OracleClient> client_;
  std::unique_ptr<v1::Oracle::Stub> stub_;
};

void ExpectPerfect(const Score& s, double min_bits = kPerfectBits) {
  EXPECT_LT(s.functional_rel_err, kPerfectFunctionalRelErr);
  EXPECT_GE(s.bits, min_bits);
  EXPECT_LT(s.theta_rel_err, kPerfectParamRelErr);
  EXPECT_LT(s.omega_rel_err, kPerfectParamRelErr);
}

TEST_F(SubmitServiceTest, TrueSecretScoresPerfectlyOnEveryChallenge) {
  for (const std::shared_ptr<Challenge>& c : server_->registry().List()) {
    SCOPED_TRACE(c->id());
    absl::StatusOr<SubmitResult> a =
        client_->Submit(c->id(), c->SecretFor(kAnonymousLearner)->params);
    ASSERT_TRUE(a.ok()) << a.status();
    ExpectPerfect(a->score);
    EXPECT_EQ(a->score.max_abs_err, 0);
    EXPECT_EQ(a->score.bits, kMaxBits);
  }
}

TEST_F(SubmitServiceTest, SubmissionIdsIncreaseFromOne) {
  const LayerParams& secret = SecretOf(kSingle);
  for (uint64_t expected = 1; expected <= 3; ++expected) {
    absl::StatusOr<SubmitResult> a = client_->Submit(kSingle, secret);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->submission_id, expected);
  }
}

TEST_F(SubmitServiceTest, ProductFormThroughTheStub) {
  const LayerSpec& spec = ChallengeOf(kTwoHead).config().spec;
  const LayerParams& secret = SecretOf(kTwoHead);
  v1::SubmitRequest request;
  request.set_challenge_id(kTwoHead);
  for (int h : {1, 0}) {
    v1::HeadParams* head = request.mutable_hypothesis()->add_heads();
    MatrixToProto(Theta(spec, secret.heads[h]), head->mutable_theta());
    MatrixToProto(Omega(secret.heads[h]), head->mutable_omega());
  }
  grpc::ClientContext context;
  v1::SubmitResponse response;
  ASSERT_TRUE(stub_->Submit(&context, request, &response).ok());
  ExpectPerfect(ScoreFromProto(response.score()), kEquivalentBits);
}

TEST_F(SubmitServiceTest, PerturbedSecretScoresWorse) {
  Rng rng(5);
  LayerParams hypothesis = SecretOf(kSingle);
  hypothesis.heads[0].wq += 1e-4 * RandomMatrix(rng, 16, 16);
  absl::StatusOr<SubmitResult> a = client_->Submit(kSingle, hypothesis);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_GT(a->score.functional_rel_err, 1e-14);
  EXPECT_LT(a->score.functional_rel_err, 1e-6);
  EXPECT_GT(a->score.theta_rel_err, 1e-6);
  EXPECT_EQ(a->score.omega_rel_err, 0);
  EXPECT_LT(a->score.bits, kPerfectBits);
}

TEST_F(SubmitServiceTest, WrongShapeIsInvalidArgumentNamingTheField) {
  const LayerParams& secret = SecretOf(kSingle);
  LayerParams hypothesis = secret;
  hypothesis.heads[0].wk = hypothesis.heads[0].wk.topRows(15).eval();
  absl::StatusOr<SubmitResult> a = client_->Submit(kSingle, hypothesis);
  ASSERT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(a.status().message(), HasSubstr("heads[0].wk"));
  // No secret value leaks into the message.
  EXPECT_THAT(a.status().message(),
              Not(HasSubstr(absl::StrCat(secret.heads[0].wq(0, 0)))));

  LayerParams two_heads = secret;
  two_heads.heads.push_back(secret.heads[0]);
  a = client_->Submit(kSingle, two_heads);
  ASSERT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(a.status().message(), HasSubstr("heads"));

  LayerParams with_bias = secret;
  with_bias.bo = Vector::Zero(16);
  a = client_->Submit(kSingle, with_bias);
  ASSERT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(a.status().message(), HasSubstr("bo"));
}

TEST_F(SubmitServiceTest, NaNIsInvalidArgumentNamingTheField) {
  LayerParams hypothesis = SecretOf(kTwoHead);
  hypothesis.heads[1].wo(2, 3) = kNaN;
  absl::StatusOr<SubmitResult> a = client_->Submit(kTwoHead, hypothesis);
  ASSERT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(a.status().message(), HasSubstr("heads[1].wo"));
  EXPECT_THAT(a.status().message(), HasSubstr("non-finite"));
}

TEST_F(SubmitServiceTest, MalformedProtoIsInvalidArgument) {
  v1::SubmitRequest request;
  request.set_challenge_id(kSingle);
  v1::HeadParams* head = request.mutable_hypothesis()->add_heads();
  MatrixToProto(Matrix::Identity(16, 16), head->mutable_theta());
  MatrixToProto(Matrix::Identity(16, 16), head->mutable_wq());  // both ways
  grpc::ClientContext context;
  v1::SubmitResponse response;
  const absl::Status status =
      FromGrpcStatus(stub_->Submit(&context, request, &response));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("heads[0]"));

  grpc::ClientContext context2;
  v1::SubmitRequest empty;
  empty.set_challenge_id(kSingle);
  EXPECT_EQ(FromGrpcStatus(stub_->Submit(&context2, empty, &response)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SubmitServiceTest, UnknownChallengeIsNotFound) {
  absl::StatusOr<SubmitResult> a =
      client_->Submit("no-such-challenge", SecretOf(kSingle));
  EXPECT_EQ(a.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(a.status().message(), HasSubstr("no-such-challenge"));
}

TEST_F(SubmitServiceTest, ReportsUsageAndRatioToTheBound) {
  Rng rng(3);
  const std::vector<Matrix> sequences = {RandomMatrix(rng, 1, 16),
                                         RandomMatrix(rng, 2, 16),
                                         RandomMatrix(rng, 5, 16)};
  for (const char* id : {kSingle, kLast}) {
    SCOPED_TRACE(id);
    absl::StatusOr<SubmitResult> before = client_->Submit(id, SecretOf(id));
    ASSERT_TRUE(before.ok()) << before.status();
    EXPECT_EQ(before->score.queries_used, 0u);
    EXPECT_EQ(before->score.tokens_used, 0u);
    EXPECT_EQ(before->score.tokens_to_bound, 0);
    EXPECT_EQ(before->score.queries_to_bound, 0);
    ASSERT_TRUE(client_->Query(id, sequences).ok());
    absl::StatusOr<SubmitResult> after = client_->Submit(id, SecretOf(id));
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_EQ(after->score.queries_used, 3u);
    EXPECT_EQ(after->score.tokens_used, 8u);
  }
  // Full readout counts tokens, last-position readout sequences.
  absl::StatusOr<SubmitResult> single =
      client_->Submit(kSingle, SecretOf(kSingle));
  ASSERT_TRUE(single.ok());
  EXPECT_DOUBLE_EQ(single->score.tokens_to_bound, 8 / kSingleBoundTokens);
  EXPECT_EQ(single->score.queries_to_bound, 0);
  absl::StatusOr<SubmitResult> last = client_->Submit(kLast, SecretOf(kLast));
  ASSERT_TRUE(last.ok());
  EXPECT_DOUBLE_EQ(last->score.queries_to_bound, 3 / kLastBoundSequences);
  EXPECT_EQ(last->score.tokens_to_bound, 0);
}

ChallengeConfig Config(const std::string& id, const LayerSpec& spec,
                       uint64_t seed) {
  ChallengeConfig config;
  config.id = id;
  config.spec = spec;
  config.prior.seed = seed;
  return config;
}

TEST(ScorerTest, ProbeSetIsDrawnFromThePriorSeed) {
  absl::StatusOr<ChallengeConfig> c =
      ResolveChallenge(Config("probe", {.d_model = 6}, 42));
  ASSERT_TRUE(c.ok()) << c.status();
  const Scorer scorer(c->spec, c->prior.seed, DrawSecret(c->spec, c->prior));
  const std::vector<Matrix> expected = DrawProbeSet(
      c->spec, 42, kProbeTypicalLengthTokens, kProbeSequencesPerLength);
  ASSERT_EQ(scorer.probes().size(), 4u * kProbeSequencesPerLength);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(BitwiseEqual(scorer.probes()[i], expected[i]));
  }
  EXPECT_EQ(scorer.probes().front().rows(), 1);
  EXPECT_EQ(scorer.probes().back().rows(), 4 * kProbeTypicalLengthTokens);
  EXPECT_EQ(scorer.bound().units, 12);  // 2 * 6 * 6 / 6
}

// Examples-only and both alike: the probes come from the example
// distribution (here signs, 5 tokens), not the gaussian set.
TEST(ScorerTest, ProbeSetFollowsTheExampleDistributionWhereThereIsOne) {
  absl::StatusOr<ChallengeConfig> c =
      ResolveChallenge(Config("probe", {.d_model = 6}, 42));
  ASSERT_TRUE(c.ok()) << c.status();
  const LayerParams secret = DrawSecret(c->spec, c->prior);
  for (Access access : {Access::kExamples, Access::kBoth}) {
    AccessPolicy policy;
    policy.access = access;
    policy.examples.inputs = InputDistribution::kSigns;
    policy.examples.tokens = 5;
    policy.examples.scale = 2;
    const Scorer scorer(c->spec, 42, secret, policy);
    const std::vector<Matrix> expected = DrawExampleProbeSet(
        c->spec, policy.examples, 42, kProbeSequencesPerLength);
    ASSERT_EQ(scorer.probes().size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_TRUE(BitwiseEqual(scorer.probes()[i], expected[i]));
      EXPECT_EQ(scorer.probes()[i].rows(), 5);
      EXPECT_TRUE((scorer.probes()[i].array().abs() == 2).all());
    }
  }
  const Scorer queries(c->spec, 42, secret, AccessPolicy{});
  EXPECT_EQ(queries.probes().front().rows(), 1);
}

// transformer-ffn-d8's class reports ffn_rel_err: the secret with its
// units permuted and rescaled scores 0, a perturbed unit does not; a class
// without an FFN block omits it and says why. Under signs the output scale
// is not compared.
TEST(ScorerTest, FfnRelErrWhereTheClassIdentifiesUnits) {
  absl::StatusOr<ChallengeConfig> c =
      ResolveChallenge(Config("ffn",
                              {.d_model = 8,
                               .readout = Readout::kLast,
                               .has_ffn = true,
                               .ffn = {.hidden = 16, .out_dim = 1}},
                              42));
  ASSERT_TRUE(c.ok()) << c.status();
  const LayerParams secret = DrawSecret(c->spec, c->prior);
  LayerParams regauged = secret;
  for (int j = 0; j < 16; ++j) {
    const int from = (j + 5) % 16;
    const double scale = 0.5 + j;
    regauged.ffn.w1.col(j) = scale * secret.ffn.w1.col(from);
    regauged.ffn.w2.row(j) = secret.ffn.w2.row(from) / scale;
  }
  const Scorer scorer(c->spec, c->prior.seed, secret);
  const Score same = scorer.ScoreHypothesis(regauged, Usage{});
  EXPECT_FALSE(same.ffn_omitted);
  EXPECT_TRUE(same.omega_omitted);
  EXPECT_LE(same.ffn_rel_err, kPerfectParamRelErr);
  EXPECT_LE(same.functional_rel_err, kPerfectFunctionalRelErr);
  LayerParams perturbed = secret;
  perturbed.ffn.w2(7, 0) += 0.01;
  EXPECT_GT(scorer.ScoreHypothesis(perturbed, Usage{}).ffn_rel_err, 1e-4);

  AccessPolicy signs;
  signs.answers = Answers::kSign;
  const Scorer sign_scorer(c->spec, c->prior.seed, secret, signs);
  LayerParams doubled = regauged;
  doubled.ffn.w2 *= 2;
  EXPECT_LE(sign_scorer.ScoreHypothesis(doubled, Usage{}).ffn_rel_err,
            kPerfectParamRelErr);
  EXPECT_GT(scorer.ScoreHypothesis(doubled, Usage{}).ffn_rel_err, 0.1);

  absl::StatusOr<ChallengeConfig> plain =
      ResolveChallenge(Config("plain", {.d_model = 6}, 42));
  ASSERT_TRUE(plain.ok()) << plain.status();
  const Scorer plain_scorer(plain->spec, 42,
                            DrawSecret(plain->spec, plain->prior));
  const Score omitted = plain_scorer.ScoreHypothesis(
      DrawSecret(plain->spec, plain->prior), Usage{});
  EXPECT_TRUE(omitted.ffn_omitted);
  EXPECT_EQ(omitted.ffn_rel_err, 0);
  EXPECT_THAT(omitted.parameter_note, HasSubstr("no FFN block"));
}

TEST(OracleCoreSubmitTest, ErrorsAndConcurrentIds) {
  CoreHarness h;
  ASSERT_TRUE(
      h.registry.Create(Config("core", {.d_model = 4, .heads = 2}, 7)).ok());
  const LayerParams secret = (*h.registry.Find("core"))->SecretFor("")->params;

  EXPECT_EQ(
      h.core.Submit(LearnerPrincipal("a"), "nope", secret).status().code(),
      absl::StatusCode::kNotFound);
  LayerParams bad = secret;
  bad.heads[1].wv(0, 0) = kNaN;
  absl::StatusOr<SubmitResult> r =
      h.core.Submit(LearnerPrincipal("a"), "core", bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("heads[1].wv"));

  constexpr int kThreads = 4;
  constexpr int kSubmitsPerThread = 5;
  std::vector<std::vector<uint64_t>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSubmitsPerThread; ++i) {
        absl::StatusOr<SubmitResult> s = h.core.Submit(
            LearnerPrincipal(absl::StrCat("learner", t)), "core", secret);
        ASSERT_TRUE(s.ok()) << s.status();
        EXPECT_LT(s->score.functional_rel_err, kPerfectFunctionalRelErr);
        ids[t].push_back(s->submission_id);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<uint64_t> all;
  for (const auto& v : ids) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  std::vector<uint64_t> expected(kThreads * kSubmitsPerThread);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = i + 1;
  EXPECT_EQ(all, expected);
}

// Many learners racing many submissions to two challenges: each learner
// gets exactly max_submissions on each, submissions_left counting down
// through every value once, and the leaderboard and the store agree.
TEST(OracleCoreSubmitTest, LimitIsExactUnderRacingSubmits) {
  constexpr uint32_t kLimit = 3;
  constexpr int kLearners = 4;
  constexpr int kThreadsPerLearner = 8;
  constexpr int kTriesPerThread = 2;
  const std::vector<std::string> challenges = {"race-a", "race-b"};
  CoreHarness h;
  for (const std::string& id : challenges) {
    ChallengeConfig config = Config(id, {.d_model = 8}, 11);
    config.scoring.max_submissions = kLimit;
    ASSERT_TRUE(h.registry.Create(config).ok());
  }
  using Key = std::pair<std::string, std::string>;  // challenge, learner
  absl::Mutex mu;
  std::map<Key, std::vector<uint32_t>> left;  // of each accepted submission
  int refused = 0;
  const int threads_total =
      static_cast<int>(challenges.size()) * kLearners * kThreadsPerLearner;
  std::latch start(threads_total);
  std::vector<std::thread> threads;
  for (const std::string& id : challenges) {
    const LayerParams secret = (*h.registry.Find(id))->SecretFor("")->params;
    for (int l = 0; l < kLearners; ++l) {
      for (int t = 0; t < kThreadsPerLearner; ++t) {
        threads.emplace_back([&, id, secret, l] {
          const Principal learner = LearnerPrincipal(absl::StrCat("l", l));
          start.arrive_and_wait();
          for (int i = 0; i < kTriesPerThread; ++i) {
            absl::StatusOr<SubmitResult> r = h.core.Submit(learner, id, secret);
            absl::MutexLock lock(&mu);
            if (r.ok()) {
              left[Key{id, learner.name}].push_back(r->submissions_left);
            } else {
              EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
                  << r.status();
              ++refused;
            }
          }
        });
      }
    }
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& id : challenges) {
    for (int l = 0; l < kLearners; ++l) {
      const std::string learner = absl::StrCat("l", l);
      const std::vector<uint32_t>& counted_down = left[Key{id, learner}];
      EXPECT_THAT(counted_down, UnorderedElementsAre(2u, 1u, 0u))
          << id << " " << learner;
    }
    absl::StatusOr<std::vector<LeaderboardRow>> board =
        h.core.GetLeaderboard(AdminPrincipal(), id);
    ASSERT_TRUE(board.ok()) << board.status();
    ASSERT_EQ(board->size(), static_cast<size_t>(kLearners));
    for (const LeaderboardRow& row : *board) {
      EXPECT_EQ(row.submissions, kLimit) << id << " " << row.learner;
    }
    absl::StatusOr<std::vector<SubmissionRecord>> stored =
        h.sqlite->LoadSubmissions(id);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->size(), kLimit * kLearners);
  }
  EXPECT_EQ(refused, threads_total * kTriesPerThread -
                         static_cast<int>(challenges.size()) * kLearners *
                             static_cast<int>(kLimit));
}

// The core's parts over `store`, loaded, in open mode.
// A core over `store`; two scoring threads, so that one held up in a slow
// store write leaves the other to score (with one, every submission would
// queue behind the write: the pool bounds the cores scoring may take).
struct CoreOver {
  explicit CoreOver(Store* store)
      : registry(store),
        ledger(store),
        auth(store, ""),
        core(&registry, &ledger, &auth, store, {},
             {.threads = 2, .max_queued = test::kHarnessQueuedSubmissions}) {
    EXPECT_TRUE(registry.Load().ok());
    EXPECT_TRUE(ledger.Load().ok());
    EXPECT_TRUE(auth.Load().ok());
  }

  ChallengeRegistry registry;
  Ledger ledger;
  Authenticator auth;
  OracleCore core;
};

// What a leaderboard row shows, flattened so a failure prints it.
std::vector<std::string> Shown(const std::vector<LeaderboardRow>& rows) {
  std::vector<std::string> out;
  for (const LeaderboardRow& r : rows) {
    out.push_back(absl::StrCat(r.rank, " ", r.learner, " #", r.submission_id,
                               " at ", r.submitted_ms, " of ", r.submissions,
                               " err ", r.score.functional_rel_err));
  }
  return out;
}

TEST(OracleCoreSubmitTest, CountsAndBestSurviveARestart) {
  const std::string path = TempDbPath();
  constexpr char kId[] = "kept";
  std::vector<std::string> before;
  LayerParams secret;
  {
    std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
    CoreOver c(store.get());
    ChallengeConfig config = Config(kId, {.d_model = 2}, 5);
    config.scoring.max_submissions = 2;
    ASSERT_TRUE(c.registry.Create(config).ok());
    secret = (*c.registry.Find(kId))->SecretFor("")->params;
    LayerParams worse = secret;
    worse.heads[0].wv(0, 0) += 0.5;
    for (const auto& [learner, hypothesis] :
         {std::pair{"alice", worse}, std::pair{"alice", secret},
          std::pair{"bob", worse}}) {
      ASSERT_TRUE(
          c.core.Submit(LearnerPrincipal(learner), kId, hypothesis).ok());
    }
    absl::StatusOr<std::vector<LeaderboardRow>> board =
        c.core.GetLeaderboard(AdminPrincipal(), kId);
    ASSERT_TRUE(board.ok()) << board.status();
    ASSERT_EQ(board->size(), 2u);
    EXPECT_EQ((*board)[0].learner, "alice");
    EXPECT_EQ((*board)[0].submission_id, 2u);
    EXPECT_EQ((*board)[0].submissions, 2u);
    EXPECT_EQ((*board)[1].learner, "bob");
    EXPECT_EQ((*board)[1].submissions, 1u);
    before = Shown(*board);
  }
  std::unique_ptr<SqliteStore> store = OpenStoreOrDie(path);
  CoreOver c(store.get());
  absl::StatusOr<std::vector<LeaderboardRow>> board =
      c.core.GetLeaderboard(AdminPrincipal(), kId);
  ASSERT_TRUE(board.ok()) << board.status();
  EXPECT_EQ(Shown(*board), before);
  absl::StatusOr<SubmitResult> alice =
      c.core.Submit(LearnerPrincipal("alice"), kId, secret);
  EXPECT_EQ(alice.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(MessageOf(alice.status()),
            "submission limit reached: 2 submissions per learner on \"kept\"");
  absl::StatusOr<SubmitResult> bob =
      c.core.Submit(LearnerPrincipal("bob"), kId, secret);
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_EQ(bob->submission_id, 4u);
  EXPECT_EQ(bob->submissions_left, 0u);
}

// Holds learner "slow"'s InsertSubmission until `release`, after notifying
// `reached`.
class SlowInsertStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  absl::StatusOr<SubmissionRecord> InsertSubmission(
      const SubmissionRecord& record) override {
    if (record.learner == "slow") {
      reached.Notify();
      release.WaitForNotification();
    }
    return ForwardingStore::InsertSubmission(record);
  }

  absl::Notification reached;
  absl::Notification release;
};

// How long the other submissions may take while the slow one is stuck in
// the store before the test calls them held up (they take milliseconds).
// A std::future waits for them: Debian's absl::Mutex is not instrumented
// for ThreadSanitizer, and tests/tsan_absl_mutex.cc does not annotate the
// timed wait of absl::Notification.
constexpr std::chrono::seconds kHeldUpAfter{60};

TEST(OracleCoreSubmitTest, AStoreWriteInProgressHoldsUpNoOtherSubmission) {
  std::unique_ptr<SqliteStore> sqlite = OpenStoreOrDie(":memory:");
  SlowInsertStore store(sqlite.get());
  CoreOver c(&store);
  for (const char* id : {"a", "b"}) {
    ChallengeConfig config = Config(id, {.d_model = 2}, 3);
    config.scoring.max_submissions = 1;
    ASSERT_TRUE(c.registry.Create(config).ok());
  }
  const LayerParams a = (*c.registry.Find("a"))->SecretFor("")->params;
  const LayerParams b = (*c.registry.Find("b"))->SecretFor("")->params;
  std::thread slow([&] {
    absl::StatusOr<SubmitResult> r =
        c.core.Submit(LearnerPrincipal("slow"), "a", a);
    EXPECT_TRUE(r.ok()) << r.status();
  });
  store.reached.WaitForNotification();
  std::promise<void> others_done;
  std::thread others([&] {
    absl::StatusOr<SubmitResult> same_challenge =
        c.core.Submit(LearnerPrincipal("fast"), "a", a);
    EXPECT_TRUE(same_challenge.ok()) << same_challenge.status();
    absl::StatusOr<SubmitResult> other_challenge =
        c.core.Submit(LearnerPrincipal("fast"), "b", b);
    EXPECT_TRUE(other_challenge.ok()) << other_challenge.status();
    // The slow learner's place is taken while its write is under way.
    EXPECT_EQ(c.core.Submit(LearnerPrincipal("slow"), "a", a).status().code(),
              absl::StatusCode::kResourceExhausted);
    absl::StatusOr<std::vector<LeaderboardRow>> board =
        c.core.GetLeaderboard(AdminPrincipal(), "a");
    EXPECT_TRUE(board.ok()) << board.status();
    if (board.ok()) {
      EXPECT_THAT(Shown(*board), ElementsAre(HasSubstr(" fast #")));
    }
    others_done.set_value();
  });
  EXPECT_EQ(others_done.get_future().wait_for(kHeldUpAfter),
            std::future_status::ready)
      << "submissions and a leaderboard read waited on another learner's "
         "store write";
  store.release.Notify();
  slow.join();
  others.join();
  absl::StatusOr<std::vector<LeaderboardRow>> board =
      c.core.GetLeaderboard(AdminPrincipal(), "a");
  ASSERT_TRUE(board.ok()) << board.status();
  EXPECT_EQ(board->size(), 2u);
}

// Hypotheses wider than d_model gain nothing (theta and omega have rank at
// most d_model) and are refused before any scoring, naming the head.
TEST(OracleCoreSubmitTest, FactorsWiderThanDModelAreRefused) {
  CoreHarness h;
  ASSERT_TRUE(h.registry.Create(Config("wide", {.d_model = 4}, 7)).ok());
  const LayerParams secret = (*h.registry.Find("wide"))->SecretFor("")->params;
  // The same function, factored at width d_model: accepted.
  LayerParams square = secret;
  square.heads[0].wq =
      Theta(ResolveSpec({.d_model = 4}).value(), secret.heads[0]) /
      ResolveSpec({.d_model = 4})->score_scale;
  square.heads[0].wk = Matrix::Identity(4, 4);
  absl::StatusOr<SubmitResult> ok =
      h.core.Submit(LearnerPrincipal("a"), "wide", square);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_LT(ok->score.functional_rel_err, 1e-20);

  LayerParams wide_key = secret;
  wide_key.heads[0].wq = Matrix::Zero(4, 5);
  wide_key.heads[0].wk = Matrix::Zero(4, 5);
  absl::StatusOr<SubmitResult> r =
      h.core.Submit(LearnerPrincipal("a"), "wide", wide_key);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("heads[0].wq"));
  EXPECT_THAT(r.status().message(), HasSubstr("at most 4"));

  LayerParams wide_value = secret;
  wide_value.heads[0].wv = Matrix::Zero(4, 9);
  wide_value.heads[0].wo = Matrix::Zero(9, 4);
  r = h.core.Submit(LearnerPrincipal("a"), "wide", wide_value);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("heads[0].wv"));
}

// With the scoring thread busy and no room to wait, a submission is
// refused at once with a retry hint, its place given back; scoring goes on
// once the thread is free.
TEST(OracleCoreSubmitTest, FullScoringQueueIsRefusedWithRetryHint) {
  CoreHarness h("", {.threads = 1, .max_queued = 0});
  ChallengeConfig config = Config("busy", {.d_model = 4}, 7);
  config.scoring.max_submissions = 2;
  ASSERT_TRUE(h.registry.Create(config).ok());
  const LayerParams secret = (*h.registry.Find("busy"))->SecretFor("")->params;
  absl::Notification scored, release;
  // The callback holds the only scoring thread until released.
  ASSERT_TRUE(h.core
                  .SubmitAsync(LearnerPrincipal("a"), "busy", secret,
                               [&](absl::StatusOr<SubmitResult> r) {
                                 EXPECT_TRUE(r.ok()) << r.status();
                                 scored.Notify();
                                 release.WaitForNotification();
                               })
                  .ok());
  scored.WaitForNotification();
  absl::StatusOr<SubmitResult> refused =
      h.core.Submit(LearnerPrincipal("a"), "busy", secret);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("server is busy"));
  EXPECT_TRUE(RetryAfter(refused.status()).has_value());
  release.Notify();
  // The refused one did not use up the learner's second submission.
  absl::StatusOr<SubmitResult> second;
  for (int i = 0; i < 1000; ++i) {
    second = h.core.Submit(LearnerPrincipal("a"), "busy", secret);
    if (second.status().code() != absl::StatusCode::kResourceExhausted ||
        !absl::StrContains(second.status().message(), "server is busy")) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->submissions_left, 0u);
}

}  // namespace
}  // namespace attnoracle
