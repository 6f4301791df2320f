// VerifyTranscript against transcripts built here with the same common/
// functions the server uses (Forward, DegradeAnswer, EncodeMatrices, Sha256,
// ChainHash): honest transcripts verify under every precision and noise
// setting, and each kind of tampering (a byte of a request, an answer, a
// digest or a chain hash; a forged but re-chained answer; the nonce, the
// noise seed, the query index, the order of entries) fails at exactly the
// entry it touched, with the documented code.
#include "client/verify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/access_policy.h"
#include "common/attention.h"
#include "common/hashing.h"
#include "common/prior.h"
#include "common/rng.h"
#include "common/transcript.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using test::MessageOf;
using ::testing::HasSubstr;

constexpr char kLearner[] = "alice";
constexpr int kEntries = 6;

struct Scenario {
  RevealedChallenge reveal;
  std::string commitment;  // as published before the reveal
  std::vector<TranscriptEntry> entries;
};

// Sets request/response digests and chain hashes of entries[from..] from
// their bytes, as a forger who controls the server would.
void Rechain(std::vector<TranscriptEntry>& entries, size_t from) {
  std::string previous = from == 0 ? "" : entries[from - 1].chain_hash;
  for (size_t k = from; k < entries.size(); ++k) {
    TranscriptEntry& e = entries[k];
    e.request_digest = RequestDigest(e.first_query_index, e.request);
    e.response_digest = Sha256(e.response);
    e.chain_hash = ChainHash(previous, e.request_digest, e.response_digest);
    previous = e.chain_hash;
  }
}

// The honest answers to `sequences`, as the server computes them.
std::vector<Matrix> Answer(const RevealedChallenge& r,
                           const std::vector<Matrix>& sequences,
                           uint64_t first_query_index) {
  std::vector<Matrix> answers;
  for (size_t i = 0; i < sequences.size(); ++i) {
    Matrix y = Forward(r.config.spec, r.secret, sequences[i]);
    DegradeAnswer(r.config.policy, r.noise_seed, first_query_index + i, y);
    answers.push_back(std::move(y));
  }
  return answers;
}

Scenario MakeScenario(const LayerSpec& raw_spec, const AccessPolicy& raw_policy,
                      uint64_t seed = 7) {
  Scenario s;
  s.reveal.config.id = "verify-test";
  s.reveal.config.spec = *ResolveSpec(raw_spec);
  s.reveal.config.policy = *ResolvePolicy(raw_policy);
  s.reveal.config.prior = Prior{.scale = 0, .seed = seed};
  s.reveal.secret = DrawSecret(s.reveal.config.spec, s.reveal.config.prior);
  s.reveal.nonce = "a nonce of sixteen";
  s.reveal.prior_seed = seed;
  s.reveal.noise_seed =
      DeriveSeed(seed, RngStream::kNoise, LearnerStreamIndex(kLearner));
  s.commitment = Commitment(s.reveal.secret, s.reveal.nonce);
  s.reveal.commitment = s.commitment;
  Rng rng(seed);
  uint64_t query_index = 0;
  for (int k = 0; k < kEntries; ++k) {
    std::vector<Matrix> sequences;
    const int count = test::UniformInt(rng, 1, 3);
    for (int i = 0; i < count; ++i) {
      sequences.push_back(test::RandomMatrix(rng, test::UniformInt(rng, 1, 5),
                                             s.reveal.config.spec.d_model));
    }
    TranscriptEntry e;
    e.learner = kLearner;
    e.index = k;
    e.first_query_index = query_index;
    e.request = EncodeMatrices(sequences);
    e.response = EncodeMatrices(Answer(s.reveal, sequences, query_index));
    s.entries.push_back(std::move(e));
    query_index += sequences.size();
  }
  Rechain(s.entries, 0);
  return s;
}

absl::StatusOr<VerifiedTranscript> Verify(const Scenario& s) {
  return VerifyTranscript(s.reveal, s.commitment, s.entries);
}

// Flips the low bit of the byte `from_end` bytes before the end: inside the
// last value of the last matrix, so the bytes still decode.
void FlipByte(std::string& bytes, size_t from_end = 3) {
  bytes[bytes.size() - 1 - from_end] ^= 1;
}

