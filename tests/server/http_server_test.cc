// The HTTP edge over a real core on loopback: every endpoint's JSON, the
// page and chart, feedback masking exactly as GetLeaderboard's, no secret
// before the reveal, the probes, bad requests (unknown challenge, malformed
// id, long path, other methods), and /metrics read back by a strict parser
// of the exposition format, with its learner bound.
#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/hashing.h"
#include "nlohmann/json.hpp"
#include "server/http/exposition_writer.h"
#include "server/http/site_pages.h"
#include "tests/server/core_fixture.h"
#include "tests/server/exposition_parser.h"
#include "tests/test_util.h"

namespace attnoracle {
namespace {

using ::attnoracle::test::CoreHarness;
using ::attnoracle::test::LearnerPrincipal;
using ::attnoracle::test::ParseExposition;
using ::attnoracle::test::RandomMatrix;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::ordered_json;

constexpr char kFull[] = "full-d2";
constexpr char kPassFail[] = "passfail-d2";
constexpr int kDModel = 2;
constexpr int kMaxLearners = 2;

ChallengeConfig Small(const std::string& id, Feedback feedback) {
  ChallengeConfig c;
  c.id = id;
  c.title = absl::StrCat("Small <b>", id, "</b> & co");
  c.spec = {.d_model = kDModel};
  c.prior.seed = 7;
  c.policy.budget = {.queries = 100, .tokens = 1000};
  c.scoring.feedback = feedback;
  return c;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.core.set_metrics(&metrics_);
    h_.ledger.set_metrics(&metrics_);
    ASSERT_TRUE(h_.registry.Create(Small(kFull, Feedback::kFull)).ok());
    ASSERT_TRUE(h_.registry.Create(Small(kPassFail, Feedback::kPassFail)).ok());
    auto http = HttpServer::Start({.address = "127.0.0.1:0", .threads = 2});
    ASSERT_TRUE(http.ok()) << http.status();
    http_ = *std::move(http);
    http_->Attach(&h_.core, &metrics_, kMaxLearners);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", http_->port());
  }

  // GET `path`; the response, or a failed test.
  httplib::Result Get(const std::string& path) {
    httplib::Result r = client_->Get(path);
    EXPECT_TRUE(r) << path << ": " << httplib::to_string(r.error());
    return r;
  }

  Json GetJson(const std::string& path, int want_status = 200) {
    httplib::Result r = Get(path);
    if (!r) return Json();
    EXPECT_EQ(r->status, want_status) << path << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    return Json::parse(r->body);
  }

  // The challenge's secret for `learner`, or it with Wo negated (a bad
  // hypothesis of the right shape).
  LayerParams Hypothesis(const std::string& challenge,
                         const std::string& learner, bool good) {
    LayerParams p = (*h_.registry.Find(challenge))->SecretFor(learner)->params;
    if (!good) p.heads[0].wo = -p.heads[0].wo;
    return p;
  }

  void Submit(const std::string& challenge, const std::string& learner,
              bool good) {
    ASSERT_TRUE(h_.core
                    .Submit(LearnerPrincipal(learner), challenge,
                            Hypothesis(challenge, learner, good))
                    .ok());
  }

  absl::Status Query(const std::string& challenge, const std::string& learner,
                     std::vector<int> lengths) {
    Rng rng(3);
    std::vector<Matrix> xs;
    for (int n : lengths) xs.push_back(RandomMatrix(rng, n, kDModel));
    std::vector<ConstMatrixMap> maps;
    for (const Matrix& x : xs) maps.emplace_back(x.data(), x.rows(), x.cols());
    std::vector<Matrix> out(xs.size());
    return h_.core
        .Query(LearnerPrincipal(learner), challenge, maps,
               [&](size_t i, int rows, int cols) {
                 out[i].resize(rows, cols);
                 return MatrixMap(out[i].data(), rows, cols);
               })
        .status();
  }

