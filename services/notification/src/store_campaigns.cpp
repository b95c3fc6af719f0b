// Store: campaigns, the sender's queue, the cap log and standing campaigns' days.
#include "src/store.h"

namespace tierflow::notification {

int64_t Store::insert_queued(const std::vector<QueuedDelivery>& deliveries) {
  auto ins = db_.prepare(
      "INSERT INTO deliveries (dedupe_key, customer_id, status, record, campaign_id, occasion, queued, due_at, "
      "priority, marketing) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING");
  int64_t added = 0;
  for (const auto& q : deliveries) {
    const auto& d = q.record;
    const bool pending = d.status() == v1::DELIVERY_STATUS_CLAIMED;
    ins.bind_text(1, d.dedupe_key()).bind_text(2, d.customer_id()).bind_int64(3, d.status());
    ins.bind_blob(4, d.SerializeAsString()).bind_text(5, d.campaign_id());
    // A delivery skipped at claim time does not take its occasion: a later campaign may
    // still greet the customer once consent is given.
    ins.bind_text(6, pending ? d.occasion() : "").bind_int64(7, pending ? 1 : 0);
    ins.bind_int64(8, d.due_time().seconds()).bind_int64(9, q.priority).bind_int64(10, q.marketing ? 1 : 0).run();
    added += db_.changes();
  }
  return added;
}

bool Store::start_campaign(const CampaignRow& c, const std::vector<QueuedDelivery>& deliveries) {
  sql::sqlite::Transaction tx(db_);
  auto ins = db_.prepare(
      "INSERT INTO campaigns (campaign_id, request, state, audience, started_unix_s) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT (campaign_id) DO NOTHING");
  ins.bind_text(1, c.campaign_id).bind_blob(2, c.request.SerializeAsString()).bind_text(3, c.state);
  ins.bind_int64(4, c.audience).bind_int64(5, c.started_unix_s).run();
  if (db_.changes() == 0) return false;
  insert_queued(deliveries);
  tx.commit();
  return true;
}

int64_t Store::add_deliveries(const std::vector<QueuedDelivery>& deliveries) {
  sql::sqlite::Transaction tx(db_);
  const int64_t n = insert_queued(deliveries);
  db_.prepare("UPDATE campaigns SET audience = audience + ?2 WHERE campaign_id = ?1")
      .bind_text(1, deliveries.empty() ? "" : deliveries.front().record.campaign_id())
      .bind_int64(2, n)
      .run();
  tx.commit();
  return n;
}

void Store::put_campaign(const CampaignRow& c) {
  auto ins = db_.prepare(
      "INSERT INTO campaigns (campaign_id, request, state, audience, started_unix_s) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT (campaign_id) DO UPDATE SET request = excluded.request");
  ins.bind_text(1, c.campaign_id).bind_blob(2, c.request.SerializeAsString()).bind_text(3, c.state);
  ins.bind_int64(4, c.audience).bind_int64(5, c.started_unix_s).run();
}

std::optional<CampaignRow> Store::campaign(const std::string& campaign_id) {
  auto q = db_.prepare("SELECT request, state, audience, started_unix_s FROM campaigns WHERE campaign_id = ?1");
  q.bind_text(1, campaign_id);
  if (!q.step()) return std::nullopt;
  CampaignRow c;
  c.campaign_id = campaign_id;
  const auto blob = q.column_blob(0);
  c.request.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
  c.state = q.column_text(1);
  c.audience = q.column_int64(2);
  c.started_unix_s = q.column_int64(3);
  return c;
}

void Store::cancel_campaign(const std::string& campaign_id) {
  sql::sqlite::Transaction tx(db_);
  db_.prepare("UPDATE campaigns SET state = 'cancelled' WHERE campaign_id = ?1").bind_text(1, campaign_id).run();
  // Not yet attempted: never sent. Attempted ones are in flight (or will be resent under
  // their key after a crash) and finish.
  auto q = db_.prepare("SELECT id, record FROM deliveries WHERE campaign_id = ?1 AND status = ?2 AND queued = 1");
  q.bind_text(1, campaign_id).bind_int64(2, v1::DELIVERY_STATUS_CLAIMED);
  std::vector<std::pair<int64_t, v1::Delivery>> rows;
  while (q.step()) {
    v1::Delivery d;
    const auto blob = q.column_blob(1);
    d.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
    if (d.attempts() == 0) rows.emplace_back(q.column_int64(0), std::move(d));
  }
  q.reset();
  auto put = db_.prepare("UPDATE deliveries SET status = ?2, record = ?3, occasion = '' WHERE id = ?1");
  for (auto& [id, d] : rows) {
    d.set_status(v1::DELIVERY_STATUS_SKIPPED);
    d.set_error("cancelled");
    put.bind_int64(1, id).bind_int64(2, v1::DELIVERY_STATUS_SKIPPED).bind_blob(3, d.SerializeAsString()).run();
    add_outbox(d);
  }
  tx.commit();
}

std::vector<Store::Unsent> Store::unsent(const std::string& campaign_id, int64_t now_unix_s, int limit) {
  auto q = db_.prepare(
      "SELECT d.record, coalesce(r.zone, ''), d.status FROM deliveries d LEFT JOIN directory r "
      "ON r.customer_id = d.customer_id WHERE d.campaign_id = ?1 AND "
      "((d.status = ?3 AND d.due_at > ?2) OR d.status = ?4) LIMIT ?5");
  q.bind_text(1, campaign_id).bind_int64(2, now_unix_s).bind_int64(3, v1::DELIVERY_STATUS_CLAIMED);
  q.bind_int64(4, v1::DELIVERY_STATUS_SKIPPED).bind_int64(5, limit);
  std::vector<Unsent> out;
  while (q.step()) {
    Unsent u;
    const auto blob = q.column_blob(0);
    u.record.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
    u.zone = std::string(q.column_text(1));
    u.deferred = q.column_int64(2) == v1::DELIVERY_STATUS_CLAIMED;
    out.push_back(std::move(u));
  }
  return out;
}

Store::Progress Store::progress(const std::string& campaign_id, int64_t now_unix_s) {
  auto q = db_.prepare(
      "SELECT status, count(*), sum(CASE WHEN due_at > ?2 THEN 1 ELSE 0 END) FROM deliveries "
      "WHERE campaign_id = ?1 GROUP BY status");
  q.bind_text(1, campaign_id).bind_int64(2, now_unix_s);
  Progress p;
  while (q.step()) {
    const int64_t n = q.column_int64(1);
    p.total += n;
    switch (q.column_int64(0)) {
      case v1::DELIVERY_STATUS_SENT:
        p.sent += n;
        break;
      case v1::DELIVERY_STATUS_SKIPPED:
        p.skipped += n;
        break;
      case v1::DELIVERY_STATUS_FAILED:
        p.failed += n;
        break;
      default:
        p.pending += n;
        p.deferred += q.column_int64(2);
    }
  }
  return p;
}

std::vector<QueuedDelivery> Store::due(int64_t now_unix_s, int limit) {
  auto q = db_.prepare(
      "SELECT id, record, priority, marketing FROM deliveries WHERE queued = 1 AND status = ?1 AND due_at <= ?2 "
      "AND inflight = 0 "
      "ORDER BY due_at, id LIMIT ?3");  // the index's order: no sort of everything due
  q.bind_int64(1, v1::DELIVERY_STATUS_CLAIMED).bind_int64(2, now_unix_s).bind_int64(3, limit);
  std::vector<QueuedDelivery> out;
  while (q.step()) {
    QueuedDelivery d;
    d.id = q.column_int64(0);
    const auto blob = q.column_blob(1);
    d.record.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
    d.priority = static_cast<int>(q.column_int64(2));
    d.marketing = q.column_int64(3) != 0;
    out.push_back(std::move(d));
  }
  return out;
}

std::optional<int64_t> Store::next_due() {
  auto q = db_.prepare("SELECT min(due_at) FROM deliveries WHERE queued = 1 AND status = ?1");
  q.bind_int64(1, v1::DELIVERY_STATUS_CLAIMED);
  if (!q.step() || q.column_is_null(0)) return std::nullopt;
  return q.column_int64(0);
}

void Store::update(const std::vector<DeliveryUpdate>& updates) {
  if (updates.empty()) return;
  sql::sqlite::Transaction tx(db_);
  // A skipped delivery gives its occasion back: a later campaign may greet the customer
  // once consent is given.
  auto put = db_.prepare(
      "UPDATE deliveries SET status = ?2, record = ?3, due_at = ?4, inflight = ?5, "
      "occasion = CASE WHEN ?2 = 4 THEN '' ELSE occasion END WHERE id = ?1");
  auto cap = db_.prepare(
      "INSERT INTO cap_log (dedupe_key, customer_id, at_unix_s) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING");
  for (const auto& u : updates) {
    put.bind_int64(1, u.id).bind_int64(2, u.record.status()).bind_blob(3, u.record.SerializeAsString());
    put.bind_int64(4, u.record.due_time().seconds()).bind_int64(5, u.inflight ? 1 : 0).run();
    if (u.count_against_cap) {
      cap.bind_text(1, u.record.dedupe_key()).bind_text(2, u.record.customer_id()).bind_int64(3, u.cap_at_unix_s).run();
    }
    const auto st = u.record.status();
    if (!u.inflight && (st == v1::DELIVERY_STATUS_SENT || st == v1::DELIVERY_STATUS_FAILED ||
                        st == v1::DELIVERY_STATUS_SKIPPED)) {
      add_outbox(u.record);  // the outcome and its record commit together (the outbox)
    }
  }
  tx.commit();
}

bool Store::higher_priority_due(const std::string& customer_id, int priority, int64_t now_unix_s) {
  auto q = db_.prepare(
      "SELECT 1 FROM deliveries INDEXED BY deliveries_customer WHERE customer_id = ?1 AND queued = 1 AND status = ?2 "
      "AND marketing = 1 "
      "AND priority > ?3 AND due_at <= ?4 LIMIT 1");
  q.bind_text(1, customer_id)
      .bind_int64(2, v1::DELIVERY_STATUS_CLAIMED)
      .bind_int64(3, priority)
      .bind_int64(4, now_unix_s);
  return q.step();
}

int64_t Store::release_in_flight() {
  db_.prepare("UPDATE deliveries SET inflight = 0 WHERE inflight = 1").run();
  return db_.changes();
}

std::pair<int64_t, int64_t> Store::cap_window(const std::string& customer_id, int64_t since_unix_s) {
  auto& q = cached(cap_q_, "SELECT count(*), min(at_unix_s) FROM cap_log WHERE customer_id = ?1 AND at_unix_s > ?2");
  q.bind_text(1, customer_id).bind_int64(2, since_unix_s);
  std::pair<int64_t, int64_t> out{0, 0};
  try {
    if (q.step()) out = {q.column_int64(0), q.column_is_null(1) ? 0 : q.column_int64(1)};
  } catch (...) {
    q.reset();
    throw;
  }
  q.reset();
  return out;
}

void Store::note_marketing_sends(const std::vector<std::pair<std::string, int64_t>>& customer_at,
                                 const std::string& key_prefix) {
  sql::sqlite::Transaction tx(db_);
  auto cap = db_.prepare(
      "INSERT INTO cap_log (dedupe_key, customer_id, at_unix_s) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING");
  for (const auto& [customer, at] : customer_at) {
    cap.bind_text(1, key_prefix + ":" + customer).bind_text(2, customer).bind_int64(3, at).run();
  }
  tx.commit();
}

std::optional<std::string> Store::last_standing_day(const std::string& campaign_id, const std::string& zone) {
  auto q = db_.prepare("SELECT max(day) FROM standing_days WHERE campaign_id = ?1 AND zone = ?2");
  q.bind_text(1, campaign_id).bind_text(2, zone);
  if (!q.step() || q.column_is_null(0)) return std::nullopt;
  return std::string(q.column_text(0));
}

void Store::mark_standing_day(const std::string& campaign_id, const std::string& zone, const std::string& day,
                              int64_t claimed, int64_t missed) {
  db_.prepare(
         "INSERT INTO standing_days (campaign_id, zone, day, claimed, missed) VALUES (?1, ?2, ?3, ?4, ?5) "
         "ON CONFLICT DO NOTHING")
      .bind_text(1, campaign_id)
      .bind_text(2, zone)
      .bind_text(3, day)
      .bind_int64(4, claimed)
      .bind_int64(5, missed)
      .run();
}

int64_t Store::standing_missed(const std::string& campaign_id) {
  auto q = db_.prepare("SELECT coalesce(sum(missed), 0) FROM standing_days WHERE campaign_id = ?1");
  q.bind_text(1, campaign_id);
  q.step();
  return q.column_int64(0);
}

}  // namespace tierflow::notification