void ExpectFailsAt(const absl::StatusOr<VerifiedTranscript>& v,
                   absl::StatusCode code, const std::string& message) {
  ASSERT_FALSE(v.ok()) << "verified, expected: " << message;
  EXPECT_EQ(v.status().code(), code) << v.status();
  EXPECT_EQ(MessageOf(v.status()), message);
}

const LayerSpec kSpec{.d_model = 4, .heads = 1};
AccessPolicy Policy(Precision precision, double noise_sigma) {
  AccessPolicy p;
  p.precision = precision;
  p.noise_sigma = noise_sigma;
  return p;
}

const AccessPolicy kExact = Policy(Precision::kFloat64, 0);
const AccessPolicy kNoisy = Policy(Precision::kFloat64, 1e-3);
const AccessPolicy kFloat32 = Policy(Precision::kFloat32, 0);
const AccessPolicy kNoisyFloat32 = Policy(Precision::kFloat32, 1e-2);

struct Variant {
  const char* name;
  LayerSpec spec;
  AccessPolicy policy;
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

class HonestTranscriptTest : public ::testing::TestWithParam<Variant> {};

TEST_P(HonestTranscriptTest, Verifies) {
  const Scenario s = MakeScenario(GetParam().spec, GetParam().policy);
  absl::StatusOr<VerifiedTranscript> v = Verify(s);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->entries, static_cast<uint64_t>(kEntries));
  uint64_t sequences = 0, tokens = 0;
  for (const TranscriptEntry& e : s.entries) {
    const std::vector<Matrix> request = *DecodeMatrices(e.request);
    for (const Matrix& x : request) {
      ++sequences;
      tokens += x.rows();
    }
  }
  EXPECT_EQ(v->sequences, sequences);
  EXPECT_EQ(v->tokens, tokens);
  EXPECT_EQ(v->chain_head, s.entries.back().chain_hash);
}

INSTANTIATE_TEST_SUITE_P(
    Policies, HonestTranscriptTest,
    ::testing::Values(
        Variant{"exact", kSpec, kExact}, Variant{"noisy", kSpec, kNoisy},
        Variant{"float32", kSpec, kFloat32},
        Variant{"noisy_float32", kSpec, kNoisyFloat32},
        Variant{"two_heads_causal_biases_last",
                LayerSpec{.d_model = 6,
                          .heads = 2,
                          .mask = Mask::kCausal,
                          .readout = Readout::kLast,
                          .biases = true},
                kNoisy},
        // The seed papers' classes.
        Variant{
            "scalar_last",
            LayerSpec{.d_model = 4, .out_dim = 1, .readout = Readout::kLast},
            kNoisy},
        Variant{
            "ffn_biases_residual",
            LayerSpec{.d_model = 4,
                      .has_ffn = true,
                      .ffn = {.hidden = 3, .biases = true, .residual = true}},
            kFloat32},
        Variant{"multi_query",
                LayerSpec{.d_model = 4, .heads = 2, .kv_heads = 1}, kExact},
        Variant{"linear_causal",
                LayerSpec{.d_model = 4,
                          .mask = Mask::kCausal,
                          .attention = Attention::kLinear},
                kNoisy},
        Variant{"tied_stack_biases",
                LayerSpec{.d_model = 4,
                          .heads = 2,
                          .biases = true,
                          .layers = 3,
                          .residual = true,
                          .tie_qk = true},
                kNoisyFloat32}),
    [](const ::testing::TestParamInfo<Variant>& info) {
      return std::string(info.param.name);
    });

TEST(VerifyTranscriptTest, ForgedAnswerOfAStackFailsAtItsEntry) {
  Scenario s = MakeScenario(LayerSpec{.d_model = 4,
                                      .heads = 2,
                                      .layers = 2,
                                      .residual = true,
                                      .tie_qk = true,
                                      .has_ffn = true,
                                      .ffn = {.hidden = 3, .residual = true}},
                            kExact);
  ASSERT_TRUE(Verify(s).ok());
  // A forger's answer, re-chained: only the replay through the revealed
  // stack can tell.
  FlipByte(s.entries[2].response);
  Rechain(s.entries, 2);
  const absl::StatusOr<VerifiedTranscript> v = Verify(s);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << v.status();
  EXPECT_THAT(MessageOf(v.status()), HasSubstr("entry 2"));
  EXPECT_THAT(MessageOf(v.status()), HasSubstr("differs from the revealed"));
}

