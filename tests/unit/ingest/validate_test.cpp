#include "src/validate.h"

#include <gtest/gtest.h>

#include "common/time/time.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/events.pb.h"

namespace tierflow::ingest {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1767225600);  // 2026-01-01

v1::PosEvent sale(int64_t total, const std::string& currency = "CNY") {
  v1::PosEvent e;
  e.set_event_id("e-1");
  e.set_customer_id("c-1");
  timeutil::to_proto(kNow - absl::Hours(1), e.mutable_event_time());
  e.mutable_sale()->mutable_total()->set_minor_units(total);
  e.mutable_sale()->mutable_total()->set_currency(currency);
  return e;
}

TEST(ValidateEvent, AcceptsAPlainSale) { EXPECT_EQ(validate_event(sale(1000), kNow), std::nullopt); }

TEST(ValidateEvent, ZeroValueSaleIsNormal) { EXPECT_EQ(validate_event(sale(0), kNow), std::nullopt); }

TEST(ValidateEvent, NamesTheMissingField) {
  auto e = sale(1000);
  e.clear_event_id();
  EXPECT_EQ(validate_event(e, kNow), "event_id is missing");
  e = sale(1000);
  e.clear_customer_id();
  EXPECT_EQ(validate_event(e, kNow), "customer_id is missing");
  e = sale(1000);
  e.clear_event_time();
  EXPECT_EQ(validate_event(e, kNow), "event_time is missing");
  e = sale(1000);
  e.clear_sale();
  EXPECT_EQ(validate_event(e, kNow), "the event has no body (sale, refund, payment or feedback)");
}

TEST(ValidateEvent, UnknownCurrency) {
  EXPECT_EQ(validate_event(sale(1000, "XYZ"), kNow), "sale.total.currency 'XYZ' is not a known ISO 4217 code");
}

TEST(ValidateEvent, TendersMustSumToTheTotal) {
  auto e = sale(10000);
  auto* t = e.mutable_sale()->add_tenders();
  t->set_method(v1::TENDER_METHOD_CARD);
  t->mutable_amount()->set_minor_units(9000);
  t->mutable_amount()->set_currency("CNY");
  EXPECT_EQ(validate_event(e, kNow), "sale.tenders: they sum to 90.00 CNY but the total is 100.00 CNY");
  t->mutable_amount()->set_minor_units(10000);
  EXPECT_EQ(validate_event(e, kNow), std::nullopt);
}

TEST(ValidateEvent, FutureAndNegative) {
  auto e = sale(1000);
  timeutil::to_proto(kNow + absl::Hours(48), e.mutable_event_time());
  EXPECT_EQ(validate_event(e, kNow), "event_time 2026-01-03T00:00:00Z is more than a day in the future");
  EXPECT_EQ(validate_event(sale(-5), kNow), "sale.total is negative (-5)");
}

TEST(ValidateEvent, RefundPaymentFeedback) {
  auto e = sale(0);
  e.mutable_refund()->mutable_amount()->set_currency("CNY");
  EXPECT_EQ(validate_event(e, kNow), "refund.amount must be above zero");
  e.mutable_feedback()->set_score(11);
  EXPECT_EQ(validate_event(e, kNow), "feedback.score 11 is outside 0..10");
  e.mutable_payment()->mutable_amount()->set_minor_units(100);
  e.mutable_payment()->mutable_amount()->set_currency("USD");
  EXPECT_EQ(validate_event(e, kNow), std::nullopt);
}

TEST(ValidateProfile, ChecksZoneBirthdayAndNeverEchoesPersonalData) {
  v1::CustomerProfile p;
  p.set_customer_id("c-9");
  p.set_time_zone("Asia/Shanghai");
  p.mutable_birthday()->set_month(2);
  p.mutable_birthday()->set_day(29);
  EXPECT_EQ(validate_profile(p), std::nullopt);
  p.mutable_birthday()->set_day(30);
  EXPECT_EQ(validate_profile(p), "birthday 0000-02-30 is not a date");
  p.mutable_birthday()->set_day(1);
  p.set_time_zone("Mars/Olympus");
  EXPECT_EQ(validate_profile(p), "time_zone 'Mars/Olympus' is not an IANA zone");
  p.set_time_zone("");
  p.set_email("alice.example.com");
  auto reason = validate_profile(p);
  ASSERT_TRUE(reason.has_value());
  EXPECT_EQ(reason->find("alice"), std::string::npos);
}

