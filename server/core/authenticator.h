// Authenticator: who a call speaks for. In open mode (no admin token) every
// caller is the learner "anonymous", unless open learner names are on and
// the caller names itself. In competition mode a call carries a bearer
// token: the admin token, or a learner token issued by Register (only its
// SHA-256 is stored).
//
//   Authenticator auth(&store, admin_token);   // empty: open mode
//   absl::StatusOr<Principal> p = auth.Authenticate(bearer_token);
//
//   Authenticator classroom(&store, "", {.enabled = true});
//   absl::StatusOr<Principal> alice = classroom.Authenticate("", "alice");
//
// Thread-safe. The store must outlive it.
#ifndef ATTNORACLE_SERVER_CORE_AUTHENTICATOR_H_
#define ATTNORACLE_SERVER_CORE_AUTHENTICATOR_H_

#include <map>
#include <optional>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/core/store.h"

namespace attnoracle {

inline constexpr char kAnonymousLearner[] = "anonymous";

// Distinct self-chosen names an open-mode server accepts by default: a few
// classes' worth.
inline constexpr int kDefaultMaxOpenLearners = 1000;

// Open learner names: for a class on a trusted network, where handing out
// tokens is more trouble than it is worth. A caller may name itself and is
// then that learner, with its own budget, usage, transcript, submissions
// (and secret, where secrets are per learner); a caller without a name is
// "anonymous". Names are not authentication: anyone can use any name.
// Competitions use tokens.
struct OpenLearnerOptions {
  // Off: open mode as before, where every caller is "anonymous".
  bool enabled = false;
  // How many distinct names the server takes, counting those with usage in
  // the store when it starts: each holds usage rows and transcripts, so a
  // client making up names must not grow them without end.
  int max_learners = kDefaultMaxOpenLearners;
};

struct Principal {
  std::string name;  // learner name; empty for the admin
  Role role = Role::kLearner;
  bool is_admin() const { return role == Role::kAdmin; }
};

class Authenticator {
 public:
  // `admin_token` empty: open mode.
  Authenticator(Store* store, std::string admin_token,
                OpenLearnerOptions open_learners = {});

  // Loads the registered learners (and, with open learner names, the names
  // that have usage). Call once, before serving. INVALID_ARGUMENT when open
  // learner names are on in competition mode (learners are known by their
  // tokens there) or max_learners is below 1.
  [[nodiscard]] absl::Status Load();
  // Reloads the registered learners from the store, for changes other
  // servers sharing it made (new learners, revocations, re-issued tokens).
  [[nodiscard]] absl::Status Refresh();

  bool competition_mode() const { return !admin_token_hash_.empty(); }

  // `token` is the bearer token ("" when the call has none); `learner` the
  // name the caller gives itself (nullopt when it gives none).
  //
  // Competition mode: the token decides, `learner` is ignored.
  // UNAUTHENTICATED for no token, an unknown token or a revoked learner's.
  //
  // Open mode: the token is ignored. Without a name the caller is
  // "anonymous". With one: FAILED_PRECONDITION unless open learner names
  // are on; INVALID_ARGUMENT unless it is 1 to 64 of [a-z0-9._-] and not
  // "anonymous" (the message does not repeat the name); PERMISSION_DENIED
  // for the name of a registered learner (from an earlier competition on
  // the same database); RESOURCE_EXHAUSTED for a new name once
  // max_learners names are taken. A new name is taken by its first call.
  [[nodiscard]] absl::StatusOr<Principal> Authenticate(
      absl::string_view token,
      std::optional<absl::string_view> learner = std::nullopt) const;

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
  absl::StatusOr<Principal> OpenLearner(absl::string_view name) const;

  Store* store_;
  const std::string admin_token_hash_;
  const OpenLearnerOptions open_learners_;
  mutable absl::Mutex mu_;
  std::map<std::string, LearnerRecord> by_token_hash_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> hash_by_name_ ABSL_GUARDED_BY(mu_);
  // Names open-mode callers have taken (with open learner names on).
  mutable std::set<std::string, std::less<>> open_names_ ABSL_GUARDED_BY(mu_);
};

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_CORE_AUTHENTICATOR_H_
