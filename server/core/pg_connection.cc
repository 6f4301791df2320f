#include "server/core/pg_connection.h"

#include <libpq-fe.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace attnoracle {
namespace {

// libpq's messages end in a newline.
std::string Trimmed(const char* message) {
  return std::string(
      absl::StripTrailingAsciiWhitespace(message ? message : ""));
}

absl::Status ResultError(pg_conn* conn, const PGresult* result) {
  if (result == nullptr || PQstatus(conn) == CONNECTION_BAD) {
    return absl::UnavailableError(
        absl::StrCat("PostgreSQL: ", Trimmed(PQerrorMessage(conn))));
  }
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  const std::string message =
      absl::StrCat("PostgreSQL: ", primary != nullptr
                                       ? std::string(primary)
                                       : Trimmed(PQresultErrorMessage(result)));
  const absl::string_view sqlstate = state != nullptr ? state : "";
  if (sqlstate == "23505") return absl::AlreadyExistsError(message);
  if (sqlstate == "40001" || sqlstate == "40P01") {
    return absl::AbortedError(message);
  }
  // Connection exceptions, insufficient resources, operator intervention
  // (a shutting-down server): the database is not there for now.
  if (absl::StartsWith(sqlstate, "08") || absl::StartsWith(sqlstate, "53") ||
      absl::StartsWith(sqlstate, "57")) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

}  // namespace

PgParams& PgParams::Text(absl::string_view v) {
  values_.emplace_back(v);
  formats_.push_back(0);
  return *this;
}

PgParams& PgParams::Bytes(absl::string_view v) {
  values_.emplace_back(v);
  formats_.push_back(1);
  return *this;
}

PgParams& PgParams::Int(int64_t v) { return Text(absl::StrCat(v)); }

PgParams& PgParams::UInt(uint64_t v) { return Text(absl::StrCat(v)); }

PgParams& PgParams::Real(double v) {
  if (std::isnan(v)) return Text("NaN");
  if (std::isinf(v)) return Text(v > 0 ? "Infinity" : "-Infinity");
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.17g", v);
  return Text(buffer);
}

PgParams& PgParams::Bool(bool v) { return Text(v ? "true" : "false"); }

PgResult::PgResult(pg_result* result) : result_(result) {}
PgResult::PgResult(PgResult&& other) noexcept
    : result_(std::exchange(other.result_, nullptr)) {}
PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}
PgResult::~PgResult() { PQclear(result_); }

int PgResult::rows() const { return PQntuples(result_); }

uint64_t PgResult::affected() const {
  uint64_t n = 0;
  return absl::SimpleAtoi(PQcmdTuples(result_), &n) ? n : 0;
}

bool PgResult::IsNull(int row, int col) const {
  return PQgetisnull(result_, row, col) != 0;
}

std::string PgResult::Text(int row, int col) const {
  return std::string(PQgetvalue(result_, row, col),
                     PQgetlength(result_, row, col));
}

std::string PgResult::Bytes(int row, int col) const {
  size_t length = 0;
  unsigned char* raw = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_, row, col)),
      &length);
  if (raw == nullptr) return std::string();
  std::string out(reinterpret_cast<const char*>(raw), length);
  PQfreemem(raw);
  return out;
}

int64_t PgResult::Int(int row, int col) const {
  int64_t v = 0;
  return absl::SimpleAtoi(PQgetvalue(result_, row, col), &v) ? v : 0;
}

uint64_t PgResult::UInt(int row, int col) const {
  uint64_t v = 0;
  return absl::SimpleAtoi(PQgetvalue(result_, row, col), &v) ? v : 0;
}

double PgResult::Real(int row, int col) const {
  // strtod reads PostgreSQL's shortest exact output, Infinity and NaN.
  return std::strtod(PQgetvalue(result_, row, col), nullptr);
}

bool PgResult::Bool(int row, int col) const {
  return PQgetvalue(result_, row, col)[0] == 't';
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const std::string& conninfo) {
  pg_conn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    absl::Status s = absl::UnavailableError(absl::StrCat(
        "cannot connect to PostgreSQL: ",
        conn != nullptr ? Trimmed(PQerrorMessage(conn)) : "out of memory"));
    PQfinish(conn);
    return s;
  }
  // Warnings (e.g. an index created IF NOT EXISTS) are not for stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<PgConnection>(new PgConnection(conn));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::healthy() const { return PQstatus(conn_) == CONNECTION_OK; }

absl::StatusOr<PgResult> PgConnection::Exec(const char* sql,
                                            const PgParams& params) {
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size());
  std::vector<int> formats(params.size());
  for (int i = 0; i < params.size(); ++i) {
    values[i] = params.value(i).data();
    lengths[i] = static_cast<int>(params.value(i).size());
    formats[i] = params.format(i);
  }
  PGresult* raw = PQexecParams(conn_, sql, params.size(), nullptr,
                               values.data(), lengths.data(), formats.data(),
                               /*resultFormat=*/0);
  const ExecStatusType status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    absl::Status s = ResultError(conn_, raw);
    PQclear(raw);
    return s;
  }
  return PgResult(raw);
}

absl::Status PgConnection::Run(const char* sql, const PgParams& params) {
  return Exec(sql, params).status();
}

absl::Status PgConnection::RunScript(const char* sql) {
  PGresult* raw = PQexec(conn_, sql);
  const ExecStatusType status = raw ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  absl::Status s = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK
                       ? absl::OkStatus()
                       : ResultError(conn_, raw);
  PQclear(raw);
  return s;
}

absl::Status PgConnection::InTransaction(
    const std::function<absl::Status()>& body) {
  ATTN_RETURN_IF_ERROR(Run("BEGIN"));
  absl::Status s = body();
  if (s.ok()) s = Run("COMMIT");
  if (!s.ok() && healthy()) (void)Run("ROLLBACK");
  return s;
}

PgPool::Lease::~Lease() {
  if (conn_ != nullptr) pool_->Release(std::move(conn_));
}

absl::StatusOr<PgPool::Lease> PgPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      std::unique_ptr<PgConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
  }
  ATTN_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn,
                        PgConnection::Connect(conninfo_));
  return Lease(this, std::move(conn));
}

void PgPool::Release(std::unique_ptr<PgConnection> conn) {
  if (!conn->healthy()) return;
  absl::MutexLock lock(&mu_);
  if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(conn));
}

absl::StatusOr<bool> ConninfoHasPassword(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    absl::Status s = absl::InvalidArgumentError(
        absl::StrCat("db: not a PostgreSQL connection URI: ",
                     error != nullptr ? Trimmed(error) : "out of memory"));
    PQfreemem(error);
    return s;
  }
  bool has = false;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (std::strcmp(o->keyword, "password") == 0 && o->val != nullptr &&
        o->val[0] != '\0') {
      has = true;
    }
  }
  PQconninfoFree(options);
  return has;
}

}  // namespace attnoracle
