// The web pages of the public site, as HTML and SVG text, drawn from
// PublicView's JSON (so the page shows exactly what /api serves):
//
//   RenderIndexPage(view.Challenges(), 5)       // "/": every challenge
//   RenderChallengePage(*view.Challenge(id), 5)  // "/challenges/ID"
//   RenderLeaderboardChart(*view.Challenge(id))  // "/challenges/ID/chart.svg"
//
// Pages work without JavaScript; with it, a small script reloads their
// /api document every `refresh_seconds` and redraws the leaderboards (text
// only, never markup) and the chart. Every string from a configuration or a
// learner is escaped.
#ifndef ATTNORACLE_SERVER_HTTP_SITE_PAGES_H_
#define ATTNORACLE_SERVER_HTTP_SITE_PAGES_H_

#include <string>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace attnoracle {

std::string RenderIndexPage(const nlohmann::ordered_json& challenges,
                            int refresh_seconds);
std::string RenderChallengePage(const nlohmann::ordered_json& challenge,
                                int refresh_seconds);
// Each learner's best submission as a point: functional error (log scale)
// against tokens spent (log scale); pass/fail challenges plot passed and
// failed rows instead of errors.
std::string RenderLeaderboardChart(const nlohmann::ordered_json& challenge);
// A page for an HTTP error: its status line and a message.
std::string RenderErrorPage(int http_status, absl::string_view reason,
                            absl::string_view message);

// `text` with & < > " ' as character references.
std::string HtmlEscape(absl::string_view text);

}  // namespace attnoracle

#endif  // ATTNORACLE_SERVER_HTTP_SITE_PAGES_H_
