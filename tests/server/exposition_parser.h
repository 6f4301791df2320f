// A strict reader of Prometheus's text exposition format (0.0.4), for the
// tests of /metrics: every line must be a HELP, a TYPE or a sample of the
// family declared last, names and label names valid, label values escaped,
// no series twice, and histograms whole (cumulative buckets ending in
// le="+Inf" equal to _count, with _sum and _count).
//
//   absl::StatusOr<Exposition> e = ParseExposition(text);
//   double v = e->Value("attnoracle_rpcs_total", {{"code", "OK"}, ...});
#ifndef ATTNORACLE_TESTS_SERVER_EXPOSITION_PARSER_H_
#define ATTNORACLE_TESTS_SERVER_EXPOSITION_PARSER_H_

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace attnoracle::test {

struct ExpositionSample {
  std::string name;  // with its suffix (_bucket, _sum, _count)
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct ExpositionFamily {
  std::string type;
  std::string help;
  std::vector<ExpositionSample> samples;
};

struct Exposition {
  std::map<std::string, ExpositionFamily> families;

  // The value of the sample `name` with exactly `labels`; nullopt if none.
  std::optional<double> Find(
      const std::string& name,
      const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& [family_name, family] : families) {
      for (const ExpositionSample& s : family.samples) {
        if (s.name == name && s.labels == labels) return s.value;
      }
    }
    return std::nullopt;
  }
  // Every sample named `name`.
  std::vector<ExpositionSample> All(const std::string& name) const {
    std::vector<ExpositionSample> out;
    for (const auto& [family_name, family] : families) {
      for (const ExpositionSample& s : family.samples) {
        if (s.name == name) out.push_back(s);
      }
    }
    return out;
  }
};

namespace exposition_internal {

inline bool ValidMetricName(const std::string& s) {
  static const std::regex re("[a-zA-Z_:][a-zA-Z0-9_:]*");
  return std::regex_match(s, re);
}
inline bool ValidLabelName(const std::string& s) {
  static const std::regex re("[a-zA-Z_][a-zA-Z0-9_]*");
  return std::regex_match(s, re) && s.rfind("__", 0) != 0;
}

inline absl::StatusOr<double> ParseValue(const std::string& s) {
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "NaN") return NAN;
  static const std::regex re(R"(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)");
  if (!std::regex_match(s, re)) {
    return absl::InvalidArgumentError(absl::StrCat("bad value '", s, "'"));
  }
  return std::strtod(s.c_str(), nullptr);
}

// name{a="x",b="y"} value, with \\ \" \n escapes in the values.
inline absl::StatusOr<ExpositionSample> ParseSample(const std::string& line) {
  ExpositionSample s;
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = line.substr(0, i);
  if (!ValidMetricName(s.name)) {
    return absl::InvalidArgumentError(absl::StrCat("bad name: ", line));
  }
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      if (i >= line.size()) {
        return absl::InvalidArgumentError(absl::StrCat("unclosed {: ", line));
      }
      if (line[i] == '}') {
        ++i;
        break;
      }
      const size_t eq = line.find('=', i);
      if (eq == std::string::npos || eq + 1 >= line.size() ||
          line[eq + 1] != '"') {
        return absl::InvalidArgumentError(absl::StrCat("bad label: ", line));
      }
      const std::string key = line.substr(i, eq - i);
      if (!ValidLabelName(key) || s.labels.count(key) > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad or repeated label name '", key, "': ", line));
      }
      std::string value;
      size_t j = eq + 2;
      for (;; ++j) {
        if (j >= line.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat("unterminated label value: ", line));
        }
        if (line[j] == '"') break;
        if (line[j] == '\n') {
          return absl::InvalidArgumentError("raw newline in a label value");
        }
        if (line[j] == '\\') {
          if (j + 1 >= line.size()) {
            return absl::InvalidArgumentError("dangling backslash");
          }
          const char e = line[++j];
          if (e == 'n') {
            value += '\n';
          } else if (e == '\\' || e == '"') {
            value += e;
          } else {
            return absl::InvalidArgumentError(
                absl::StrCat("bad escape \\", std::string(1, e), ": ", line));
          }
        } else {
          value += line[j];
        }
      }
      s.labels[key] = value;
      i = j + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
  }
  if (i >= line.size() || line[i] != ' ') {
    return absl::InvalidArgumentError(absl::StrCat("no value: ", line));
  }
  const std::string rest = line.substr(i + 1);
  if (rest.find(' ') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("timestamps or extra fields: ", line));
  }
  absl::StatusOr<double> v = ParseValue(rest);
  if (!v.ok()) return v.status();
  s.value = *v;
  return s;
}

