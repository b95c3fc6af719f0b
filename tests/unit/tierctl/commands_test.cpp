#include "commands.h"

#include <gtest/gtest.h>

#include <sstream>

#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"

namespace tierflow::tierctl {
namespace {

v1::TierAssignment gold() {
  v1::TierAssignment a;
  a.set_customer_id("c-000042");
  a.set_tier("gold");
  a.set_previous_tier("silver");
  a.set_price_level("P2");
  a.set_service_level("priority");
  a.set_account_manager(true);
  a.set_standard_version("v3");
  a.set_matched_rule("gold-by-value");
  a.add_reasons("gross profit 12m in the top 20%");
  a.mutable_assigned_time()->set_seconds(1740787200);  // 2025-03-01
  auto* d = a.add_dimensions();
  d->set_dimension("value");
  d->set_class_name("A");
  d->set_detail("gross profit 12m 8,120.00 CNY");
  a.mutable_to_next()->set_text("3,200.00 CNY more sales in 12 months to reach diamond");
  auto* p = a.mutable_pending_downgrade();
  p->set_to_tier("silver");
  p->mutable_effective_time()->set_seconds(1748736000);  // 2025-06-01
  return a;
}

TEST(Render, Assignment) {
  const std::string text = render_assignment(gold());
  EXPECT_NE(text.find("\ntier               gold (previous: silver)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\naccount manager    yes\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\ncredit hold        no\n"), std::string::npos);
  EXPECT_NE(text.find("\npending downgrade  to silver on 2025-06-01 00:00:00 UTC\n"), std::string::npos) << text;
  EXPECT_NE(text.find("to reach diamond"), std::string::npos);
  EXPECT_NE(text.find("  - gross profit 12m in the top 20%"), std::string::npos);
  EXPECT_NE(text.find("value      A      gross profit 12m 8,120.00 CNY"), std::string::npos) << text;
}

TEST(Render, Distribution) {
  v1::Distribution d;
  d.set_customers(23570);
  d.set_total_value_minor(250031563);
  d.set_currency("USD");
  auto* t = d.add_tiers();
  t->set_tier("gold");
  t->set_customers(4714);
  t->set_value_minor(200025250);
  t->set_value_share(0.8);
  auto* p = d.add_pareto();
  p->set_customer_share(0.2);
  p->set_value_share(0.8);
  const std::string text = render_distribution(d);
  EXPECT_NE(text.find("23,570 customers, total value 2,500,315.63 USD"), std::string::npos) << text;
  EXPECT_NE(text.find("gold      4,714  2,000,252.50 USD        80.0%"), std::string::npos) << text;
  EXPECT_NE(text.find("20.0%        80.0%"), std::string::npos) << text;
}

// The 80/20 answers: customers needed per value share, top N, RFM cut points, the curve.
TEST(Render, DistributionReachTopCutsAndCurve) {
  v1::Distribution d;
  d.set_customers(23570);
  d.set_currency("USD");
  auto* r = d.add_reach();
  r->set_value_share(0.8);
  r->set_customers(4467);
  r->set_customer_share(4467.0 / 23570);
  auto* t = d.add_top();
  t->set_top_n(10);
  t->set_customers(10);
  t->set_value_minor(12345678);
  t->set_value_share(0.049);
  auto* c = d.add_cut_points();
  c->set_dimension("rfm");
  c->set_component("monetary");
  c->set_feature("value");
  c->set_quantiles(4);
  c->set_customers(23570);
  for (int64_t v : {1999, 4343, 10637}) c->add_cuts(v);
  for (int pct = 1; pct <= 100; ++pct) {
    auto* p = d.add_curve();
    p->set_customer_share(pct / 100.0);
    p->set_value_share(pct == 20 ? 0.75 : 1.0);
  }
  const std::string text = render_distribution(d);
  EXPECT_NE(text.find("customers to reach 80.0% of value: 4,467 (19.0% of customers)"), std::string::npos) << text;
  EXPECT_NE(text.find("top 10 customers: 123,456.78 USD, 4.9% of value"), std::string::npos) << text;
  EXPECT_NE(text.find("rfm monetary (value) quartiles: 1,999 | 4,343 | 10,637"), std::string::npos) << text;
  EXPECT_NE(text.find("11-20%"), std::string::npos) << text;
  EXPECT_NE(text.find("75.0%"), std::string::npos) << text;
}

// History: one row per change, each time saying its clock, `from` the row before it.
TEST(Render, HistorySaysTheClockAndWhatChanged) {
  v1::GetTierHistoryResponse r;
  auto add = [&](int64_t v, std::string tier, bool hold, int64_t seconds) {
    auto* a = r.add_changes();
    a->set_version(v);
    a->set_tier(tier);
    a->set_credit_hold(hold);
    a->set_clock("events");
    a->mutable_evaluated_time()->set_seconds(seconds);
    a->add_reasons("rule x");
  };
  add(7, "gold", true, 1291161600);   // 2010-12-01: credit hold set
  add(4, "gold", false, 1288569600);  // 2010-11-01: silver -> gold
  add(1, "silver", false, 1285891200);
  const std::string text = render_history(r);
  EXPECT_NE(text.find("2010-12-01 00:00:00 UTC (events)"), std::string::npos) << text;
  EXPECT_NE(text.find("gold -> gold"), std::string::npos) << text;
  EXPECT_NE(text.find("silver -> gold"), std::string::npos) << text;
  EXPECT_NE(text.find("credit hold set"), std::string::npos) << text;
  EXPECT_NE(text.find("- -> silver"), std::string::npos) << text;
}

TEST(Render, WhatIfMatrix) {
  v1::WhatIfResponse r;
  r.set_candidate_version("v4");
  r.set_customers(10);
  auto add = [&](std::string from, std::string to, int n) {
    auto* m = r.add_migrations();
    m->set_from_tier(from);
    m->set_to_tier(to);
    m->set_customers(n);
    if (from != to) m->add_example_customer_ids("c-000001");
  };
  add("gold", "gold", 3);
  add("gold", "silver", 2);
  add("silver", "diamond", 1);
  add("silver", "silver", 4);
  const std::string text = render_what_if(r);
  EXPECT_NE(text.find("10 customers, 3 would change tier"), std::string::npos) << text;
  EXPECT_NE(text.find("from \\ to  diamond  gold  silver\n"), std::string::npos) << text;
  EXPECT_NE(text.find("gold             .     3       2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("silver           1     .       4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("gold -> silver: c-000001"), std::string::npos);
}

// An in-process TierService: GetTier knows c-000042 only; everything else UNIMPLEMENTED.
class FakeTiers final : public v1::TierService::Service {
 public:
  grpc::Status GetTier(grpc::ServerContext*, const v1::GetTierRequest* req, v1::TierAssignment* resp) override {
    last_as_of = req->as_of().seconds();
    if (req->customer_id() != "c-000042") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "customer " + req->customer_id() + " is unknown");
    }
    *resp = gold();
    return grpc::Status::OK;
  }
  grpc::Status SetOverride(grpc::ServerContext*, const v1::SetOverrideRequest* req, v1::TierOverride* resp) override {
    *resp = req->override();
    return grpc::Status::OK;
  }
  std::int64_t last_as_of = 0;
};

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder b;
    b.RegisterService(&fake_);
    server_ = b.BuildAndStart();
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
    stub_ = v1::TierService::NewStub(channel_);
  }
  void TearDown() override { server_->Shutdown(); }
  Context ctx(bool json = false) { return Context{out_, err_, json, std::chrono::milliseconds(5000)}; }

  FakeTiers fake_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TierService::Stub> stub_;
  std::ostringstream out_, err_;
};