// One test per rule, with the exact reason (the ones above cover the rest).
TEST(ValidateEvent, IdsAreBoundedAndPrintable) {
  auto e = sale(1000);
  e.set_event_id(std::string(129, 'x'));
  EXPECT_EQ(validate_event(e, kNow), "event_id is longer than 128 characters");
  e.set_event_id(std::string(128, 'x'));
  EXPECT_EQ(validate_event(e, kNow), std::nullopt);
  e.set_event_id("e 1");
  EXPECT_EQ(validate_event(e, kNow), "event_id contains a space or control character");
  e.set_event_id(std::string("e\x7f", 2));
  EXPECT_EQ(validate_event(e, kNow), "event_id contains a space or control character");
  e = sale(1000);
  e.set_customer_id("c\n1");
  EXPECT_EQ(validate_event(e, kNow), "customer_id contains a space or control character");
}

TEST(ValidateEvent, EventTimeBefore1990) {
  auto e = sale(1000);
  timeutil::to_proto(absl::FromUnixSeconds(0), e.mutable_event_time());
  EXPECT_EQ(validate_event(e, kNow), "event_time 1970-01-01T00:00:00Z is before 1990");
}

TEST(ValidateEvent, MoneyRules) {
  EXPECT_EQ(validate_event(sale(1000, ""), kNow), "sale.total.currency is missing");
  EXPECT_EQ(validate_event(sale(int64_t{1} << 54), kNow), "sale.total is implausibly large (18014398509481984)");
  auto e = sale(1000);
  e.mutable_sale()->mutable_cost()->set_currency("CNY");
  e.mutable_sale()->mutable_cost()->set_minor_units(-1);
  EXPECT_EQ(validate_event(e, kNow), "sale.cost is negative (-1)");
}

TEST(ValidateEvent, SaleLines) {
  auto e = sale(1000);
  auto* line = e.mutable_sale()->add_lines();
  line->mutable_amount()->set_currency("USD");
  line->mutable_amount()->set_minor_units(1000);
  EXPECT_EQ(validate_event(e, kNow), "sale.lines[0].amount is in USD, the sale in CNY");
  line->mutable_amount()->set_currency("CNY");
  line->set_quantity(-1);
  EXPECT_EQ(validate_event(e, kNow), "sale.lines[0].quantity is negative");
  line->set_quantity(1);
  EXPECT_EQ(validate_event(e, kNow), std::nullopt);
  line->mutable_amount()->set_minor_units(900);
  EXPECT_EQ(validate_event(e, kNow), "sale.lines: they sum to 9.00 CNY but the total is 10.00 CNY");
  line->mutable_amount()->set_minor_units(-1);
  EXPECT_EQ(validate_event(e, kNow), "sale.lines[0].amount is negative (-1)");
}

TEST(ValidateEvent, SaleLinesCannotOverflowTheirSum) {
  auto e = sale(1000);
  for (int i = 0; i < 2000; ++i) {
    auto* line = e.mutable_sale()->add_lines();
    line->mutable_amount()->set_currency("CNY");
    line->mutable_amount()->set_minor_units(int64_t{1} << 53);
  }
  EXPECT_EQ(validate_event(e, kNow), "sale.lines: they sum to more than 9007199254740992");
}

TEST(ValidateEvent, SaleTenders) {
  auto e = sale(1000);
  auto* t = e.mutable_sale()->add_tenders();
  t->mutable_amount()->set_currency("CNY");
  t->mutable_amount()->set_minor_units(1000);
  EXPECT_EQ(validate_event(e, kNow), "sale.tenders[0].method is missing");
  t->set_method(v1::TENDER_METHOD_CARD);
  EXPECT_EQ(validate_event(e, kNow), std::nullopt);
  t->mutable_amount()->set_currency("EUR");
  EXPECT_EQ(validate_event(e, kNow), "sale.tenders[0] is in EUR, the sale in CNY");
}

TEST(ValidateEvent, PaymentTerms) {
  auto e = sale(1000);
  e.mutable_sale()->set_payment_terms_days(3651);
  EXPECT_EQ(validate_event(e, kNow), "sale.payment_terms_days 3651 is outside 0..3650");
  e.mutable_sale()->set_payment_terms_days(-1);
  EXPECT_EQ(validate_event(e, kNow), "sale.payment_terms_days -1 is outside 0..3650");
}

TEST(ValidateEvent, RefundOriginalAndPaymentAmount) {
  v1::PosEvent e = sale(0);
  e.mutable_refund()->set_original_event_id("has space");
  e.mutable_refund()->mutable_amount()->set_currency("CNY");
  e.mutable_refund()->mutable_amount()->set_minor_units(10);
  EXPECT_EQ(validate_event(e, kNow), "refund.original_event_id contains a space or control character");
  e.mutable_payment()->mutable_amount()->set_currency("CNY");
  EXPECT_EQ(validate_event(e, kNow), "payment.amount must be above zero");
  e.mutable_feedback()->set_score(-1);
  EXPECT_EQ(validate_event(e, kNow), "feedback.score -1 is outside 0..10");
}

}  // namespace
}  // namespace tierflow::ingest
