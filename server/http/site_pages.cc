#include "server/http/site_pages.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace attnoracle {
namespace {

using Json = nlohmann::ordered_json;

// Shared by every page; small enough to send each time.
constexpr char kStyle[] = R"css(
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em;
       padding: 0 1em; color: #1b1b1b; }
h1 { margin-bottom: 0.2em; }
section.challenge { border-top: 1px solid #ccc; padding-top: 0.5em; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: 600; }
dd { margin: 0; }
code { overflow-wrap: anywhere; }
table.leaderboard { border-collapse: collapse; margin: 0.5em 0 1.5em; }
table.leaderboard th, table.leaderboard td { padding: 0.2em 0.8em;
  border-bottom: 1px solid #ddd; text-align: right; }
table.leaderboard td.learner, table.leaderboard th.learner { text-align: left; }
.muted { color: #666; }
.phase-open { color: #1a7f37; } .phase-closed { color: #9a6700; }
.phase-revealed { color: #0550ae; }
)css";

// Redraws the leaderboards from the page's /api document. Builds rows with
// textContent only, so nothing a learner chose is ever parsed as markup.
constexpr char kScript[] = R"js(
(function () {
  const api = document.body.dataset.api;
  const every = Number(document.body.dataset.refreshSeconds) * 1000;
  function sel(kind, id) {
    return document.querySelector(kind + '[data-challenge="' + CSS.escape(id) + '"]');
  }
  function cell(tr, cls, text) {
    const td = document.createElement('td');
    td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
  }
  function error(s) {
    if (s.feedback === 'pass_fail') return s.passed ? 'pass' : 'fail';
    const e = s[s.headline || 'functional_rel_err'];
    return e == null ? 'n/a' : e.toExponential(2);
  }
  function bits(s) {
    if (s.feedback === 'pass_fail' || s.bits == null) return '\u2014';
    return s.bits.toFixed(1);
  }
  function render(ch) {
    const table = sel('table.leaderboard', ch.id);
    if (!table || !ch.leaderboard) return;
    const rows = ch.leaderboard.map(function (r) {
      const tr = document.createElement('tr');
      tr.dataset.learner = r.learner;
      cell(tr, 'rank', String(r.rank));
      cell(tr, 'learner', r.learner);
      cell(tr, 'error', error(r.score));
      cell(tr, 'bits', bits(r.score));
      cell(tr, 'tokens', String(r.score.tokens_used));
      cell(tr, 'submitted', r.submitted);
      return tr;
    });
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      tr.className = 'empty';
      const td = document.createElement('td');
      td.colSpan = 6;
      td.className = 'muted';
      td.textContent = 'no submissions yet';
      tr.appendChild(td);
      rows.push(tr);
    }
    table.tBodies[0].replaceChildren.apply(table.tBodies[0], rows);
    const phase = sel('span.phase', ch.id);
    if (phase) {
      phase.textContent = ch.phase;
      phase.className = 'phase phase-' + ch.phase;
    }
    const chart = sel('img.chart', ch.id);
    if (chart) chart.src = chart.dataset.src + '?t=' + Date.now();
  }
  async function refresh() {
    const status = document.getElementById('refresh-status');
    try {
      const response = await fetch(api, {cache: 'no-store'});
      if (!response.ok) throw new Error('HTTP ' + response.status);
      const doc = await response.json();
      (doc.challenges || [doc]).forEach(render);
      status.textContent = 'updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      status.textContent = 'refresh failed (' + e.message + '); retrying';
    }
  }
  refresh();
  setInterval(refresh, every);
})();
)js";

std::string Head(absl::string_view title) {
  return absl::StrCat(
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, "
      "initial-scale=1\">\n<title>",
      HtmlEscape(title), "</title>\n<style>", kStyle, "</style>\n</head>\n");
}

std::string Str(const Json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Num(const Json& j) {
  if (j.is_number_integer() || j.is_number_unsigned()) return j.dump();
  if (j.is_number()) return absl::StrFormat("%g", j.get<double>());
  return "n/a";
}

std::string ErrorCell(const Json& score) {
  if (Str(score, "feedback") == "pass_fail") {
    return score.value("passed", false) ? "pass" : "fail";
  }
  // The headline: sign_disagreement on sign challenges.
  const Json& e =
      score[score.value("headline", std::string("functional_rel_err"))];
  return e.is_number() ? absl::StrFormat("%.2e", e.get<double>()) : "n/a";
}

std::string BitsCell(const Json& score) {
  if (Str(score, "feedback") == "pass_fail" || !score["bits"].is_number()) {
    return "&#8212;";
  }
  return absl::StrFormat("%.1f", score["bits"].get<double>());
}

std::string LeaderboardTable(const Json& ch) {
  const std::string id = HtmlEscape(Str(ch, "id"));
  std::string out = absl::StrCat(
      "<table class=\"leaderboard\" data-challenge=\"", id,
      "\">\n<thead><tr><th class=\"rank\">rank</th><th "
      "class=\"learner\">learner</th><th>",
      Str(ch["scoring"], "feedback") == "pass_fail" ? "result"
                                                    : "functional error",
      "</th><th>bits</th><th>tokens</th><th>submitted (UTC)</th></tr>"
      "</thead>\n<tbody>\n");
  const Json& rows = ch["leaderboard"];
  if (!rows.is_array() || rows.empty()) {
    absl::StrAppend(&out,
                    "<tr class=\"empty\"><td colspan=\"6\" class=\"muted\">"
                    "no submissions yet</td></tr>\n");
  } else {
    for (const Json& r : rows) {
      const Json& s = r["score"];
      const std::string learner = HtmlEscape(Str(r, "learner"));
      absl::StrAppend(
          &out, "<tr data-learner=\"", learner, "\"><td class=\"rank\">",
          Num(r["rank"]), "</td><td class=\"learner\">", learner,
          "</td><td class=\"error\">", ErrorCell(s), "</td><td class=\"bits\">",
          BitsCell(s), "</td><td class=\"tokens\">", Num(s["tokens_used"]),
          "</td><td class=\"submitted\">", HtmlEscape(Str(r, "submitted")),
          "</td></tr>\n");
    }
  }
  return out + "</tbody>\n</table>\n";
}

std::string ChallengeSection(const Json& ch, bool full_page) {
  const std::string raw_id = Str(ch, "id");
  const std::string id = HtmlEscape(raw_id);
  std::string out = absl::StrCat(
      "<section class=\"challenge\" id=\"challenge-", id, "\">\n<h2>",
      full_page ? id
                : absl::StrCat("<a href=\"/challenges/", id, "\">", id, "</a>"),
      ": ", HtmlEscape(Str(ch, "title")), "</h2>\n");
  if (ch.contains("error")) {
    absl::StrAppend(&out, "<p class=\"muted\">unavailable: ",
                    HtmlEscape(Str(ch, "error")), "</p>\n</section>\n");
    return out;
  }
  if (full_page) {
    absl::StrAppend(&out, "<p>", HtmlEscape(Str(ch, "description")), "</p>\n");
  }
  const Json& spec = ch["spec"];
  const Json& policy = ch["policy"];
  const Json& scoring = ch["scoring"];
  const std::string phase = HtmlEscape(Str(ch, "phase"));
  const int max_submissions = scoring.value("max_submissions", 0);
  absl::StrAppend(
      &out, "<dl>\n<dt>phase</dt><dd><span class=\"phase phase-", phase,
      "\" data-challenge=\"", id, "\">", phase, "</span></dd>\n",
      "<dt>layer</dt><dd>d_model=", Num(spec["d_model"]),
      " heads=", Num(spec["heads"]), " head_dim=", Num(spec["head_dim"]),
      " value_dim=", Num(spec["value_dim"]), " out_dim=", Num(spec["out_dim"]),
      " mask=", HtmlEscape(Str(spec, "mask")),
      " readout=", HtmlEscape(Str(spec, "readout")),
      " score_scale=", Num(spec["score_scale"]),
      " biases=", spec.value("biases", false) ? "yes" : "no", "</dd>\n",
      "<dt>answers</dt><dd>", HtmlEscape(Str(policy, "precision")),
      policy.value("noise_sigma", 0.0) > 0
          ? absl::StrCat(", gaussian noise sigma=", Num(policy["noise_sigma"]))
          : "",
      "</dd>\n<dt>budget</dt><dd>", Num(policy["budget"]["queries"]),
      " queries, ", Num(policy["budget"]["tokens"]),
      " tokens per learner</dd>\n<dt>submissions</dt><dd>",
      max_submissions > 0 ? absl::StrCat(max_submissions, " per learner")
                          : "unlimited",
      "; feedback ", HtmlEscape(Str(scoring, "feedback")),
      "</dd>\n<dt>commitment</dt><dd><code>", HtmlEscape(Str(ch, "commitment")),
      "</code>",
      ch.value("per_learner_secrets", false)
          ? " (the shared secret's; each learner has a secret and a "
            "commitment of its own)"
          : "",
      "</dd>\n");
  if (ch.contains("reveal")) {
    const bool opens = ch["reveal"].value("commitment_opens", false);
    absl::StrAppend(
        &out, "<dt>commitment check</dt><dd class=\"commitment-check\">",
        opens ? "the revealed secret and nonce open the commitment"
              : "FAILED: the revealed secret and nonce do not open the "
                "commitment",
        " (<a href=\"", HtmlEscape(Str(ch["reveal"], "export")),
        "\">revealed secret, JSON</a>)</dd>\n");
  }
  absl::StrAppend(&out, "</dl>\n");
  if (full_page) {
    const std::string chart = absl::StrCat("/challenges/", id, "/chart.svg");
    absl::StrAppend(&out, "<h3>Error against tokens spent</h3>\n",
                    "<img class=\"chart\" data-challenge=\"", id,
                    "\" data-src=\"", chart, "\" src=\"", chart,
                    "\" width=\"640\" height=\"360\" alt=\"each learner's "
                    "best functional error against the tokens it spent\">\n");
  }
  absl::StrAppend(&out, "<h3>Leaderboard</h3>\n", LeaderboardTable(ch),
                  "</section>\n");
  return out;
}

std::string Page(absl::string_view title, absl::string_view api,
                 int refresh_seconds, absl::string_view heading,
                 absl::string_view body) {
  return absl::StrCat(
      Head(title), "<body data-api=\"", HtmlEscape(api),
      "\" data-refresh-seconds=\"", refresh_seconds, "\">\n<header><h1>",
      heading,
      "</h1>\n<p class=\"muted\">Public view: what every learner may see. "
      "Refreshes every ",
      refresh_seconds,
      " s; <span id=\"refresh-status\"></span> &#183; data as JSON: <a "
      "href=\"",
      HtmlEscape(api), "\">", HtmlEscape(api), "</a></p></header>\n<main>\n",
      body, "</main>\n<script>", kScript, "</script>\n</body>\n</html>\n");
}

// The chart's frame, in SVG user units.
constexpr double kChartWidth = 640;
constexpr double kChartHeight = 360;
constexpr double kLeft = 70;
constexpr double kRight = 20;
constexpr double kTop = 20;
constexpr double kBottom = 50;
// Errors of exact recoveries are 0 or below double's resolution; they are
// drawn at this floor.
constexpr double kErrorFloor = 1e-32;

struct Axis {
  double lo_log10 = 0;
  double hi_log10 = 1;
  double From(double value, double start, double length) const {
    const double t =
        (std::log10(value) - lo_log10) / std::max(hi_log10 - lo_log10, 1e-9);
    return start + t * length;
  }
};

// Whole decades around [lo, hi].
Axis DecadesAround(double lo, double hi) {
  Axis a{std::floor(std::log10(lo)), std::ceil(std::log10(hi))};
  if (a.hi_log10 <= a.lo_log10) a.hi_log10 = a.lo_log10 + 1;
  return a;
}

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string RenderIndexPage(const Json& challenges, int refresh_seconds) {
  std::string body;
  for (const Json& ch : challenges["challenges"]) {
    absl::StrAppend(&body, ChallengeSection(ch, false));
  }
  if (challenges["challenges"].empty()) {
    body = "<p class=\"muted\">This server hosts no challenges.</p>\n";
  }
  return Page("AttnOracle: challenges", "/api/challenges", refresh_seconds,
              "AttnOracle challenges", body);
}

std::string RenderChallengePage(const Json& challenge, int refresh_seconds) {
  const std::string id = Str(challenge, "id");
  return Page(
      absl::StrCat("AttnOracle: ", id), absl::StrCat("/api/challenges/", id),
      refresh_seconds,
      absl::StrCat("<a href=\"/\">AttnOracle</a> &#8250; ", HtmlEscape(id)),
      ChallengeSection(challenge, true));
}

std::string RenderLeaderboardChart(const Json& challenge) {
  const bool pass_fail = Str(challenge["scoring"], "feedback") == "pass_fail";
  struct Point {
    std::string learner;
    double tokens;
    double error;  // pass/fail: 1 passed, 0 failed
  };
  std::vector<Point> points;
  for (const Json& r : challenge["leaderboard"]) {
    const Json& s = r["score"];
    Point p{Str(r, "learner"), std::max(1.0, s.value("tokens_used", 0.0)), 0};
    if (pass_fail) {
      p.error = s.value("passed", false) ? 1 : 0;
    } else {
      const Json& e = s[s.value("headline", std::string("functional_rel_err"))];
      p.error = e.is_number() ? e.get<double>() : 0;
      if (!std::isfinite(p.error) || p.error < kErrorFloor) {
        p.error = kErrorFloor;
      }
    }
    points.push_back(std::move(p));
  }
  const double plot_w = kChartWidth - kLeft - kRight;
  const double plot_h = kChartHeight - kTop - kBottom;
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
      "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"11\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" "
      "stroke=\"#999\"/>\n",
      kChartWidth, kChartHeight, kChartWidth, kChartHeight, kLeft, kTop, plot_w,
      plot_h);
  if (points.empty()) {
    absl::StrAppend(
        &svg, absl::StrFormat("<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" "
                              "fill=\"#666\">no submissions yet</text>\n",
                              kLeft + plot_w / 2, kTop + plot_h / 2));
    return svg + "</svg>\n";
  }
  double min_tokens = points[0].tokens, max_tokens = points[0].tokens;
  double min_error = points[0].error, max_error = points[0].error;
  for (const Point& p : points) {
    min_tokens = std::min(min_tokens, p.tokens);
    max_tokens = std::max(max_tokens, p.tokens);
    min_error = std::min(min_error, p.error);
    max_error = std::max(max_error, p.error);
  }
  const Axis x = DecadesAround(min_tokens, max_tokens);
  for (double d = x.lo_log10; d <= x.hi_log10; ++d) {
    const double px = x.From(std::pow(10.0, d), kLeft, plot_w);
    absl::StrAppend(
        &svg,
        absl::StrFormat("<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" "
                        "stroke=\"#eee\"/>\n<text x=\"%.1f\" y=\"%g\" "
                        "text-anchor=\"middle\">1e%d</text>\n",
                        px, kTop, px, kTop + plot_h, px, kTop + plot_h + 15,
                        static_cast<int>(d)));
  }
  absl::StrAppend(
      &svg, absl::StrFormat("<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">"
                            "tokens spent (log scale)</text>\n",
                            kLeft + plot_w / 2, kChartHeight - 10));
  Axis y;
  if (pass_fail) {
    for (const auto& [value, label] :
         {std::pair{1.0, "passed"}, std::pair{0.0, "failed"}}) {
      const double py = kTop + plot_h * (value > 0 ? 0.25 : 0.75);
      absl::StrAppend(&svg, absl::StrFormat("<text x=\"%g\" y=\"%.1f\" "
                                            "text-anchor=\"end\">%s</text>\n",
                                            kLeft - 6, py + 4, label));
    }
  } else {
    y = DecadesAround(min_error, max_error);
    const int step =
        std::max(1, static_cast<int>(std::ceil((y.hi_log10 - y.lo_log10) / 8)));
    for (double d = y.lo_log10; d <= y.hi_log10; d += step) {
      const double py = kTop + plot_h - y.From(std::pow(10.0, d), 0, plot_h);
      absl::StrAppend(
          &svg,
          absl::StrFormat("<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" "
                          "stroke=\"#eee\"/>\n<text x=\"%g\" y=\"%.1f\" "
                          "text-anchor=\"end\">1e%d</text>\n",
                          kLeft, py, kLeft + plot_w, py, kLeft - 6, py + 4,
                          static_cast<int>(d)));
    }
    absl::StrAppend(
        &svg,
        absl::StrFormat(
            "<text transform=\"translate(14 %g) rotate(-90)\" "
            "text-anchor=\"middle\">functional error (log scale)</text>\n",
            kTop + plot_h / 2));
  }
  for (const Point& p : points) {
    const double px = x.From(p.tokens, kLeft, plot_w);
    const double py = pass_fail ? kTop + plot_h * (p.error > 0 ? 0.25 : 0.75)
                                : kTop + plot_h - y.From(p.error, 0, plot_h);
    absl::StrAppend(
        &svg,
        absl::StrFormat("<g class=\"point\"><circle cx=\"%.1f\" cy=\"%.1f\" "
                        "r=\"5\" fill=\"#0550ae\"/><text x=\"%.1f\" "
                        "y=\"%.1f\">%s</text></g>\n",
                        px, py, px + 8, py - 6, HtmlEscape(p.learner)));
  }
  return svg + "</svg>\n";
}

std::string RenderErrorPage(int http_status, absl::string_view reason,
                            absl::string_view message) {
  return absl::StrCat(Head(absl::StrCat(http_status, " ", reason)),
                      "<body>\n<h1>", http_status, " ", HtmlEscape(reason),
                      "</h1>\n<p>", HtmlEscape(message),
                      "</p>\n<p><a href=\"/\">All challenges</a></p>\n"
                      "</body>\n</html>\n");
}

}  // namespace attnoracle