TEST(VerifyTranscriptTest, EmptyTranscriptChecksOnlyTheCommitment) {
  Scenario s = MakeScenario(kSpec, kExact);
  s.entries.clear();
  absl::StatusOr<VerifiedTranscript> v = Verify(s);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->entries, 0u);
  EXPECT_EQ(v->chain_head, "");
  s.reveal.nonce = "another nonce";
  ExpectFailsAt(Verify(s), absl::StatusCode::kFailedPrecondition,
                "commitment does not match the revealed secret");
}

TEST(VerifyTranscriptTest, WrongNonceFailsTheCommitment) {
  Scenario s = MakeScenario(kSpec, kNoisy);
  FlipByte(s.reveal.nonce, 0);
  ExpectFailsAt(Verify(s), absl::StatusCode::kFailedPrecondition,
                "commitment does not match the revealed secret");
}

TEST(VerifyTranscriptTest, ChecksThePublishedCommitmentNotTheRevealedOne) {
  // A server that reveals another secret with a matching commitment of its
  // own is caught by the commitment published before the queries.
  Scenario s = MakeScenario(kSpec, kExact);
  s.reveal.secret = DrawSecret(s.reveal.config.spec, Prior{.seed = 8});
  s.reveal.commitment = Commitment(s.reveal.secret, s.reveal.nonce);
  ExpectFailsAt(Verify(s), absl::StatusCode::kFailedPrecondition,
                "commitment does not match the revealed secret");
}

TEST(VerifyTranscriptTest, CommitmentMustBeASha256Digest) {
  Scenario s = MakeScenario(kSpec, kExact);
  s.commitment = "";
  absl::StatusOr<VerifiedTranscript> v = Verify(s);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(v.status()), HasSubstr("0 bytes"));
}

TEST(VerifyTranscriptTest, SecretThatDoesNotFitTheSpec) {
  Scenario s = MakeScenario(kSpec, kExact);
  s.reveal.secret.heads[0].wq = Matrix::Zero(3, 4);
  s.commitment = Commitment(s.reveal.secret, s.reveal.nonce);
  absl::StatusOr<VerifiedTranscript> v = Verify(s);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(v.status()), HasSubstr("does not fit"));
}

class TamperTest : public ::testing::TestWithParam<AccessPolicy> {};

TEST_P(TamperTest, RequestByte) {
  Scenario s = MakeScenario(kSpec, GetParam());
  FlipByte(s.entries[3].request);
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 3: request digest does not match the request");
}

TEST_P(TamperTest, ResponseByte) {
  Scenario s = MakeScenario(kSpec, GetParam());
  FlipByte(s.entries[4].response);
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 4: response digest does not match the response");
}

TEST_P(TamperTest, DigestBytes) {
  Scenario s = MakeScenario(kSpec, GetParam());
  FlipByte(s.entries[2].request_digest, 10);
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 2: request digest does not match the request");
  s = MakeScenario(kSpec, GetParam());
  FlipByte(s.entries[5].response_digest, 0);
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 5: response digest does not match the response");
}

TEST_P(TamperTest, ChainHashByte) {
  Scenario s = MakeScenario(kSpec, GetParam());
  FlipByte(s.entries[1].chain_hash, 31);
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 1: chain hash does not match");
}

TEST_P(TamperTest, ChainThatSkipsAnEntry) {
  // Every entry is self-consistent, but entry 3 does not chain to 2.
  Scenario s = MakeScenario(kSpec, GetParam());
  s.entries[3].chain_hash =
      ChainHash(s.entries[1].chain_hash, s.entries[3].request_digest,
                s.entries[3].response_digest);
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 3: chain hash does not match");
}

TEST_P(TamperTest, ForgedAnswerWithAConsistentChain) {
  // A forger who also rewrites digests and chain is caught by the replay,
  // at the sequence it changed.
  Scenario s = MakeScenario(kSpec, GetParam());
  const size_t k = 2;
  std::vector<Matrix> answers = *DecodeMatrices(s.entries[k].response);
  const size_t i = answers.size() - 1;
  answers[i](0, 0) = std::nextafter(answers[i](0, 0), 1e300);
  s.entries[k].response = EncodeMatrices(answers);
  Rechain(s.entries, k);
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 2: answer to sequence " + std::to_string(i) +
                    " differs from the revealed layer");
}

