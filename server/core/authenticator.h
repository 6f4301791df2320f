// Authenticator: who a call speaks for. In open mode (no admin token) every
// caller is the learner "anonymous". In competition mode a call carries a
// bearer token: the admin token, or a learner token issued by Register
// (only its SHA-256 is stored).
//
//   Authenticator auth(&store, admin_token);   // empty: open mode
//   absl::StatusOr<Principal> p = auth.Authenticate(bearer_token);
//
// Thread-safe. The store must outlive it.
#ifndef ATTNORACLE_SERVER_CORE_AUTHENTICATOR_H_
#define ATTNORACLE_SERVER_CORE_AUTHENTICATOR_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/core/store.h"

namespace attnoracle {

inline constexpr char kAnonymousLearner[] = "anonymous";

struct Principal {
  std::string name;  // learner name; empty for the admin
  Role role = Role::kLearner;
  bool is_admin() const { return role == Role::kAdmin; }
};

class Authenticator {
 public:
  // `admin_token` empty: open mode.
  Authenticator(Store* store, std::string admin_token);

  // Loads the registered learners. Call once, before serving.
  [[nodiscard]] absl::Status Load();

  bool competition_mode() const { return !admin_token_hash_.empty(); }

  // `token` is the bearer token ("" when the call has none). Open mode: the
  // anonymous learner, whatever the token. Competition mode:
  // UNAUTHENTICATED for no token, an unknown token or a revoked learner's.
  [[nodiscard]] absl::StatusOr<Principal> Authenticate(
      absl::string_view token) const;

  // Issues a token for a new learner and stores its hash. INVALID_ARGUMENT
  // for a bad name (1 to 64 of [a-z0-9._-], not "anonymous"),
  // ALREADY_EXISTS for a learner that is registered and not revoked. A
  // revoked learner gets a new token and is no longer revoked: its old
  // token stays refused, and its usage, transcripts and submissions stay
  // its own (students lose tokens).
  [[nodiscard]] absl::StatusOr<std::string> Register(const std::string& name);

  // NOT_FOUND for an unknown learner. Its token stops working at once.
  [[nodiscard]] absl::Status Revoke(const std::string& name);

  // NOT_FOUND unless `name` is a registered learner (revoked or not).
  [[nodiscard]] absl::Status CheckLearner(const std::string& name) const;

 private:
  Store* store_;
  const std::string admin_token_hash_;
  mutable absl::Mutex mu_;
  std::map<std::string, LearnerRecord> by_token_hash_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> hash_by_name_ ABSL_GUARDED_BY(mu_);
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_AUTHENTICATOR_H_
