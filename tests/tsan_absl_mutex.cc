// ThreadSanitizer support for Debian's abseil, which is built without it.
// absl::Mutex synchronises through atomics and futexes that ThreadSanitizer
// cannot see, so every access a Mutex guards would be reported as a race.
// Linked into the test executables of ATTNORACLE_TSAN builds only, this file
// interposes the Mutex and CondVar entry points (an executable's definition
// takes precedence over a shared library's, for the project's calls and for
// gRPC's), makes the annotations abseil itself makes when it is built with
// ThreadSanitizer, and forwards to the library's implementation.
//
// Between pre- and post-annotations ThreadSanitizer ignores memory accesses:
// abseil evaluates waiters' Conditions inside Lock, Unlock and Await, on
// whichever thread holds the mutex at the time. Calls the library makes to
// these entry points from inside one of them (CondVar::WaitWithTimeout
// calls WaitWithDeadline) reach this file too and are forwarded without a
// second annotation.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace {

#define ATTN_TSAN_STR_(x) #x
#define ATTN_TSAN_STR(x) ATTN_TSAN_STR_(x)

// The library's definition of absl::<class>::<method>, by its mangled name
// (`member` is the mangled tail after the class, e.g. "4LockEv").
template <typename Fn>
Fn Real(const char* cls, const char* member) {
  const std::string ns = ATTN_TSAN_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name =
      "_ZN4absl" + std::to_string(ns.size()) + ns + cls + member;
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

using MutexFn = void (*)(absl::Mutex*);
using MutexTryFn = bool (*)(absl::Mutex*);
using MutexCondFn = void (*)(absl::Mutex*, const absl::Condition&);
using CondVarWaitFn = void (*)(absl::CondVar*, absl::Mutex*);
using CondVarDeadlineFn = bool (*)(absl::CondVar*, absl::Mutex*, absl::Time);
using CondVarTimeoutFn = bool (*)(absl::CondVar*, absl::Mutex*, absl::Duration);

constexpr unsigned kRead = __tsan_mutex_read_lock;

// How many of this thread's calls are inside an interposed entry point.
thread_local int nesting = 0;

// Marks the outermost interposed call of a thread while it lives.
class Outermost {
 public:
  Outermost() : outermost_(nesting++ == 0) {}
  ~Outermost() { --nesting; }
  bool operator()() const { return outermost_; }

 private:
  bool outermost_;
};

void Locked(void* mu, unsigned flags) { __tsan_mutex_post_lock(mu, flags, 0); }

// Waiting releases the mutex and takes it back before returning.
template <typename Wait>
auto WaitingOn(absl::Mutex* mu, Wait wait) {
  __tsan_mutex_pre_unlock(mu, 0);
  auto result = wait();
  __tsan_mutex_post_unlock(mu, 0);
  __tsan_mutex_pre_lock(mu, 0);
  Locked(mu, 0);
  return result;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const MutexFn real = Real<MutexFn>("5Mutex", "4LockEv");
  const Outermost outermost;
  if (!outermost()) return real(this);
  __tsan_mutex_pre_lock(this, 0);
  real(this);
  Locked(this, 0);
}

void Mutex::Unlock() {
  static const MutexFn real = Real<MutexFn>("5Mutex", "6UnlockEv");
  const Outermost outermost;
  if (!outermost()) return real(this);
  __tsan_mutex_pre_unlock(this, 0);
  real(this);
  __tsan_mutex_post_unlock(this, 0);
}

bool Mutex::TryLock() {
  static const MutexTryFn real = Real<MutexTryFn>("5Mutex", "7TryLockEv");
  const Outermost outermost;
  if (!outermost()) return real(this);
  __tsan_mutex_pre_lock(this, __tsan_mutex_try_lock);
  const bool locked = real(this);
  Locked(this,
         __tsan_mutex_try_lock | (locked ? 0 : __tsan_mutex_try_lock_failed));
  return locked;
}

void Mutex::ReaderLock() {
  static const MutexFn real = Real<MutexFn>("5Mutex", "10ReaderLockEv");
  const Outermost outermost;
  if (!outermost()) return real(this);
  __tsan_mutex_pre_lock(this, kRead);
  real(this);
  Locked(this, kRead);
}

void Mutex::ReaderUnlock() {
  static const MutexFn real = Real<MutexFn>("5Mutex", "12ReaderUnlockEv");
  const Outermost outermost;
  if (!outermost()) return real(this);
  __tsan_mutex_pre_unlock(this, kRead);
  real(this);
  __tsan_mutex_post_unlock(this, kRead);
}

bool Mutex::ReaderTryLock() {
  static const MutexTryFn real =
      Real<MutexTryFn>("5Mutex", "13ReaderTryLockEv");
  const Outermost outermost;
  if (!outermost()) return real(this);
  __tsan_mutex_pre_lock(this, kRead | __tsan_mutex_try_lock);
  const bool locked = real(this);
  Locked(this, kRead | __tsan_mutex_try_lock |
                   (locked ? 0 : __tsan_mutex_try_lock_failed));
  return locked;
}

void Mutex::LockWhen(const Condition& cond) {
  static const MutexCondFn real =
      Real<MutexCondFn>("5Mutex", "8LockWhenERKNS0_9ConditionE");
  const Outermost outermost;
  if (!outermost()) return real(this, cond);
  __tsan_mutex_pre_lock(this, 0);
  real(this, cond);
  Locked(this, 0);
}

// Only ever called with the mutex held for writing, as the project does.
void Mutex::Await(const Condition& cond) {
  static const MutexCondFn real =
      Real<MutexCondFn>("5Mutex", "5AwaitERKNS0_9ConditionE");
  const Outermost outermost;
  if (!outermost()) return real(this, cond);
  WaitingOn(this, [&] {
    real(this, cond);
    return 0;
  });
}

void CondVar::Wait(Mutex* mu) {
  static const CondVarWaitFn real =
      Real<CondVarWaitFn>("7CondVar", "4WaitEPNS0_5MutexE");
  const Outermost outermost;
  if (!outermost()) return real(this, mu);
  WaitingOn(mu, [&] {
    real(this, mu);
    return 0;
  });
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  static const CondVarDeadlineFn real = Real<CondVarDeadlineFn>(
      "7CondVar", "16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  const Outermost outermost;
  if (!outermost()) return real(this, mu, deadline);
  return WaitingOn(mu, [&] { return real(this, mu, deadline); });
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  static const CondVarTimeoutFn real = Real<CondVarTimeoutFn>(
      "7CondVar", "15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  const Outermost outermost;
  if (!outermost()) return real(this, mu, timeout);
  return WaitingOn(mu, [&] { return real(this, mu, timeout); });
}

ABSL_NAMESPACE_END
}  // namespace absl
