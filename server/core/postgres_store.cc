#include "server/core/postgres_store.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/transcript.h"

namespace attnoracle {
namespace {

// Each entry moves the schema one version forward; never edit a released
// entry, append a new one. Version 1 is SQLite's version 2 in PostgreSQL's
// types, with the generation counter the replicas poll.
constexpr const char* kMigrations[] = {
    // Version 1.
    R"sql(
    CREATE TABLE challenges(
      id TEXT COLLATE "C" PRIMARY KEY,
      config TEXT NOT NULL,
      phase INTEGER NOT NULL,
      nonce BYTEA NOT NULL,
      created_ms BIGINT NOT NULL);
    CREATE TABLE learners(
      name TEXT COLLATE "C" PRIMARY KEY,
      token_hash BYTEA NOT NULL UNIQUE,
      role INTEGER NOT NULL,
      revoked BOOLEAN NOT NULL DEFAULT FALSE,
      created_ms BIGINT NOT NULL);
    CREATE TABLE usage(
      challenge TEXT COLLATE "C" NOT NULL,
      learner TEXT COLLATE "C" NOT NULL,
      queries_used NUMERIC(20) NOT NULL,
      tokens_used NUMERIC(20) NOT NULL,
      extra_queries NUMERIC(20) NOT NULL,
      extra_tokens NUMERIC(20) NOT NULL,
      entries NUMERIC(20) NOT NULL,
      chain_head BYTEA NOT NULL,
      PRIMARY KEY(challenge, learner));
    CREATE TABLE transcripts(
      challenge TEXT COLLATE "C" NOT NULL,
      learner TEXT COLLATE "C" NOT NULL,
      idx NUMERIC(20) NOT NULL,
      first_query_index NUMERIC(20) NOT NULL,
      request BYTEA NOT NULL,
      response BYTEA NOT NULL,
      request_digest BYTEA NOT NULL,
      response_digest BYTEA NOT NULL,
      chain_hash BYTEA NOT NULL,
      created_ms BIGINT NOT NULL,
      PRIMARY KEY(challenge, learner, idx));
    CREATE TABLE submissions(
      id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      challenge TEXT COLLATE "C" NOT NULL,
      learner TEXT COLLATE "C" NOT NULL,
      functional_rel_err DOUBLE PRECISION NOT NULL,
      max_abs_err DOUBLE PRECISION NOT NULL,
      bits DOUBLE PRECISION NOT NULL,
      theta_rel_err DOUBLE PRECISION NOT NULL,
      omega_rel_err DOUBLE PRECISION NOT NULL,
      queries_used NUMERIC(20) NOT NULL,
      tokens_used NUMERIC(20) NOT NULL,
      queries_to_bound DOUBLE PRECISION NOT NULL,
      tokens_to_bound DOUBLE PRECISION NOT NULL,
      created_ms BIGINT NOT NULL,
      sign_disagreement DOUBLE PRECISION NOT NULL DEFAULT 0);
    CREATE INDEX submissions_by_challenge ON submissions(challenge, learner);
    CREATE TABLE generation(
      id INTEGER PRIMARY KEY CHECK (id = 1),
      value BIGINT NOT NULL);
    INSERT INTO generation(id, value) VALUES (1, 0);
    )sql",
    // Version 2. A learner's chain (entries, chain_head) moves to its own
    // row, so that a commit's lock on it (held through the commit's fsync)
    // no longer holds up the next reservation, which updates the usage row.
    R"sql(
    CREATE TABLE chains(
      challenge TEXT COLLATE "C" NOT NULL,
      learner TEXT COLLATE "C" NOT NULL,
      entries NUMERIC(20) NOT NULL,
      chain_head BYTEA NOT NULL,
      PRIMARY KEY(challenge, learner));
    INSERT INTO chains(challenge, learner, entries, chain_head)
      SELECT challenge, learner, entries, chain_head FROM usage;
    ALTER TABLE usage DROP COLUMN entries, DROP COLUMN chain_head;
    )sql",
    // Version 3: the FFN units' parameter error.
    R"sql(
    ALTER TABLE submissions
      ADD COLUMN ffn_rel_err DOUBLE PRECISION NOT NULL DEFAULT 0;
    )sql",
};