  CoreHarness h_;
  ServerMetrics metrics_{{.max_learners = kMaxLearners}};
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(HttpServerTest, ApiListsEveryChallengeWithItsPublicDescription) {
  const Json doc = GetJson("/api/challenges");
  ASSERT_EQ(doc["challenges"].size(), 2u);
  const Json& full = doc["challenges"][0];
  EXPECT_EQ(full["id"], kFull);
  EXPECT_EQ(full["phase"], "open");
  EXPECT_EQ(full["spec"]["d_model"], kDModel);
  EXPECT_EQ(full["policy"]["budget"]["queries"], 100);
  EXPECT_EQ(full["policy"]["budget"]["tokens"], 1000);
  EXPECT_EQ(full["scoring"]["feedback"], "full");
  EXPECT_EQ(full["commitment"],
            HexEncode((*h_.registry.Find(kFull))->InfoFor("").commitment));
  EXPECT_TRUE(full["leaderboard"].empty());
  EXPECT_FALSE(full.contains("reveal"));
  EXPECT_EQ(doc["challenges"][1]["id"], kPassFail);
  EXPECT_EQ(doc["challenges"][1]["scoring"]["feedback"], "pass_fail");
}

TEST_F(HttpServerTest, LeaderboardIsGetLeaderboardsForALearner) {
  Submit(kFull, "bob", /*good=*/false);
  Submit(kFull, "alice", /*good=*/true);
  const Json doc =
      GetJson(absl::StrCat("/api/challenges/", kFull, "/leaderboard"));
  const auto core_rows =
      h_.core.GetLeaderboard(LearnerPrincipal("carol"), kFull);
  ASSERT_TRUE(core_rows.ok());
  ASSERT_EQ(doc["leaderboard"].size(), core_rows->size());
  for (size_t i = 0; i < core_rows->size(); ++i) {
    const Json& row = doc["leaderboard"][i];
    const LeaderboardRow& want = (*core_rows)[i];
    EXPECT_EQ(row["rank"], want.rank);
    EXPECT_EQ(row["learner"], want.learner);
    EXPECT_EQ(row["score"]["functional_rel_err"].get<double>(),
              want.score.functional_rel_err);
    EXPECT_EQ(row["score"]["tokens_used"], want.score.tokens_used);
    EXPECT_EQ(row["submitted_unix_ms"], want.submitted_ms);
    // No FFN block: ffn_rel_err is null, and the note says why.
    EXPECT_TRUE(want.score.ffn_omitted);
    ASSERT_TRUE(row["score"].contains("ffn_rel_err"));
    EXPECT_TRUE(row["score"]["ffn_rel_err"].is_null());
    EXPECT_EQ(row["score"]["parameter_note"], want.score.parameter_note);
    EXPECT_TRUE(row["score"]["theta_rel_err"].is_number());
  }
  EXPECT_EQ(doc["leaderboard"][0]["learner"], "alice");
  EXPECT_EQ(doc["leaderboard"][1]["learner"], "bob");
  EXPECT_LT(doc["leaderboard"][0]["score"]["functional_rel_err"].get<double>(),
            1e-20);
}

TEST_F(HttpServerTest, PassFailChallengeShowsPassFailNeverErrors) {
  Submit(kPassFail, "bob", /*good=*/false);
  Submit(kPassFail, "alice", /*good=*/true);
  for (const std::string& path :
       {absl::StrCat("/api/challenges/", kPassFail),
        absl::StrCat("/api/challenges/", kPassFail, "/leaderboard")}) {
    const Json doc = GetJson(path);
    ASSERT_EQ(doc["leaderboard"].size(), 2u) << path;
    EXPECT_EQ(doc["leaderboard"][0]["learner"], "alice");
    EXPECT_TRUE(doc["leaderboard"][0]["score"]["passed"]);
    EXPECT_FALSE(doc["leaderboard"][1]["score"]["passed"]);
    for (const Json& row : doc["leaderboard"]) {
      for (const char* hidden :
           {"functional_rel_err", "max_abs_err", "bits", "theta_rel_err",
            "omega_rel_err", "ffn_rel_err"}) {
        EXPECT_FALSE(row["score"].contains(hidden)) << path << " " << hidden;
      }
    }
  }
  const std::string page = Get(absl::StrCat("/challenges/", kPassFail))->body;
  EXPECT_THAT(page, HasSubstr("<td class=\"error\">pass</td>"));
  EXPECT_THAT(page, HasSubstr("<td class=\"error\">fail</td>"));
  // No error figure at all (they print as 1.23e-05).
  EXPECT_FALSE(std::regex_search(page, std::regex("[0-9]e[-+][0-9]")));
  EXPECT_THAT(page, Not(HasSubstr("functional error</th>")));
}

TEST_F(HttpServerTest, NoSecretBeforeTheRevealThenTheCheckAndTheExport) {
  Submit(kFull, "alice", /*good=*/true);
  const auto challenge = *h_.registry.Find(kFull);
  const std::string nonce = HexEncode(challenge->nonce());
  const LayerParams& secret = challenge->SecretFor("")->params;
  const std::string secret_entry = Json(secret.heads[0].wq(0, 0)).dump();
  const std::string id = kFull;
  for (const std::string& path :
       {std::string("/"), "/challenges/" + id,
        "/challenges/" + id + "/chart.svg", std::string("/api/challenges"),
        "/api/challenges/" + id, "/api/challenges/" + id + "/leaderboard",
        std::string("/metrics")}) {
    const std::string body = Get(path)->body;
    EXPECT_THAT(body, Not(HasSubstr(nonce))) << path;
    EXPECT_THAT(body, Not(HasSubstr(secret_entry))) << path;
  }
  const Json refused = GetJson("/api/challenges/" + id + "/reveal", 409);
  EXPECT_EQ(refused["error"]["code"], "FAILED_PRECONDITION");
  EXPECT_THAT(refused.dump(), Not(HasSubstr(nonce)));

  ASSERT_TRUE(h_.registry.SetPhase(kFull, Phase::kRevealed).ok());
  const Json described = GetJson("/api/challenges/" + id);
  EXPECT_EQ(described["phase"], "revealed");
  EXPECT_EQ(described["reveal"]["commitment_opens"], true);
  EXPECT_EQ(described["reveal"]["export"], "/api/challenges/" + id + "/reveal");
  const Json reveal = GetJson("/api/challenges/" + id + "/reveal");
  EXPECT_EQ(reveal["nonce"], nonce);
  EXPECT_EQ(reveal["commitment_opens"], true);
  ASSERT_EQ(reveal["heads"].size(), 1u);
  EXPECT_EQ(reveal["heads"][0]["wq"][0][0].get<double>(),
            secret.heads[0].wq(0, 0));
  const std::string page = Get("/challenges/" + id)->body;
  EXPECT_THAT(page, HasSubstr("the revealed secret and nonce open the "
                              "commitment"));
  EXPECT_THAT(page, HasSubstr("href=\"/api/challenges/" + id + "/reveal\""));
}

TEST_F(HttpServerTest, PagesShowTheLeaderboardAndEscapeWhatTheyQuote) {
  Submit(kFull, "bob", /*good=*/false);
  Submit(kFull, "alice", /*good=*/true);
  httplib::Result index = Get("/");
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"),
            "text/html; charset=utf-8");
  EXPECT_THAT(index->body, HasSubstr("data-api=\"/api/challenges\""));
  EXPECT_THAT(index->body,
              HasSubstr("Small &lt;b&gt;full-d2&lt;/b&gt; &amp; co"));
  EXPECT_THAT(index->body, Not(HasSubstr("<b>full-d2</b>")));
  const std::string page = Get(absl::StrCat("/challenges/", kFull))->body;
  const size_t alice =
      page.find("<tr data-learner=\"alice\"><td class=\"rank\">1<");
  const size_t bob =
      page.find("<tr data-learner=\"bob\"><td class=\"rank\">2<");
  EXPECT_NE(alice, std::string::npos) << page;
  EXPECT_NE(bob, std::string::npos);
  EXPECT_THAT(page, HasSubstr("<img class=\"chart\""));

