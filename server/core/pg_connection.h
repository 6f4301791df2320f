// PgConnection, PgResult, PgParams, PgPool: libpq (PostgreSQL's C client)
// behind RAII, for PostgresStore. Statements are sent with PQexecParams:
// parameters as text, except raw bytes, which go as binary bytea (no
// escaping); results come back as text and bytea is decoded here.
//
//   absl::StatusOr<std::unique_ptr<PgConnection>> c =
//       PgConnection::Connect("postgresql://app@127.0.0.1:5432/contest");
//   absl::StatusOr<PgResult> r = (*c)->Exec(
//       "SELECT phase FROM challenges WHERE id = $1", PgParams().Text("c"));
//
// Status codes: UNAVAILABLE when the server cannot be reached or the
// connection broke (libpq's message, which never holds a password),
// ALREADY_EXISTS for a unique violation, ABORTED for a serialization
// failure or deadlock, INTERNAL otherwise. Messages carry the server's
// primary message only (never its DETAIL, which quotes row values).
//
// A PgConnection is used by one thread at a time; PgPool is thread-safe.
#ifndef ATTNORACLE_SERVER_CORE_PG_CONNECTION_H_
#define ATTNORACLE_SERVER_CORE_PG_CONNECTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

struct pg_conn;
struct pg_result;

namespace attnoracle {

// The parameters of one statement, $1 first.
class PgParams {
 public:
  PgParams& Text(absl::string_view v);
  PgParams& Bytes(absl::string_view v);  // binary bytea
  PgParams& Int(int64_t v);
  PgParams& UInt(uint64_t v);  // for NUMERIC(20) columns
  PgParams& Real(double v);    // exact: %.17g, and Infinity/NaN by name
  PgParams& Bool(bool v);

  int size() const { return static_cast<int>(values_.size()); }
  const std::string& value(int i) const { return values_[i]; }
  int format(int i) const { return formats_[i]; }

 private:
  std::vector<std::string> values_;
  std::vector<int> formats_;  // 0 text, 1 binary
};

// One result; rows and columns from 0.
class PgResult {
 public:
  explicit PgResult(pg_result* result);
  PgResult(PgResult&& other) noexcept;
  PgResult& operator=(PgResult&& other) noexcept;
  ~PgResult();

  int rows() const;
  // The rows an INSERT/UPDATE/DELETE touched.
  uint64_t affected() const;
  bool IsNull(int row, int col) const;
  std::string Text(int row, int col) const;
  std::string Bytes(int row, int col) const;  // bytea, decoded
  int64_t Int(int row, int col) const;
  uint64_t UInt(int row, int col) const;
  double Real(int row, int col) const;
  bool Bool(int row, int col) const;

 private:
  pg_result* result_;
};

class PgConnection {
 public:
  // UNAVAILABLE with libpq's message when the connection fails.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(
      const std::string& conninfo);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one statement (one only when it has parameters).
  [[nodiscard]] absl::StatusOr<PgResult> Exec(
      const char* sql, const PgParams& params = PgParams());
  [[nodiscard]] absl::Status Run(const char* sql,
                                 const PgParams& params = PgParams());
  // Runs a script of several statements with no parameters (PQexec).
  [[nodiscard]] absl::Status RunScript(const char* sql);

  // BEGIN, `body`, COMMIT; ROLLBACK when `body` or COMMIT fails.
  [[nodiscard]] absl::Status InTransaction(
      const std::function<absl::Status()>& body);

  // False once the connection broke; a pool drops such a connection.
  bool healthy() const;

 private:
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  pg_conn* conn_;
};

// Connections to one database, one per concurrent caller: Acquire takes
// an idle one or opens another, and the lease gives it back when it ends
// (dropping it if it broke). Thread-safe.
class PgPool {
 public:
  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<PgConnection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease();
    PgConnection* operator->() const { return conn_.get(); }
    PgConnection& operator*() const { return *conn_; }

   private:
    PgPool* pool_;
    std::unique_ptr<PgConnection> conn_;
  };

  explicit PgPool(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  // UNAVAILABLE when no connection is idle and a new one fails.
  [[nodiscard]] absl::StatusOr<Lease> Acquire();
  // Idle connections kept at most; more are closed when given back.
  static constexpr size_t kMaxIdleConnections = 16;

 private:
  void Release(std::unique_ptr<PgConnection> conn);

  const std::string conninfo_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
};

// Whether `conninfo` (a URI or key=value string) names a password, which
// must come from PGPASSWORD or a passfile instead. INVALID_ARGUMENT when
// libpq cannot parse it (its message, which never quotes the password).
[[nodiscard]] absl::StatusOr<bool> ConninfoHasPassword(
    const std::string& conninfo);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_PG_CONNECTION_H_