TEST_P(TamperTest, ForgedQuestionWithAConsistentChain) {
  Scenario s = MakeScenario(kSpec, GetParam());
  std::vector<Matrix> sequences = *DecodeMatrices(s.entries[5].request);
  sequences[0](0, 0) += 0.5;
  s.entries[5].request = EncodeMatrices(sequences);
  Rechain(s.entries, 5);
  ExpectFailsAt(
      Verify(s), absl::StatusCode::kDataLoss,
      "entry 5: answer to sequence 0 differs from the revealed layer");
}

TEST_P(TamperTest, MissingEntry) {
  Scenario s = MakeScenario(kSpec, GetParam());
  s.entries.erase(s.entries.begin() + 2);
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 2: index is 3; entries must run from 0 in order");
}

TEST_P(TamperTest, SwappedEntries) {
  Scenario s = MakeScenario(kSpec, GetParam());
  std::swap(s.entries[0], s.entries[1]);
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 0: index is 1; entries must run from 0 in order");
}

TEST_P(TamperTest, TruncatedTranscriptStillVerifies) {
  // A prefix of a chain is a valid chain: the caller compares its length
  // with what it was charged.
  Scenario s = MakeScenario(kSpec, GetParam());
  s.entries.resize(4);
  ASSERT_TRUE(Verify(s).ok());
}

INSTANTIATE_TEST_SUITE_P(Policies, TamperTest,
                         ::testing::Values(kExact, kNoisy, kFloat32,
                                           kNoisyFloat32));

TEST(VerifyTranscriptTest, NoiseIsReplayedFromTheLearnersSeed) {
  // Answers noised with another seed than the revealed (derived) one.
  Scenario s = MakeScenario(kSpec, kNoisy);
  RevealedChallenge other = s.reveal;
  other.noise_seed += 1;
  s.entries[2].response =
      EncodeMatrices(Answer(other, *DecodeMatrices(s.entries[2].request),
                            s.entries[2].first_query_index));
  Rechain(s.entries, 2);
  ExpectFailsAt(
      Verify(s), absl::StatusCode::kDataLoss,
      "entry 2: answer to sequence 0 differs from the revealed layer");
}

