#include "pg_support.h"

namespace tierflow::ledger::pg_support {

void prepare_statements(pqxx::connection& conn) {
  conn.prepare("load_offsets", "SELECT topic, part, next_offset, max_event_time FROM offsets");
  conn.prepare("load_balances", "SELECT account, currency, debit, credit FROM balances");
  conn.prepare("deferred_keys", "SELECT waiting_for FROM deferred");
  conn.prepare("find_events",
               "SELECT event_id, customer_id, kind, event_time, amount, refunded, cost, currency "
               "FROM events WHERE event_id = ANY($1::text[])");
  conn.prepare("load_customers",
               "SELECT customer_id, version, journal_seq, feedback_sum, state FROM customers "
               "WHERE customer_id = ANY($1::text[])");
  conn.prepare("load_invoices",
               "SELECT i.customer_id, i.sale_event_id, i.issued, i.due, i.amount, i.open_amount, "
               "i.closed, i.closed_by_payment FROM invoices i JOIN customers c "
               "ON c.customer_id = i.customer_id WHERE i.customer_id = ANY($1::text[]) "
               "AND (i.closed IS NULL OR i.closed >= c.last_event_time - $2::bigint)");
  conn.prepare("load_deferred",
               std::string("SELECT ") + kDeferredColumns + " FROM deferred WHERE waiting_for = $1 ORDER BY part, off");
  conn.prepare("load_deferred_before",
               std::string("SELECT ") + kDeferredColumns + " FROM deferred WHERE since < $1 ORDER BY since");
  conn.prepare("read_journal",
               "SELECT seq, event_time, receivable_delta, entry FROM journal "
               "WHERE customer_id = $1 AND seq > $4 AND event_time >= $2 AND event_time < $3 "
               "ORDER BY seq LIMIT $5");
  conn.prepare("receivable_before",
               "SELECT COALESCE(SUM(receivable_delta), 0)::bigint FROM journal "
               "WHERE customer_id = $1 AND event_time < $2");
  conn.prepare("pending_outbox",
               "SELECT id, customer_id, payload, topic, error, version, as_of, origin FROM outbox "
               "WHERE id > $1 ORDER BY id LIMIT $2");
  conn.prepare("ack_outbox", "DELETE FROM outbox WHERE id = ANY($1::bigint[])");
  conn.prepare("save_offsets",
               "INSERT INTO offsets(topic, part, next_offset, max_event_time) "
               "SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[]) "
               "ON CONFLICT(topic, part) DO UPDATE SET next_offset = excluded.next_offset, "
               "max_event_time = excluded.max_event_time");
  conn.prepare("delete_events", "DELETE FROM events WHERE event_id = ANY($1::text[])");
  conn.prepare("upsert_events",
               "INSERT INTO events(event_id, customer_id, kind, event_time, amount, refunded, "
               "cost, currency) SELECT * FROM unnest($1::text[], $2::text[], $3::int[], "
               "$4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[]) "
               "ON CONFLICT(event_id) DO UPDATE SET customer_id = excluded.customer_id, "
               "kind = excluded.kind, event_time = excluded.event_time, amount = excluded.amount, "
               "refunded = excluded.refunded, cost = excluded.cost, currency = excluded.currency");
  conn.prepare("upsert_customers",
               "INSERT INTO customers(customer_id, version, journal_seq, feedback_sum, "
               "last_event_time, state) SELECT * FROM unnest($1::text[], $2::bigint[], "
               "$3::bigint[], $4::bigint[], $5::bigint[], $6::bytea[]) "
               "ON CONFLICT(customer_id) DO UPDATE SET version = excluded.version, "
               "journal_seq = excluded.journal_seq, feedback_sum = excluded.feedback_sum, "
               "last_event_time = excluded.last_event_time, state = excluded.state");
  conn.prepare("update_customers",
               "UPDATE customers AS c SET version = u.v, journal_seq = u.s, feedback_sum = u.f, "
               "last_event_time = u.l, state = u.st FROM unnest($1::text[], $2::bigint[], "
               "$3::bigint[], $4::bigint[], $5::bigint[], $6::bytea[]) AS u(id, v, s, f, l, st) "
               "WHERE c.customer_id = u.id");
  conn.prepare("upsert_invoices",
               "INSERT INTO invoices(customer_id, sale_event_id, issued, due, amount, "
               "open_amount, closed, closed_by_payment) SELECT * FROM unnest($1::text[], "
               "$2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], "
               "$7::bigint[], $8::boolean[]) "
               "ON CONFLICT(customer_id, sale_event_id) DO UPDATE SET issued = excluded.issued, "
               "due = excluded.due, amount = excluded.amount, open_amount = excluded.open_amount, "
               "closed = excluded.closed, closed_by_payment = excluded.closed_by_payment");
  conn.prepare("delete_deferred", "DELETE FROM deferred WHERE event_id = ANY($1::text[])");
  conn.prepare("insert_deferred",
               "INSERT INTO deferred(event_id, waiting_for, customer_id, topic, part, off, since, "
               "value) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
               "$5::int[], $6::bigint[], $7::bigint[], $8::bytea[])");
  conn.prepare("add_balances",
               "INSERT INTO balances(account, currency, debit, credit) "
               "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) "
               "ON CONFLICT(account, currency) DO UPDATE SET debit = balances.debit + "
               "excluded.debit, credit = balances.credit + excluded.credit");
}

}  // namespace tierflow::ledger::pg_support