// The family a sample belongs to: its name, or without the histogram
// suffixes.
inline bool BelongsTo(const std::string& sample, const std::string& family,
                      const std::string& type) {
  if (sample == family) return type != "histogram";
  if (type != "histogram") return false;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (sample == family + suffix) return true;
  }
  return false;
}

inline absl::Status CheckHistogram(const std::string& name,
                                   const ExpositionFamily& f) {
  // Series by their labels without "le".
  std::map<std::map<std::string, std::string>,
           std::vector<std::pair<double, double>>>
      buckets;
  std::map<std::map<std::string, std::string>, double> counts;
  std::set<std::map<std::string, std::string>> sums;
  for (const ExpositionSample& s : f.samples) {
    std::map<std::string, std::string> key = s.labels;
    if (s.name == name + "_bucket") {
      const auto le = key.find("le");
      if (le == key.end()) return absl::InvalidArgumentError("bucket sans le");
      absl::StatusOr<double> bound = ParseValue(le->second);
      if (!bound.ok()) return bound.status();
      key.erase(le);
      buckets[key].push_back({*bound, s.value});
    } else if (s.name == name + "_count") {
      counts[key] = s.value;
    } else {
      sums.insert(key);
    }
  }
  for (const auto& [key, list] : buckets) {
    for (size_t i = 1; i < list.size(); ++i) {
      if (!(list[i].first > list[i - 1].first) ||
          list[i].second < list[i - 1].second) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, ": buckets not increasing or not cumulative at ", i));
      }
    }
    if (list.empty() || !std::isinf(list.back().first)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": no le=\"+Inf\" bucket last"));
    }
    if (counts.count(key) == 0 || sums.count(key) == 0 ||
        counts[key] != list.back().second) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": _count missing or not the +Inf bucket, or no _sum"));
    }
  }
  if (buckets.size() != counts.size() || counts.size() != sums.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": _sum or _count without buckets"));
  }
  return absl::OkStatus();
}

}  // namespace exposition_internal

inline absl::StatusOr<Exposition> ParseExposition(const std::string& text) {
  using namespace exposition_internal;
  Exposition e;
  if (!text.empty() && text.back() != '\n') {
    return absl::InvalidArgumentError("the text does not end in a newline");
  }
  std::string current;
  std::set<std::string> series;
  for (const absl::string_view raw : absl::StrSplit(text, '\n')) {
    const std::string line(raw);
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      const std::string rest = line.substr(7);
      const size_t space = rest.find(' ');
      if (space == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("bad line: ", line));
      }
      const std::string name = rest.substr(0, space);
      if (!ValidMetricName(name)) {
        return absl::InvalidArgumentError(absl::StrCat("bad name: ", line));
      }
      ExpositionFamily& f = e.families[name];
      if (line[2] == 'H') {
        if (!f.help.empty() || !f.samples.empty()) {
          return absl::InvalidArgumentError(absl::StrCat("late HELP: ", line));
        }
        f.help = rest.substr(space + 1);
      } else {
        const std::string type = rest.substr(space + 1);
        if (!f.type.empty() || !f.samples.empty() ||
            (type != "counter" && type != "gauge" && type != "histogram" &&
             type != "summary" && type != "untyped")) {
          return absl::InvalidArgumentError(absl::StrCat("bad TYPE: ", line));
        }
        f.type = type;
      }
      current = name;
      continue;
    }
    if (line[0] == '#') continue;  // a comment
    absl::StatusOr<ExpositionSample> s = ParseSample(line);
    if (!s.ok()) return s.status();
    if (current.empty() ||
        !BelongsTo(s->name, current, e.families[current].type)) {
      return absl::InvalidArgumentError(
          absl::StrCat("sample outside its family's block: ", line));
    }
    std::string id = s->name;
    for (const auto& [k, v] : s->labels) absl::StrAppend(&id, "|", k, "=", v);
    if (!series.insert(id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("repeated series: ", line));
    }
    if (e.families[current].type == "counter" && !(s->value >= 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("negative counter: ", line));
    }
    e.families[current].samples.push_back(*std::move(s));
  }
  for (const auto& [name, f] : e.families) {
    if (f.type.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(name, " has no TYPE"));
    }
    if (f.type == "histogram") {
      absl::Status s = CheckHistogram(name, f);
      if (!s.ok()) return s;
    }
  }
  return e;
}

}  // namespace attnoracle::test

#endif  // ATTNORACLE_TESTS_SERVER_EXPOSITION_PARSER_H_
