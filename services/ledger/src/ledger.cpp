// The facade: Ledger's public methods over the unit of work (unit_of_work.h), and the
// reads (account, statement, ageing, trial balance), which wait for the batch being
// written and then read the cache or the store.
#include "tierflow/ledger/ledger.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <tuple>

#include "paging.h"
#include "state.h"
#include "text.h"
#include "tierflow/ledger/store.h"
#include "unit_of_work.h"

namespace tierflow::ledger {
namespace {

std::string days_text(absl::Duration d) {
  if (d % absl::Hours(24) == absl::ZeroDuration()) {
    int64_t days = d / absl::Hours(24);
    return cat(days, days == 1 ? " day" : " days");
  }
  return absl::FormatDuration(d);
}

}  // namespace

class Ledger::Impl {
 public:
  Impl(std::unique_ptr<Store> store, const Options& options) : uow_(std::move(store), options) {}

  UnitOfWork& uow() { return uow_; }

  std::optional<v1::AccountSnapshot> account(std::string_view customer_id, absl::Time now) {
    uow_.sync();
    std::optional<CustomerState> holder;
    const CustomerState* st = uow_.lookup(customer_id, holder);
    if (st == nullptr) return std::nullopt;
    return build_snapshot(*st, absl::ToUnixMicros(now));
  }

  v1::GetStatementResponse statement(const v1::GetStatementRequest& req) {
    uow_.sync();
    std::optional<CustomerState> holder;
    const CustomerState* st = uow_.lookup(req.customer_id(), holder);
    if (st == nullptr) throw NotFound("unknown customer " + req.customer_id());
    const Micros from = req.has_from() ? to_micros(req.from()) : kMinMicros;
    const Micros to = req.has_to() ? to_micros(req.to()) : kMaxMicros;
    const size_t page_size = paging::page_size(req.page().page_size());
    const int64_t after = paging::after_seq(req.page().page_token());
    Store& store = uow_.store();
    auto rows = store.read_journal(st->customer_id, from, to, after, page_size + 1);
    v1::GetStatementResponse resp;
    for (size_t i = 0; i < rows.size() && i < page_size; ++i) {
      if (!resp.add_entries()->ParseFromString(rows[i].entry)) {
        throw std::runtime_error("ledger store: corrupt journal entry of customer " + st->customer_id);
      }
    }
    if (rows.size() > page_size) resp.set_next_page_token(paging::next_token(rows[page_size - 1].seq));
    resp.set_opening_balance_minor(from == kMinMicros ? 0 : store.receivable_before(st->customer_id, from));
    resp.set_closing_balance_minor(to == kMaxMicros ? st->receivable : store.receivable_before(st->customer_id, to));
    return resp;
  }

  v1::Ageing ageing(std::string_view customer_id, absl::Time as_of) {
    uow_.sync();
    std::optional<CustomerState> holder;
    const CustomerState* st = uow_.lookup(customer_id, holder);
    if (st == nullptr) throw NotFound(cat("unknown customer ", customer_id));
    return compute_ageing(*st, absl::ToUnixMicros(as_of));
  }

  // Read from the store: with several instances on one database it covers all of them.
  v1::TrialBalance trial_balance() {
    uow_.sync();
    auto rows = uow_.store().load_balances();
    std::sort(rows.begin(), rows.end(), [](const BalanceRow& a, const BalanceRow& b) {
      return std::tie(a.account, a.currency) < std::tie(b.account, b.currency);
    });
    v1::TrialBalance tb;
    std::map<std::string_view, __int128> net;
    for (const auto& r : rows) {
      auto* line = tb.add_lines();
      line->set_account(r.account);
      line->set_currency(r.currency);
      line->set_debit_minor(r.debit);
      line->set_credit_minor(r.credit);
      net[r.currency] += static_cast<__int128>(r.debit) - r.credit;
    }
    tb.set_balanced(std::all_of(net.begin(), net.end(), [](const auto& kv) { return kv.second == 0; }));
    return tb;
  }

 private:
  UnitOfWork uow_;
};

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;

std::unique_ptr<Ledger> Ledger::open(std::unique_ptr<Store> store) {
  return open(std::move(store), Options{});
}

std::unique_ptr<Ledger> Ledger::open(std::unique_ptr<Store> store, const Options& options) {
  return std::unique_ptr<Ledger>(new Ledger(std::make_unique<Impl>(std::move(store), options)));
}

std::unique_ptr<Ledger> Ledger::open_sqlite(const std::string& path, const Options& options) {
  return open(make_sqlite_store(path), options);
}

std::unique_ptr<Ledger> Ledger::open_postgres(const std::string& url, const Options& options) {
  return open(make_postgres_store(url), options);
}

void Ledger::refresh() { impl_->uow().refresh(); }

void Ledger::sync() { impl_->uow().sync(); }

ApplyResult Ledger::apply(std::span<const ConsumedRecord> batch, std::span<const OwnedPartition> owned,
                          const ConfirmFn& confirm) {
  return impl_->uow().apply(batch, owned, confirm);
}

bool Ledger::mark_idle(std::span<const OwnedPartition> owned, const ConfirmFn& confirm) {
  if (!impl_->uow().has_idle_marks(owned)) return false;
  impl_->uow().apply({}, owned, confirm);
  return true;
}

std::optional<int64_t> Ledger::next_offset(std::string_view topic, int32_t partition) const {
  return impl_->uow().next_offset(topic, partition);
}

std::vector<OutboxMessage> Ledger::pending_outbox(size_t limit) const {
  return impl_->uow().pending_outbox(limit);
}

void Ledger::ack_outbox(int64_t up_to_id) { impl_->uow().ack_outbox(up_to_id); }

std::optional<v1::AccountSnapshot> Ledger::account(std::string_view customer_id,
                                                   absl::Time now) const {
  return impl_->account(customer_id, now);
}

v1::GetStatementResponse Ledger::statement(const v1::GetStatementRequest& request) const {
  return impl_->statement(request);
}

v1::Ageing Ledger::ageing(std::string_view customer_id, absl::Time as_of) const {
  return impl_->ageing(customer_id, as_of);
}

v1::TrialBalance Ledger::trial_balance() const { return impl_->trial_balance(); }

int64_t Ledger::deferred_count() const { return impl_->uow().deferred_count(); }

std::vector<Rejection> Ledger::expire_deferred(absl::Time older_than) {
  return impl_->uow().expire_deferred(absl::ToUnixMicros(older_than), "");
}

std::vector<Rejection> Ledger::expire_deferred(absl::Time now, absl::Duration max_wait) {
  return impl_->uow().expire_deferred(absl::ToUnixMicros(now - max_wait), days_text(max_wait));
}

}  // namespace tierflow::ledger