// The organiser cannot reveal a secret or a noise seed of its choosing:
// both must be what the revealed prior seed derives for the learner, even
// when the commitment was made to the swapped secret and the answers were
// computed with it.
TEST(VerifyTranscriptTest, SwappedSecretIsCaught) {
  Scenario s = MakeScenario(kSpec, kExact);
  s.reveal.secret = DrawSecret(s.reveal.config.spec, Prior{.seed = 8});
  s.commitment = Commitment(s.reveal.secret, s.reveal.nonce);
  for (TranscriptEntry& e : s.entries) {
    e.response = EncodeMatrices(
        Answer(s.reveal, *DecodeMatrices(e.request), e.first_query_index));
  }
  Rechain(s.entries, 0);
  ExpectFailsAt(Verify(s), absl::StatusCode::kFailedPrecondition,
                "the revealed secret is not the one prior.seed derives (the "
                "shared secret)");
  // Also with no transcript at all.
  s.entries.clear();
  EXPECT_EQ(Verify(s).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(VerifyTranscriptTest, SwappedNoiseSeedIsCaught) {
  for (const AccessPolicy& policy : {kNoisy, kExact}) {
    Scenario s = MakeScenario(kSpec, policy);
    // Another learner's seed, every answer noised with it.
    s.reveal.noise_seed = DeriveSeed(s.reveal.prior_seed, RngStream::kNoise,
                                     LearnerStreamIndex("bob"));
    for (TranscriptEntry& e : s.entries) {
      e.response = EncodeMatrices(
          Answer(s.reveal, *DecodeMatrices(e.request), e.first_query_index));
    }
    Rechain(s.entries, 0);
    ExpectFailsAt(Verify(s), absl::StatusCode::kFailedPrecondition,
                  "the revealed noise seed is not the one prior.seed derives "
                  "for learner \"alice\"");
  }
}

TEST(VerifyTranscriptTest, PerLearnerSecretMustBeTheLearnersOwn) {
  Scenario s = MakeScenario(kSpec, kExact);
  s.reveal.config.per_learner_secrets = true;
  // The shared draw is not alice's own.
  ExpectFailsAt(Verify(s), absl::StatusCode::kFailedPrecondition,
                "the revealed secret is not the one prior.seed derives for "
                "learner \"alice\"");
  s.reveal.secret = DrawSecret(s.reveal.config.spec, s.reveal.config.prior,
                               LearnerStreamIndex(kLearner));
  s.commitment = Commitment(s.reveal.secret, s.reveal.nonce);
  for (TranscriptEntry& e : s.entries) {
    e.response = EncodeMatrices(
        Answer(s.reveal, *DecodeMatrices(e.request), e.first_query_index));
  }
  Rechain(s.entries, 0);
  absl::StatusOr<VerifiedTranscript> v = Verify(s);
  EXPECT_TRUE(v.ok()) << v.status();
}

TEST(VerifyTranscriptTest, QueryIndexIsBoundIntoTheRequestDigest) {
  // A server cannot restate which noise an entry was answered with: the
  // index is part of the digest the chain commits to.
  Scenario s = MakeScenario(kSpec, kNoisy);
  s.entries[4].first_query_index += 1;
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 4: request digest does not match the request");
}

TEST(VerifyTranscriptTest, NoiseIsKeyedByTheQueryIndex) {
  // A forger who rechains after shifting the index still fails the replay.
  Scenario s = MakeScenario(kSpec, kNoisy);
  s.entries[4].first_query_index += 1;
  Rechain(s.entries, 4);
  ExpectFailsAt(
      Verify(s), absl::StatusCode::kDataLoss,
      "entry 4: answer to sequence 0 differs from the revealed layer");
}

// Gives entry k the query indices from `first` on, answered honestly there,
// as a server whose replicas reserved indices in another order would.
void Reindex(Scenario& s, size_t k, uint64_t first) {
  TranscriptEntry& e = s.entries[k];
  e.first_query_index = first;
  e.response =
      EncodeMatrices(Answer(s.reveal, *DecodeMatrices(e.request), first));
}

uint64_t SequencesOf(const TranscriptEntry& e) {
  return DecodeMatrices(e.request)->size();
}

TEST(VerifyTranscriptTest, OutOfOrderDisjointRangesVerify) {
  // Replicas on one database commit in any order: the last entry may hold
  // the lowest indices. Here the ranges run backwards through the chain.
  for (const AccessPolicy& policy : {kExact, kNoisy}) {
    Scenario s = MakeScenario(kSpec, policy);
    uint64_t first = 0;
    uint64_t total = 0;
    for (size_t k = s.entries.size(); k-- > 0;) {
      Reindex(s, k, first);
      first += SequencesOf(s.entries[k]);
    }
    total = first;
    Rechain(s.entries, 0);
    ASSERT_GT(s.entries[0].first_query_index, s.entries[1].first_query_index);
    absl::StatusOr<VerifiedTranscript> v = Verify(s);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->sequences, total);
    EXPECT_EQ(v->unanswered_indices, 0u);
  }
}

TEST(VerifyTranscriptTest, OverlappingRangesFailNamingTheEntry) {
  // Without noise the index plays no part in the answers, so a forger who
  // reuses an index and re-chains passes the replay; disjointness catches
  // it. With noise the answers are honest for the reused index.
  for (const AccessPolicy& policy : {kExact, kNoisy}) {
    Scenario s = MakeScenario(kSpec, policy);
    const uint64_t first = s.entries[1].first_query_index;
    Reindex(s, 3, first);
    Rechain(s.entries, 3);
    const uint64_t end = first + SequencesOf(s.entries[3]);
    ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                  "entry 3: query indices [" + std::to_string(first) + ", " +
                      std::to_string(end) +
                      ") overlap those of entry 1; an index answers at most "
                      "one sequence");
  }
  // Sharing only the last index of an earlier entry is an overlap too.
  Scenario s = MakeScenario(kSpec, kExact);
  const uint64_t first = s.entries[2].first_query_index - 1;
  for (size_t k = 2; k < s.entries.size(); ++k) {
    Reindex(s, k, s.entries[k].first_query_index - 1);
  }
  Rechain(s.entries, 2);
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 2: query indices [" + std::to_string(first) + ", " +
                    std::to_string(first + SequencesOf(s.entries[2])) +
                    ") overlap those of entry 1; an index answers at most "
                    "one sequence");
}