TEST_F(CommandsTest, GetPrintsTableOrJson) {
  EXPECT_EQ(cmd_get(*stub_, ctx(), "c-000042", "2025-02-01"), 0);
  EXPECT_NE(out_.str().find("gold (previous: silver)"), std::string::npos);
  EXPECT_EQ(fake_.last_as_of, 1738368000);
  out_.str("");
  EXPECT_EQ(cmd_get(*stub_, ctx(true), "c-000042", ""), 0);
  EXPECT_NE(out_.str().find("\"tier\": \"gold\""), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("\"creditHold\": false"), std::string::npos) << out_.str();
  EXPECT_TRUE(err_.str().empty());
}

TEST_F(CommandsTest, ErrorsAreOneLineAndExitOne) {
  EXPECT_EQ(cmd_get(*stub_, ctx(), "c-404", ""), 1);
  EXPECT_EQ(err_.str(), "tierctl: get: NOT_FOUND: customer c-404 is unknown\n");
  err_.str("");
  EXPECT_EQ(cmd_distribution(*stub_, ctx()), 1);
  EXPECT_EQ(err_.str().rfind("tierctl: distribution: UNIMPLEMENTED: not implemented yet by the server", 0), 0u)
      << err_.str();
  EXPECT_TRUE(out_.str().empty());
}

TEST_F(CommandsTest, OverrideSetValidatesAndSends) {
  OverrideArgs a;
  a.customer = "c-000042";
  a.pin = "gold";
  a.floor = "silver";
  a.actor = "alice";
  a.reason = "STRATEGIC";
  EXPECT_EQ(cmd_override_set(*stub_, ctx(), a), 2) << "pin and floor together";
  a.floor.clear();
  a.expires = "2027-01-01";
  EXPECT_EQ(cmd_override_set(*stub_, ctx(), a), 0) << err_.str();
  EXPECT_NE(out_.str().find("c-000042: pin gold by alice (STRATEGIC), expires 2027-01-01 00:00:00 UTC"),
            std::string::npos)
      << out_.str();
  a.expires = "someday";
  EXPECT_EQ(cmd_override_set(*stub_, ctx(), a), 2);
}

TEST_F(CommandsTest, ListNeedsAFilter) {
  EXPECT_EQ(cmd_list(*stub_, ctx(), ListArgs{}), 2);
  ListArgs byTier;
  byTier.tier = "gold";
  EXPECT_EQ(cmd_list(*stub_, ctx(), byTier), 1);  // the fake does not implement it
}

TEST_F(CommandsTest, HealthServingAndUnknownService) {
  EXPECT_EQ(cmd_health(channel_, ctx(), "", std::chrono::milliseconds(0)), 0) << err_.str();
  EXPECT_EQ(out_.str(), "SERVING\n");
  server_->GetHealthCheckService()->SetServingStatus("tierflow.v1.TierService", false);
  EXPECT_EQ(cmd_health(channel_, ctx(), "tierflow.v1.TierService", std::chrono::milliseconds(0)), 1);
  EXPECT_NE(out_.str().find("tierflow.v1.TierService: NOT_SERVING"), std::string::npos) << out_.str();
  EXPECT_EQ(cmd_health(channel_, ctx(), "no.such.Service", std::chrono::milliseconds(0)), 1);
  EXPECT_NE(err_.str().find("tierctl: health: NOT_FOUND"), std::string::npos) << err_.str();
}

}  // namespace
}  // namespace tierflow::tierctl
