// SecretScanner: looks for a secret layer's parameters in text and bytes the
// server produced (answers, error messages, logs), in the forms a leak would
// take: each entry of the raw factors and of Theta and Omega printed with 6,
// 9 or 17 significant digits, or as the 8 bytes of a float64, exact or
// rounded to float32 (how a float32 value travels in this project's
// messages; raw 4-byte windows would match random data too often).
//
//   SecretScanner scanner(spec, secret);
//   EXPECT_EQ(scanner.Find(log_text), "");   // "" means nothing found
//
// Linear in the haystack's length, so whole soak transcripts can be
// scanned. Thread-compatible.
#ifndef ATTNORACLE_TESTS_SECRET_LEAK_H_
#define ATTNORACLE_TESTS_SECRET_LEAK_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/layer_params.h"
#include "common/layer_spec.h"

namespace attnoracle::test {

class SecretScanner {
 public:
  SecretScanner(const LayerSpec& spec, const LayerParams& secret) {
    for (size_t h = 0; h < secret.heads.size(); ++h) {
      const HeadParams& head = secret.heads[h];
      const std::string at = absl::StrCat("head ", h, " ");
      AddAll(at + "wq", head.wq);
      AddAll(at + "wk", head.wk);
      AddAll(at + "wv", head.wv);
      AddAll(at + "wo", head.wo);
      AddAll(at + "bq", head.bq);
      AddAll(at + "bk", head.bk);
      AddAll(at + "bv", head.bv);
      AddAll(at + "theta", Theta(spec, head));
      AddAll(at + "omega", Omega(head));
    }
    AddAll("bo", secret.bo);
  }

  // Where the first secret value in `haystack` is and what it is, or "".
  std::string Find(absl::string_view haystack) const {
    for (size_t i = 0; i < haystack.size(); ++i) {
      if (i + 8 <= haystack.size()) {
        uint64_t word;
        std::memcpy(&word, haystack.data() + i, 8);
        if (auto it = doubles_.find(word); it != doubles_.end()) {
          return absl::StrCat(it->second, " as float64 bytes at ", i);
        }
        if (auto it = floats_.find(word); it != floats_.end()) {
          return absl::StrCat(it->second, " rounded to float32, at ", i);
        }
      }
    }
    // Printed numbers: maximal runs of number characters.
    size_t start = 0;
    while (start < haystack.size()) {
      if (!IsNumberChar(haystack[start])) {
        ++start;
        continue;
      }
      size_t end = start;
      while (end < haystack.size() && IsNumberChar(haystack[end])) ++end;
      absl::string_view run = haystack.substr(start, end - start);
      while (!run.empty() && (run.front() == '+' || run.front() == '-')) {
        run.remove_prefix(1);
      }
      if (auto it = texts_.find(std::string(run)); it != texts_.end()) {
        return absl::StrCat(it->second, " printed as \"", run, "\" at ", start);
      }
      start = end;
    }
    return "";
  }

  size_t values() const { return doubles_.size(); }

 private:
  static bool IsNumberChar(char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' ||
           c == '+' || c == '-';
  }

  template <typename M>
  void AddAll(const std::string& name, const M& m) {
    for (Eigen::Index i = 0; i < m.size(); ++i) {
      Add(absl::StrCat(name, "[", i, "]"), m.data()[i]);
    }
  }

  void Add(const std::string& what, double v) {
    // Zero and values this short are not secret-specific: skip them.
    if (v == 0 || absl::StrFormat("%.17g", v).size() < 8) return;
    uint64_t d;
    std::memcpy(&d, &v, 8);
    doubles_.emplace(d, what);
    const double f = static_cast<float>(v);
    uint64_t w;
    std::memcpy(&w, &f, 8);
    floats_.emplace(w, what);
    const double magnitude = v < 0 ? -v : v;
    for (int digits : {6, 9, 17}) {
      texts_.emplace(absl::StrFormat("%.*g", digits, magnitude), what);
    }
    texts_.emplace(absl::StrCat(magnitude), what);
  }

  std::unordered_map<uint64_t, std::string> doubles_;
  std::unordered_map<uint64_t, std::string> floats_;  // float32-rounded
  std::unordered_map<std::string, std::string> texts_;
};

}  // namespace attnoracle::test

#endif  // ATTNORACLE_TESTS_SECRET_LEAK_H_