TEST(VerifyTranscriptTest, GapVerifiesAndIsReported) {
  // A replica killed between reserving indices and committing leaves them
  // unused: the transcript verifies, and the gap is reported.
  for (const AccessPolicy& policy : {kExact, kNoisy}) {
    Scenario s = MakeScenario(kSpec, policy);
    for (size_t k = 4; k < s.entries.size(); ++k) {
      Reindex(s, k, s.entries[k].first_query_index + 3);
    }
    Rechain(s.entries, 4);
    absl::StatusOr<VerifiedTranscript> v = Verify(s);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->unanswered_indices, 3u);
  }
  // A gap before the first entry counts as well.
  Scenario s = MakeScenario(kSpec, kNoisy);
  for (size_t k = 0; k < s.entries.size(); ++k) {
    Reindex(s, k, s.entries[k].first_query_index + 2);
  }
  Rechain(s.entries, 0);
  absl::StatusOr<VerifiedTranscript> v = Verify(s);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->unanswered_indices, 2u);
  // An honest transcript has none.
  absl::StatusOr<VerifiedTranscript> honest =
      Verify(MakeScenario(kSpec, kNoisy));
  ASSERT_TRUE(honest.ok()) << honest.status();
  EXPECT_EQ(honest->unanswered_indices, 0u);
}

TEST(VerifyTranscriptTest, DeclaredPrecisionIsReplayed) {
  // Answers in full float64 where the challenge declares float32 rounding
  // are not what the revealed layer answers.
  Scenario s = MakeScenario(kSpec, kFloat32);
  RevealedChallenge unrounded = s.reveal;
  unrounded.config.policy.precision = Precision::kFloat64;
  const std::vector<Matrix> sequences = *DecodeMatrices(s.entries[1].request);
  s.entries[1].response = EncodeMatrices(
      Answer(unrounded, sequences, s.entries[1].first_query_index));
  Rechain(s.entries, 1);
  ExpectFailsAt(
      Verify(s), absl::StatusCode::kDataLoss,
      "entry 1: answer to sequence 0 differs from the revealed layer");
}

TEST(VerifyTranscriptTest, NegativeZeroIsNotZero) {
  // Bit for bit means bit for bit: -0.0 == 0.0 numerically but not here.
  // The zero token's answer is a zero of either sign; its negation differs
  // in the sign bit only.
  Scenario s = MakeScenario(LayerSpec{.d_model = 2, .heads = 1}, kExact);
  const std::vector<Matrix> x = {Matrix::Zero(1, 2)};
  std::vector<Matrix> y = Answer(s.reveal, x, 0);
  ASSERT_EQ(y[0](0, 0), 0.0);
  y[0](0, 0) = -y[0](0, 0);
  s.entries.resize(1);
  s.entries[0].request = EncodeMatrices(x);
  s.entries[0].response = EncodeMatrices(y);
  Rechain(s.entries, 0);
  ExpectFailsAt(
      Verify(s), absl::StatusCode::kDataLoss,
      "entry 0: answer to sequence 0 differs from the revealed layer");
}

TEST(VerifyTranscriptTest, MalformedButConsistentEntries) {
  Scenario s = MakeScenario(kSpec, kExact);
  s.entries[2].request = "not a matrix list";
  Rechain(s.entries, 2);
  absl::StatusOr<VerifiedTranscript> v = Verify(s);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(MessageOf(v.status()),
              HasSubstr("entry 2: the request does not decode"));

  s = MakeScenario(kSpec, kExact);
  std::vector<Matrix> answers = *DecodeMatrices(s.entries[3].response);
  answers.push_back(answers.back());
  const size_t sequences = answers.size() - 1;
  s.entries[3].response = EncodeMatrices(answers);
  Rechain(s.entries, 3);
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 3: " + std::to_string(answers.size()) + " answers to " +
                    std::to_string(sequences) + " sequences");

  s = MakeScenario(kSpec, kExact);
  const std::vector<Matrix> narrow = {Matrix::Ones(1, 3)};
  s.entries[1].request = EncodeMatrices(narrow);
  s.entries[1].response = EncodeMatrices(narrow);
  Rechain(s.entries, 1);
  ExpectFailsAt(Verify(s), absl::StatusCode::kDataLoss,
                "entry 1: sequence 0 is 1x3, not n x 4");
}

}  // namespace
}  // namespace attnoracle