// Runs `sql` and bumps the generation in one transaction: for every write
// the other replicas must reload.
absl::StatusOr<PgResult> ExecBumping(PgConnection& c, const char* sql,
                                     const PgParams& params) {
  absl::StatusOr<PgResult> result = absl::InternalError("not run");
  absl::Status s = c.InTransaction([&]() -> absl::Status {
    result = c.Exec(sql, params);
    ATTN_RETURN_IF_ERROR(result.status());
    return c.Run("UPDATE generation SET value = value + 1 WHERE id = 1");
  });
  if (!s.ok()) return s;
  return result;
}

// A usage row's columns, read in a statement on table usage (unaliased):
// the counters, then the key's chain from table chains, read without a
// lock (a key with no chain row yet has no entries).
constexpr char kUsageColumns[] =
    "queries_used, tokens_used, extra_queries, extra_tokens, "
    "COALESCE((SELECT entries FROM chains h WHERE h.challenge = "
    "usage.challenge AND h.learner = usage.learner), 0), "
    "COALESCE((SELECT chain_head FROM chains h WHERE h.challenge = "
    "usage.challenge AND h.learner = usage.learner), ''::bytea)";

// A usage row from columns `first`... in kUsageColumns' order.
UsageRecord UsageFrom(const PgResult& r, int row, int first,
                      const std::string& challenge_id,
                      const std::string& learner) {
  return UsageRecord{challenge_id,           learner,
                     r.UInt(row, first),     r.UInt(row, first + 1),
                     r.UInt(row, first + 2), r.UInt(row, first + 3),
                     r.UInt(row, first + 4), r.Bytes(row, first + 5)};
}

constexpr char kTranscriptColumns[] =
    "SELECT challenge, learner, idx, first_query_index, request, response, "
    "request_digest, response_digest, chain_hash, created_ms FROM transcripts ";

// Inserts one transcript row, in the caller's transaction.
absl::Status InsertEntry(PgConnection& c, const TranscriptEntry& e) {
  return c.Run(
      "INSERT INTO transcripts(challenge, learner, idx, first_query_index, "
      "request, response, request_digest, response_digest, chain_hash, "
      "created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
      PgParams()
          .Text(e.challenge_id)
          .Text(e.learner)
          .UInt(e.index)
          .UInt(e.first_query_index)
          .Bytes(e.request)
          .Bytes(e.response)
          .Bytes(e.request_digest)
          .Bytes(e.response_digest)
          .Bytes(e.chain_hash)
          .Int(e.answered_unix_ms));
}

// The rows of `r` until one would take the entries' TranscriptPageBytes
// past `max_bytes` (but at least one).
std::vector<TranscriptEntry> ReadEntries(
    const PgResult& r, size_t max_bytes = std::numeric_limits<size_t>::max()) {
  std::vector<TranscriptEntry> out;
  size_t bytes = 0;
  for (int i = 0; i < r.rows(); ++i) {
    TranscriptEntry entry{r.Text(i, 0),  r.Text(i, 1),  r.UInt(i, 2),
                          r.UInt(i, 3),  r.Bytes(i, 4), r.Bytes(i, 5),
                          r.Bytes(i, 6), r.Bytes(i, 7), r.Bytes(i, 8),
                          r.Int(i, 9)};
    bytes += TranscriptPageBytes(entry);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace

bool PostgresStore::IsUri(absl::string_view db) {
  return absl::StartsWith(db, "postgresql://") ||
         absl::StartsWith(db, "postgres://");
}

int PostgresStore::SchemaVersion() {
  return static_cast<int>(std::size(kMigrations));
}

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(
    const std::string& uri) {
  ATTN_ASSIGN_OR_RETURN(const bool has_password, ConninfoHasPassword(uri));
  if (has_password) {
    return absl::InvalidArgumentError(
        "db: the PostgreSQL URI carries a password; leave it out and give it "
        "through the PGPASSWORD environment variable or a passfile "
        "(~/.pgpass, or the file PGPASSFILE names)");
  }
  std::unique_ptr<PostgresStore> store(new PostgresStore(uri));
  ATTN_RETURN_IF_ERROR(store->Migrate());
  return store;
}

absl::Status PostgresStore::Migrate() {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  return c->InTransaction([&]() -> absl::Status {
    // Replicas starting at once wait here for the first one's schema.
    ATTN_RETURN_IF_ERROR(c->Run("SELECT pg_advisory_xact_lock($1)",
                                PgParams().Int(kMigrationLockKey)));
    ATTN_RETURN_IF_ERROR(
        c->Run("CREATE TABLE IF NOT EXISTS schema_version("
               "version INTEGER NOT NULL)"));
    ATTN_ASSIGN_OR_RETURN(PgResult r,
                          c->Exec("SELECT version FROM schema_version"));
    int64_t current = 0;
    if (r.rows() == 0) {
      ATTN_RETURN_IF_ERROR(
          c->Run("INSERT INTO schema_version(version) VALUES (0)"));
    } else {
      current = r.Int(0, 0);
    }
    if (current > SchemaVersion()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the database has schema version ", current, "; this build knows ",
          SchemaVersion(), ": use a newer oracle-server"));
    }
    for (int64_t v = current; v < SchemaVersion(); ++v) {
      ATTN_RETURN_IF_ERROR(c->RunScript(kMigrations[v]));
    }
    return c->Run("UPDATE schema_version SET version = $1",
                  PgParams().Int(SchemaVersion()));
  });
}

