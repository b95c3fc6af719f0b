// tierctl report and overview against an in-process TierService: the as-of date reaches
// GetOverview, the HTML and every CSV are written with the overview's totals, and a PDF
// printer that fails is reported, not ignored.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "commands.h"
#include "grpcpp/grpcpp.h"
#include "report.h"

namespace tierflow::tierctl {
namespace {

namespace fs = std::filesystem;

class FakeOverview final : public v1::TierService::Service {
 public:
  grpc::Status GetOverview(grpc::ServerContext*, const v1::GetOverviewRequest* req, v1::Overview* resp) override {
    last_as_of = req->as_of().seconds();
    auto* d = resp->mutable_distribution();
    d->set_customers(7);
    d->set_total_value_minor(12345678);
    d->set_currency("CNY");
    auto* t = d->add_tiers();
    t->set_tier("gold");
    t->set_customers(7);
    t->set_value_minor(12345678);
    t->set_value_share(1.0);
    resp->set_clock("events");
    resp->set_credit_holds(2);
    *resp->mutable_as_of() = req->as_of();
    return grpc::Status::OK;
  }
  grpc::Status ListWatch(grpc::ServerContext*, const v1::ListWatchRequest* req, v1::ListWatchResponse* resp) override {
    watch_as_of = req->as_of().seconds();
    auto* e = resp->add_entries();
    e->mutable_assignment()->set_customer_id("c-000007");
    e->mutable_assignment()->set_tier("gold");
    e->add_kinds("credit_hold");
    e->add_reasons("overdue 120 days, 1,000.00 CNY");
    return grpc::Status::OK;
  }
  std::int64_t last_as_of = -1;
  std::int64_t watch_as_of = -1;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

class ReportVerbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder b;
    b.RegisterService(&fake_);
    server_ = b.BuildAndStart();
    stub_ = v1::TierService::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
    dir_ = fs::temp_directory_path() / ("tierctl-report-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    server_->Shutdown();
    fs::remove_all(dir_);
  }
  Context ctx() { return Context{out_, err_, false, std::chrono::milliseconds(5000)}; }

  FakeOverview fake_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::TierService::Stub> stub_;
  fs::path dir_;
  std::ostringstream out_, err_;
};

TEST_F(ReportVerbTest, WritesHtmlAndCsvWithTheOverviewsTotals) {
  ReportArgs a;
  a.as_of = "2025-02-01";
  a.out = (dir_ / "report.html").string();
  a.csv_dir = (dir_ / "csv").string();
  a.lang = "en";
  ASSERT_EQ(cmd_report(*stub_, ctx(), a), 0) << err_.str();
  EXPECT_EQ(fake_.last_as_of, 1738368000 + 86399) << "the end of 2025-02-01, as the console reads a date";
  const std::string html = slurp(a.out);
  EXPECT_NE(html.find("data-testid=\"report-customers\" data-value=\"7\""), std::string::npos);
  EXPECT_NE(html.find("data-testid=\"report-total-value\" data-value=\"12345678\""), std::string::npos);
  EXPECT_NE(html.find("data-testid=\"report-credit-holds\" data-value=\"2\""), std::string::npos);
  EXPECT_NE(html.find("Chart.js v3.9"), std::string::npos);
  const std::string tiers = slurp(dir_ / "csv" / "tiers.csv");
  EXPECT_NE(tiers.find("\r\ngold,7,1.000000,123456.78,1.000000\r\n"), std::string::npos) << tiers;
  EXPECT_TRUE(fs::exists(dir_ / "csv" / "summary.csv"));
  EXPECT_EQ(fake_.watch_as_of, 1738368000 + 86399) << "the watch list of the same date";
  EXPECT_EQ(slurp(dir_ / "csv" / "watch.csv"),
            "\xEF\xBB\xBF" "customer,tier,why,reason\r\nc-000007,gold,credit hold,\"overdue 120 days, 1,000.00 CNY\"\r\n");
  EXPECT_NE(html.find("id=\"table-watch\""), std::string::npos);
  EXPECT_FALSE(fs::exists(a.out + ".tmp"));
  EXPECT_NE(out_.str().find("wrote " + a.out), std::string::npos);
}

TEST_F(ReportVerbTest, BadDateAndFailingPrinterAreErrors) {
  ReportArgs a;
  a.out = (dir_ / "r.html").string();
  a.as_of = "last tuesday";
  EXPECT_EQ(cmd_report(*stub_, ctx(), a), 2);
  EXPECT_NE(err_.str().find("--as-of 'last tuesday'"), std::string::npos);
  err_.str("");
  a.as_of = "";
  a.pdf = (dir_ / "r.pdf").string();
  a.chromium = "/bin/true";  // exits 0 and prints nothing
  EXPECT_EQ(cmd_report(*stub_, ctx(), a), 1);
  EXPECT_NE(err_.str().find("wrote no PDF"), std::string::npos) << err_.str();
  err_.str("");
  a.chromium = "/nonexistent/chromium";
  EXPECT_EQ(cmd_report(*stub_, ctx(), a), 1);
  EXPECT_NE(err_.str().find("cannot run /nonexistent/chromium"), std::string::npos) << err_.str();
}

TEST_F(ReportVerbTest, OverviewVerbPassesTheDate) {
  EXPECT_EQ(cmd_overview(*stub_, ctx(), "2025-02-01"), 0) << err_.str();
  EXPECT_EQ(fake_.last_as_of, 1738368000 + 86399);
  EXPECT_EQ(cmd_overview(*stub_, ctx(), "2025-02-01T08:00:00Z"), 0) << err_.str();
  EXPECT_EQ(fake_.last_as_of, 1738368000 + 8 * 3600) << "an instant is taken as given";
  EXPECT_NE(out_.str().find("credit holds: 2"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("7 customers, total value 123,456.78 CNY"), std::string::npos) << out_.str();
}

}  // namespace
}  // namespace tierflow::tierctl