  httplib::Result chart =
      Get(absl::StrCat("/challenges/", kFull, "/chart.svg"));
  EXPECT_EQ(chart->get_header_value("Content-Type"), "image/svg+xml");
  size_t points = 0;
  for (size_t at = 0;
       (at = chart->body.find("<circle", at)) != std::string::npos; ++at) {
    ++points;
  }
  EXPECT_EQ(points, 2u);
  EXPECT_THAT(chart->body, HasSubstr(">alice</text>"));
}

TEST_F(HttpServerTest, BadRequestsGetPreciseStatusesAndSayWhatWasWrong) {
  Json unknown = GetJson("/api/challenges/no-such", 404);
  EXPECT_EQ(unknown["error"]["code"], "NOT_FOUND");
  EXPECT_THAT(unknown["error"]["message"].get<std::string>(),
              HasSubstr("\"no-such\""));
  EXPECT_EQ(Get("/challenges/no-such")->status, 404);
  EXPECT_EQ(Get("/challenges/no-such/chart.svg")->status, 404);
  EXPECT_EQ(
      GetJson("/api/challenges/no-such/leaderboard", 404)["error"]["code"],
      "NOT_FOUND");

  Json malformed = GetJson("/api/challenges/Not%20Valid", 400);
  EXPECT_EQ(malformed["error"]["code"], "INVALID_ARGUMENT");
  EXPECT_THAT(malformed["error"]["message"].get<std::string>(),
              HasSubstr("challenge id \"Not Valid\""));
  EXPECT_EQ(Get(absl::StrCat("/challenges/", std::string(65, 'a')))->status,
            400);

  httplib::Result nowhere = Get("/nowhere");
  EXPECT_EQ(nowhere->status, 404);
  EXPECT_THAT(nowhere->body, HasSubstr("no page at &quot;/nowhere&quot;"));
  EXPECT_EQ(GetJson("/api/nowhere", 404)["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(Get(absl::StrCat("/challenges/", kFull, "/extra"))->status, 404);

  httplib::Result long_path =
      Get("/challenges/" + std::string(kMaxPathBytes, 'a'));
  EXPECT_EQ(long_path->status, 414);
  EXPECT_THAT(long_path->body, HasSubstr("the longest served is 1024"));

  for (const httplib::Result& r :
       {client_->Post("/", "x", "text/plain"),
        client_->Put("/api/challenges", "{}", "application/json"),
        client_->Delete(absl::StrCat("/api/challenges/", kFull)),
        client_->Patch("/metrics", "", "text/plain"), client_->Options("/")}) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405) << r->body;
    EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
  }
  EXPECT_EQ(client_->Head("/")->status, 200);
}

TEST(HttpServerProbes, ReadyOnlyOnceAttachedAndNotWhileDraining) {
  CoreHarness h;
  auto http = HttpServer::Start({.address = "127.0.0.1:0"});
  ASSERT_TRUE(http.ok()) << http.status();
  httplib::Client client("127.0.0.1", (*http)->port());
  EXPECT_EQ(client.Get("/healthz")->status, 200);
  EXPECT_EQ(client.Get("/readyz")->status, 503);
  EXPECT_EQ(client.Get("/")->status, 503);
  EXPECT_EQ(client.Get("/metrics")->status, 503);
  httplib::Result api = client.Get("/api/challenges");
  EXPECT_EQ(api->status, 503);
  EXPECT_EQ(Json::parse(api->body)["error"]["code"], "UNAVAILABLE");

  ServerMetrics metrics;
  (*http)->Attach(&h.core, &metrics, 1);
  EXPECT_EQ(client.Get("/readyz")->status, 200);
  EXPECT_EQ(client.Get("/")->status, 200);
  (*http)->SetDraining();
  EXPECT_EQ(client.Get("/readyz")->status, 503);
  EXPECT_EQ(client.Get("/healthz")->status, 200);
}

TEST(HttpServerStart, RefusesATakenAddressAndABadOne) {
  auto first = HttpServer::Start({.address = "127.0.0.1:0"});
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = absl::StrCat("127.0.0.1:", (*first)->port());
  auto second = HttpServer::Start({.address = taken});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(test::MessageOf(second.status()),
              HasSubstr(absl::StrCat("\"", taken, "\": address in use")));

  // httplib's default socket options add SO_REUSEPORT; with them another
  // process could bind the same port and take half the connections.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  const int one = 1;
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>((*first)->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);

  for (const char* bad : {"nonsense", "127.0.0.1:99999", ":80", "host:"}) {
    auto s = HttpServer::Start({.address = bad});
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(test::MessageOf(s.status()), HasSubstr("HOST:PORT")) << bad;
  }
  auto no_threads = HttpServer::Start({.address = "127.0.0.1:0", .threads = 0});
  EXPECT_EQ(no_threads.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HttpServerTest, MetricsParseStrictlyAndCountWhatHappened) {
  ASSERT_TRUE(Query(kFull, "alice", {1, 2}).ok());
  ASSERT_TRUE(Query(kFull, "alice", {3}).ok());
  EXPECT_EQ(Query(kFull, "alice", {0}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Query("made-up", "alice", {1}).code(), absl::StatusCode::kNotFound);
  Submit(kFull, "alice", /*good=*/true);
  metrics_.ObserveRpc("/attnoracle.v1.Oracle/Query", "OK", 0.003);

  httplib::Result r = Get("/metrics");
  EXPECT_EQ(r->get_header_value("Content-Type"), kExpositionContentType);
  absl::StatusOr<test::Exposition> e = ParseExposition(r->body);
  ASSERT_TRUE(e.ok()) << e.status() << "\n" << r->body;
  const std::map<std::string, std::string> alice = {{"challenge", kFull},
                                                    {"learner", "alice"}};
  EXPECT_EQ(e->Find("attnoracle_queries_answered_total", alice), 3);
  EXPECT_EQ(e->Find("attnoracle_tokens_answered_total", alice), 6);
  EXPECT_EQ(e->Find("attnoracle_submissions_total", alice), 1);
  EXPECT_EQ(e->Find("attnoracle_requests_refused_total",
                    {{"challenge", kFull},
                     {"learner", "alice"},
                     {"code", "INVALID_ARGUMENT"}}),
            1);
  EXPECT_EQ(
      e->Find("attnoracle_requests_refused_total", {{"challenge", "other"},
                                                    {"learner", "alice"},
                                                    {"code", "NOT_FOUND"}}),
      1);
  EXPECT_EQ(
      e->Find("attnoracle_rpcs_total",
              {{"method", "/attnoracle.v1.Oracle/Query"}, {"code", "OK"}}),
      1);
  EXPECT_EQ(
      e->Find("attnoracle_rpc_duration_seconds_bucket",
              {{"method", "/attnoracle.v1.Oracle/Query"}, {"le", "0.0025"}}),
      0);
  EXPECT_EQ(
      e->Find("attnoracle_rpc_duration_seconds_bucket",
              {{"method", "/attnoracle.v1.Oracle/Query"}, {"le", "0.005"}}),
      1);
  // The in-memory SQLite store is durable: two answered requests, in one or
  // two transactions.
  const auto commits = e->Find("attnoracle_store_commit_entries_sum");
  ASSERT_TRUE(commits.has_value());
  EXPECT_EQ(*commits, 2);
  EXPECT_GE(*e->Find("attnoracle_store_commit_seconds_count"), 1);
  EXPECT_GT(*e->Find("process_resident_memory_bytes"), 1 << 20);
  EXPECT_EQ(e->families.at("attnoracle_rpc_duration_seconds").type,
            "histogram");
}

TEST_F(HttpServerTest, LearnersPastTheBoundAreCountedAsOther) {
  for (const char* learner : {"a1", "a2", "a3", "a4"}) {
    ASSERT_TRUE(Query(kFull, learner, {2}).ok());
  }
  const auto e = ParseExposition(Get("/metrics")->body);
  ASSERT_TRUE(e.ok()) << e.status();
  const auto tokens = e->All("attnoracle_tokens_answered_total");
  std::map<std::string, double> by_learner;
  for (const auto& s : tokens) by_learner[s.labels.at("learner")] += s.value;
  EXPECT_EQ(by_learner, (std::map<std::string, double>{
                            {"a1", 2}, {"a2", 2}, {"other", 4}}));
  EXPECT_EQ(e->Find("attnoracle_metrics_learners"), kMaxLearners);
  EXPECT_EQ(e->Find("attnoracle_metrics_max_learners"), kMaxLearners);
}

TEST(ServerMetricsTest, MethodNamesPastTheBoundAreCountedAsOther) {
  ServerMetrics metrics;
  for (size_t i = 0; i < kMaxMethodLabels + 3; ++i) {
    metrics.ObserveRpc(absl::StrCat("/made.up/M", i), "UNIMPLEMENTED", 0.001);
  }
  const ServerMetrics::Snapshot s = metrics.Read();
  EXPECT_EQ(s.rpc_seconds.size(), kMaxMethodLabels + 1);
  EXPECT_EQ(s.rpcs.at({"other", "UNIMPLEMENTED"}), 3u);
  EXPECT_EQ(s.rpc_seconds.at("other").count, 3u);
}

TEST(ExpositionWriter, EscapesLabelValuesAndHelpSoTheyParseBack) {
  ExpositionWriter w;
  const std::string awkward = "quote \" backslash \\ newline \n end";
  w.Family("x_total", "counter", "help with \\ and \n in it");
  w.Sample("x_total", {{"v", awkward}}, 3);
  w.Family("y", "gauge", "a gauge");
  w.Sample("y", {}, 0.25);
  w.Sample("y", {{"k", "inf"}}, INFINITY);
  Histogram h({1, 2});
  h.Observe(0.5);
  h.Observe(1.5);
  h.Observe(7);
  w.Family("z", "histogram", "a histogram");
  w.HistogramSamples("z", {{"m", "q"}}, h);
  const std::string text = w.Take();
  const auto e = ParseExposition(text);
  ASSERT_TRUE(e.ok()) << e.status() << "\n" << text;
  EXPECT_EQ(e->Find("x_total", {{"v", awkward}}), 3);
  EXPECT_EQ(e->Find("y"), 0.25);
  EXPECT_EQ(e->Find("z_bucket", {{"m", "q"}, {"le", "1"}}), 1);
  EXPECT_EQ(e->Find("z_bucket", {{"m", "q"}, {"le", "2"}}), 2);
  EXPECT_EQ(e->Find("z_bucket", {{"m", "q"}, {"le", "+Inf"}}), 3);
  EXPECT_EQ(e->Find("z_sum", {{"m", "q"}}), 9);
  EXPECT_EQ(FormatSampleValue(12345678901234.0), "12345678901234");
}

TEST(ExpositionParser, RejectsWhatTheFormatForbids) {
  for (const char* bad : {
           "x 1",                                 // no TYPE
           "# TYPE x counter\nx{a=\"1\" 1\n",     // unclosed labels
           "# TYPE x counter\nx{a=\"\\q\"} 1\n",  // bad escape
           "# TYPE x counter\nx 1\nx 2\n",        // repeated series
           "# TYPE x counter\nx -1\n",            // negative counter
           "# TYPE x counter\ny 1\n",             // outside its family
           "# TYPE x histogram\nx_bucket{le=\"1\"} 2\n"
           "x_bucket{le=\"+Inf\"} 1\nx_sum 1\nx_count 1\n",  // not cumulative
           "# TYPE x gauge\nx one\n",                        // not a number
       }) {
    EXPECT_FALSE(ParseExposition(absl::StrCat(bad, "\n")).ok()) << bad;
  }
}

}  // namespace
}  // namespace attnoracle