absl::StatusOr<std::vector<ChallengeRecord>> PostgresStore::LoadChallenges() {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  ATTN_ASSIGN_OR_RETURN(PgResult r,
                        c->Exec("SELECT id, config, phase, nonce, created_ms "
                                "FROM challenges ORDER BY id"));
  std::vector<ChallengeRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.Text(i, 0), r.Text(i, 1), PhaseFromInt(r.Int(i, 2)),
                   r.Bytes(i, 3), r.Int(i, 4)});
  }
  return out;
}

absl::Status PostgresStore::InsertChallenge(const ChallengeRecord& r) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  absl::Status s =
      ExecBumping(
          *c,
          "INSERT INTO challenges(id, config, phase, nonce, created_ms) "
          "VALUES ($1, $2, $3, $4, $5)",
          PgParams()
              .Text(r.id)
              .Text(r.config_text)
              .Int(PhaseToInt(r.phase))
              .Bytes(r.nonce)
              .Int(r.created_ms))
          .status();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(
        absl::StrCat("challenge \"", r.id, "\" already exists"));
  }
  return s;
}

absl::Status PostgresStore::UpdatePhase(const std::string& id, Phase phase) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  ATTN_ASSIGN_OR_RETURN(
      PgResult r,
      ExecBumping(*c, "UPDATE challenges SET phase = $1 WHERE id = $2",
                  PgParams().Int(PhaseToInt(phase)).Text(id)));
  if (r.affected() == 0) {
    return absl::NotFoundError(absl::StrCat("no challenge \"", id, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LearnerRecord>> PostgresStore::LoadLearners() {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  ATTN_ASSIGN_OR_RETURN(
      PgResult r, c->Exec("SELECT name, token_hash, role, revoked, created_ms "
                          "FROM learners ORDER BY name"));
  std::vector<LearnerRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.Text(i, 0), r.Bytes(i, 1),
                   r.Int(i, 2) == 1 ? Role::kAdmin : Role::kLearner,
                   r.Bool(i, 3), r.Int(i, 4)});
  }
  return out;
}

absl::Status PostgresStore::InsertLearner(const LearnerRecord& r) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  absl::Status s =
      ExecBumping(
          *c,
          "INSERT INTO learners(name, token_hash, role, revoked, created_ms) "
          "VALUES ($1, $2, $3, $4, $5)",
          PgParams()
              .Text(r.name)
              .Bytes(r.token_hash)
              .Int(r.role == Role::kAdmin ? 1 : 0)
              .Bool(r.revoked)
              .Int(r.created_ms))
          .status();
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError(
        absl::StrCat("learner \"", r.name, "\" already exists"));
  }
  return s;
}

absl::Status PostgresStore::UpdateRevoked(const std::string& name,
                                          bool revoked) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  ATTN_ASSIGN_OR_RETURN(
      PgResult r,
      ExecBumping(*c, "UPDATE learners SET revoked = $1 WHERE name = $2",
                  PgParams().Bool(revoked).Text(name)));
  if (r.affected() == 0) {
    return absl::NotFoundError(absl::StrCat("no learner \"", name, "\""));
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::ReissueLearner(const std::string& name,
                                           const std::string& token_hash) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  absl::StatusOr<PgResult> r = ExecBumping(
      *c,
      "UPDATE learners SET token_hash = $1, revoked = FALSE WHERE name = $2",
      PgParams().Bytes(token_hash).Text(name));
  if (absl::IsAlreadyExists(r.status())) {
    return absl::AlreadyExistsError(absl::StrCat(
        "another learner than \"", name, "\" has this token hash"));
  }
  ATTN_RETURN_IF_ERROR(r.status());
  if (r->affected() == 0) {
    return absl::NotFoundError(absl::StrCat("no learner \"", name, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<UsageRecord>> PostgresStore::LoadUsage() {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  ATTN_ASSIGN_OR_RETURN(
      PgResult r,
      c->Exec(absl::StrCat("SELECT challenge, learner, ", kUsageColumns,
                           " FROM usage ORDER BY challenge, learner")
                  .c_str()));
  std::vector<UsageRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.Text(i, 0), r.Text(i, 1), r.UInt(i, 2), r.UInt(i, 3),
                   r.UInt(i, 4), r.UInt(i, 5), r.UInt(i, 6), r.Bytes(i, 7)});
  }
  return out;
}

absl::Status PostgresStore::CommitCharges(
    std::span<const UsageRecord> usage,
    std::span<const TranscriptEntry> transcript) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  return c->InTransaction([&]() -> absl::Status {
    for (const UsageRecord& u : usage) {
      ATTN_RETURN_IF_ERROR(c->Run(
          "INSERT INTO usage(challenge, learner, queries_used, tokens_used, "
          "extra_queries, extra_tokens) "
          "VALUES ($1, $2, $3, $4, $5, $6) "
          "ON CONFLICT (challenge, learner) DO UPDATE SET "
          "queries_used = EXCLUDED.queries_used, "
          "tokens_used = EXCLUDED.tokens_used, "
          "extra_queries = EXCLUDED.extra_queries, "
          "extra_tokens = EXCLUDED.extra_tokens",
          PgParams()
              .Text(u.challenge_id)
              .Text(u.learner)
              .UInt(u.queries_used)
              .UInt(u.tokens_used)
              .UInt(u.extra_queries)
              .UInt(u.extra_tokens)));
      ATTN_RETURN_IF_ERROR(
          c->Run("INSERT INTO chains(challenge, learner, entries, chain_head) "
                 "VALUES ($1, $2, $3, $4) "
                 "ON CONFLICT (challenge, learner) DO UPDATE SET "
                 "entries = EXCLUDED.entries, chain_head = EXCLUDED.chain_head",
                 PgParams()
                     .Text(u.challenge_id)
                     .Text(u.learner)
                     .UInt(u.entries)
                     .Bytes(u.chain_head)));
    }
    for (const TranscriptEntry& e : transcript) {
      ATTN_RETURN_IF_ERROR(InsertEntry(*c, e));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<TranscriptEntry>> PostgresStore::LoadTranscript(
    const std::string& challenge_id, const std::string& learner) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  const std::string sql =
      absl::StrCat(kTranscriptColumns,
                   "WHERE challenge = $1 AND ($2 = '' OR learner = $2) "
                   "ORDER BY learner, idx");
  ATTN_ASSIGN_OR_RETURN(
      PgResult r,
      c->Exec(sql.c_str(), PgParams().Text(challenge_id).Text(learner)));
  return ReadEntries(r);
}

absl::StatusOr<std::vector<TranscriptEntry>> PostgresStore::LoadTranscriptPage(
    const std::string& challenge_id, const std::string& learner,
    uint64_t first_index, uint64_t max_entries, size_t max_bytes,
    uint64_t* total) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  ATTN_ASSIGN_OR_RETURN(PgResult count,
                        c->Exec("SELECT COUNT(*) FROM transcripts "
                                "WHERE challenge = $1 AND learner = $2",
                                PgParams().Text(challenge_id).Text(learner)));
  *total = count.UInt(0, 0);
  // LIMIT takes a BIGINT; no learner has 2^63 entries.
  const uint64_t limit = std::min<uint64_t>(
      max_entries, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
  const std::string sql =
      absl::StrCat(kTranscriptColumns,
                   "WHERE challenge = $1 AND learner = $2 AND idx >= $3 "
                   "ORDER BY idx LIMIT $4");
  ATTN_ASSIGN_OR_RETURN(PgResult r, c->Exec(sql.c_str(), PgParams()
                                                             .Text(challenge_id)
                                                             .Text(learner)
                                                             .UInt(first_index)
                                                             .UInt(limit)));
  return ReadEntries(r, max_bytes);
}

absl::StatusOr<SubmissionRecord> PostgresStore::InsertSubmission(
    const SubmissionRecord& r) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  const Score& s = r.score;
  ATTN_ASSIGN_OR_RETURN(
      PgResult inserted,
      ExecBumping(*c,
                  "INSERT INTO submissions(challenge, learner, "
                  "functional_rel_err, max_abs_err, bits, theta_rel_err, "
                  "omega_rel_err, queries_used, tokens_used, queries_to_bound, "
                  "tokens_to_bound, created_ms, sign_disagreement, "
                  "ffn_rel_err) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
                  "$13, $14) RETURNING id",
                  PgParams()
                      .Text(r.challenge_id)
                      .Text(r.learner)
                      .Real(s.functional_rel_err)
                      .Real(s.max_abs_err)
                      .Real(s.bits)
                      .Real(s.theta_rel_err)
                      .Real(s.omega_rel_err)
                      .UInt(s.queries_used)
                      .UInt(s.tokens_used)
                      .Real(s.queries_to_bound)
                      .Real(s.tokens_to_bound)
                      .Int(r.created_ms)
                      .Real(s.sign_disagreement)
                      .Real(s.ffn_rel_err)));
  SubmissionRecord out = r;
  out.id = inserted.UInt(0, 0);
  return out;
}

absl::StatusOr<std::vector<SubmissionRecord>> PostgresStore::LoadSubmissions(
    const std::string& challenge_id) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  ATTN_ASSIGN_OR_RETURN(
      PgResult q,
      c->Exec("SELECT id, challenge, learner, functional_rel_err, "
              "max_abs_err, bits, theta_rel_err, omega_rel_err, queries_used, "
              "tokens_used, queries_to_bound, tokens_to_bound, created_ms, "
              "sign_disagreement, ffn_rel_err FROM submissions "
              "WHERE $1 = '' OR challenge = $1 ORDER BY id",
              PgParams().Text(challenge_id)));
  std::vector<SubmissionRecord> out;
  for (int i = 0; i < q.rows(); ++i) {
    SubmissionRecord r;
    r.id = q.UInt(i, 0);
    r.challenge_id = q.Text(i, 1);
    r.learner = q.Text(i, 2);
    r.score = Score{q.Real(i, 3), q.Real(i, 4),  q.Real(i, 5),
                    q.Real(i, 6), q.Real(i, 7),  q.UInt(i, 8),
                    q.UInt(i, 9), q.Real(i, 10), q.Real(i, 11)};
    r.created_ms = q.Int(i, 12);
    r.score.sign_disagreement = q.Real(i, 13);
    r.score.ffn_rel_err = q.Real(i, 14);
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<UsageRecord> PostgresStore::ReserveShared(
    const std::string& challenge_id, const std::string& learner,
    uint64_t budget_queries, uint64_t budget_tokens, uint64_t queries,
    uint64_t tokens) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  const std::string take = absl::StrCat(
      "UPDATE usage SET queries_used = queries_used + $3, "
      "tokens_used = tokens_used + $4 "
      "WHERE challenge = $1 AND learner = $2 "
      "AND queries_used + $3 <= $5 + extra_queries "
      "AND tokens_used + $4 <= $6 + extra_tokens "
      "AND EXISTS (SELECT 1 FROM challenges WHERE id = $1 AND phase = 0) "
      "AND NOT EXISTS (SELECT 1 FROM learners WHERE name = $2 AND revoked) "
      "RETURNING ",
      kUsageColumns);
  const PgParams params = PgParams()
                              .Text(challenge_id)
                              .Text(learner)
                              .UInt(queries)
                              .UInt(tokens)
                              .UInt(budget_queries)
                              .UInt(budget_tokens);
  UsageRecord out;
  ATTN_RETURN_IF_ERROR(c->InTransaction([&]() -> absl::Status {
    // The answer waits for its entry's synchronous commit, which flushes
    // the WAL past this one too (docs/ARCHITECTURE.md, "Replicas").
    ATTN_RETURN_IF_ERROR(c->Run("SET LOCAL synchronous_commit = off"));
    ATTN_ASSIGN_OR_RETURN(PgResult r, c->Exec(take.c_str(), params));
    if (r.rows() == 0) {
      ATTN_RETURN_IF_ERROR(c->Run(
          "INSERT INTO usage(challenge, learner, queries_used, tokens_used, "
          "extra_queries, extra_tokens) VALUES ($1, $2, 0, 0, 0, 0) "
          "ON CONFLICT DO NOTHING",
          PgParams().Text(challenge_id).Text(learner)));
      ATTN_ASSIGN_OR_RETURN(r, c->Exec(take.c_str(), params));
    }
    if (r.rows() == 1) {
      out = UsageFrom(r, 0, 0, challenge_id, learner);
      return absl::OkStatus();
    }
    // Nothing taken: say why, as the single-server path does.
    const std::string why_sql = absl::StrCat(
        "SELECT (SELECT phase FROM challenges WHERE id = $1), "
        "EXISTS (SELECT 1 FROM learners WHERE name = $2 AND revoked), ",
        kUsageColumns, " FROM usage WHERE challenge = $1 AND learner = $2");
    ATTN_ASSIGN_OR_RETURN(
        PgResult why,
        c->Exec(why_sql.c_str(), PgParams().Text(challenge_id).Text(learner)));
    if (why.rows() != 1) return absl::InternalError("the usage row vanished");
    const Phase phase =
        why.IsNull(0, 0) ? Phase::kClosed : PhaseFromInt(why.Int(0, 0));
    if (phase != Phase::kOpen) {
      return WrongPhaseError(challenge_id, phase, Phase::kOpen, kAnswering);
    }
    if (why.Bool(0, 1)) {
      return absl::UnauthenticatedError(
          absl::StrCat("the token of learner \"", learner, "\" was revoked"));
    }
    const UsageRecord u = UsageFrom(why, 0, 2, challenge_id, learner);
    // Grants are bounded so that these sums fit in 64 bits.
    const uint64_t cap_queries = budget_queries + u.extra_queries;
    const uint64_t cap_tokens = budget_tokens + u.extra_tokens;
    return absl::ResourceExhaustedError(absl::StrCat(
        "budget exhausted: the request needs ", queries, " queries and ",
        tokens, " tokens; ",
        cap_queries - std::min(u.queries_used, cap_queries), " queries and ",
        cap_tokens - std::min(u.tokens_used, cap_tokens), " tokens are left"));
  }));
  return out;
}

absl::StatusOr<std::vector<absl::Status>> PostgresStore::CommitShared(
    std::span<TranscriptEntry> entries) {
  // The entries of each key, in order; keys sorted, so two replicas lock
  // usage rows in the same order and never deadlock.
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> by_key;
  for (size_t i = 0; i < entries.size(); ++i) {
    by_key[{entries[i].challenge_id, entries[i].learner}].push_back(i);
  }
  std::vector<absl::Status> results(entries.size());
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  ATTN_RETURN_IF_ERROR(c->InTransaction([&]() -> absl::Status {
    for (const auto& [key, indices] : by_key) {
      const std::string& challenge_id = key.first;
      const std::string& learner = key.second;
      // A phase change waits for this transaction, and one committed
      // before it is seen here.
      ATTN_ASSIGN_OR_RETURN(
          PgResult phase,
          c->Exec("SELECT phase FROM challenges WHERE id = $1 FOR SHARE",
                  PgParams().Text(challenge_id)));
      const Phase now =
          phase.rows() == 1 ? PhaseFromInt(phase.Int(0, 0)) : Phase::kClosed;
      if (now != Phase::kOpen) {
        for (size_t i : indices) {
          results[i] =
              WrongPhaseError(challenge_id, now, Phase::kOpen, kAnswering);
        }
        continue;
      }
      // The chain row, not the usage row: the reservations that update
      // usage meanwhile do not wait for this transaction's fsync.
      const PgParams key_params = PgParams().Text(challenge_id).Text(learner);
      constexpr char kLockChain[] =
          "SELECT entries, chain_head FROM chains "
          "WHERE challenge = $1 AND learner = $2 FOR UPDATE";
      ATTN_ASSIGN_OR_RETURN(PgResult row, c->Exec(kLockChain, key_params));
      if (row.rows() == 0) {
        // The key's first entry: make its chain row, then lock it (another
        // replica may have made it first).
        ATTN_RETURN_IF_ERROR(
            c->Run("INSERT INTO chains(challenge, learner, entries, "
                   "chain_head) VALUES ($1, $2, 0, ''::bytea) "
                   "ON CONFLICT DO NOTHING",
                   key_params));
        ATTN_ASSIGN_OR_RETURN(row, c->Exec(kLockChain, key_params));
      }
      if (row.rows() != 1) {
        return absl::InternalError(absl::StrCat(
            "no chain row for \"", learner, "\" on \"", challenge_id, "\""));
      }
      uint64_t next = row.UInt(0, 0);
      std::string head = row.Bytes(0, 1);
      for (size_t i : indices) {
        TranscriptEntry& e = entries[i];
        e.index = next++;
        e.chain_hash = ChainHash(head, e.request_digest, e.response_digest);
        head = e.chain_hash;
        ATTN_RETURN_IF_ERROR(InsertEntry(*c, e));
      }
      ATTN_RETURN_IF_ERROR(c->Run(
          "UPDATE chains SET entries = $3, chain_head = $4 "
          "WHERE challenge = $1 AND learner = $2",
          PgParams().Text(challenge_id).Text(learner).UInt(next).Bytes(head)));
    }
    return absl::OkStatus();
  }));
  return results;
}

absl::StatusOr<UsageRecord> PostgresStore::GrantShared(
    const std::string& challenge_id, const std::string& learner,
    uint64_t budget_queries, uint64_t budget_tokens, uint64_t queries,
    uint64_t tokens) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  const std::string grant = absl::StrCat(
      "UPDATE usage SET extra_queries = extra_queries + $3, "
      "extra_tokens = extra_tokens + $4 "
      "WHERE challenge = $1 AND learner = $2 "
      "AND extra_queries + $3 + $5 <= $7 "
      "AND extra_tokens + $4 + $6 <= $7 RETURNING ",
      kUsageColumns);
  UsageRecord out;
  ATTN_RETURN_IF_ERROR(c->InTransaction([&]() -> absl::Status {
    ATTN_RETURN_IF_ERROR(c->Run(
        "INSERT INTO usage(challenge, learner, queries_used, tokens_used, "
        "extra_queries, extra_tokens) VALUES ($1, $2, 0, 0, 0, 0) "
        "ON CONFLICT DO NOTHING",
        PgParams().Text(challenge_id).Text(learner)));
    ATTN_ASSIGN_OR_RETURN(
        PgResult r, c->Exec(grant.c_str(),
                            PgParams()
                                .Text(challenge_id)
                                .Text(learner)
                                .UInt(queries)
                                .UInt(tokens)
                                .UInt(budget_queries)
                                .UInt(budget_tokens)
                                .UInt(std::numeric_limits<uint64_t>::max())));
    if (r.rows() == 0) {
      return absl::InvalidArgumentError(
          "the grant would overflow the learner's budget counters");
    }
    out = UsageFrom(r, 0, 0, challenge_id, learner);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<UsageRecord> PostgresStore::LoadUsageOf(
    const std::string& challenge_id, const std::string& learner) {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  const std::string sql =
      absl::StrCat("SELECT ", kUsageColumns,
                   " FROM usage WHERE challenge = $1 AND learner = $2");
  ATTN_ASSIGN_OR_RETURN(
      PgResult r,
      c->Exec(sql.c_str(), PgParams().Text(challenge_id).Text(learner)));
  if (r.rows() == 0)
    return UsageRecord{challenge_id, learner, 0, 0, 0, 0, 0, ""};
  return UsageFrom(r, 0, 0, challenge_id, learner);
}

absl::StatusOr<int64_t> PostgresStore::LoadGeneration() {
  ATTN_ASSIGN_OR_RETURN(PgPool::Lease c, pool_.Acquire());
  ATTN_ASSIGN_OR_RETURN(PgResult r,
                        c->Exec("SELECT value FROM generation WHERE id = 1"));
  return r.Int(0, 0);
}

}  // namespace attnoracle
