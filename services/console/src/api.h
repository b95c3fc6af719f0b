// The console's JSON endpoints: each calls the backends as the session's user and answers
// with the protobuf JSON of their answers (MessageToJsonString: snake_case field names,
// primitive fields always printed, int64 as strings), so the page shows exactly what
// gRPC says; no figure is computed here. A backend error becomes an HTTP status and
// {"error": {"code": "PERMISSION_DENIED", "message": "..."}} (messages name ids only).
//
// Threading: thread-safe (no mutable state); every call blocks on its backend calls,
// each bounded by the configured deadline.
#pragma once

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "services/notification/src/calendar/holidays.h"
#include "src/config.h"
#include "src/sessions.h"

namespace tierflow::console {

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string filename;  // set: a download (Content-Disposition: attachment)
};

// "" -> nullopt (now); "YYYY-MM-DD" -> the end of that UTC day (23:59:59Z). Anything else
// throws std::invalid_argument naming the parameter.
std::optional<google::protobuf::Timestamp> parse_as_of(const std::string& text);
// protobuf JSON as described above.
std::string to_json(const google::protobuf::Message& m);
// HTTP status for a gRPC status code.
int http_status(grpc::StatusCode code);
Reply error_reply(const grpc::Status& status);
Reply error_reply(int http, std::string_view code, std::string_view message);

// Candidate standard errors ("candidate standard:LINE: FIELD: PROBLEM", what
// StandardError says) as {"line": N, "field": "...", "message": "..."}.
std::string standard_error_json(const std::string& message);

class Api {
 public:
  // `holidays` may be null (no holidays file).
  Api(const Config& cfg, const notification::calendar::HolidayCalendar* holidays) : cfg_(cfg), holidays_(holidays) {}

  Reply overview(const Session& s, const std::string& as_of) const;
  Reply customers(const Session& s, const std::string& query) const;
  // Tier (as of), explanation, history, profile, ledger account, occasions, messages.
  // Parts the user's role may not read come as {"error": ...} in their place.
  Reply customer(const Session& s, const std::string& id, const std::string& as_of, const std::string& lang) const;
  Reply watchlist(const Session& s, const std::string& as_of, bool csv) const;
  Reply whatif(const Session& s, const std::string& yaml) const;
  // JSON body {"customer_id", "kind": "pin"|"floor", "tier", "reason", "expires": "YYYY-MM-DD"
  // or RFC 3339 (optional)}; the actor is the session's token name (audited by classification).
  Reply set_override(const Session& s, const std::string& body) const;
  // JSON body {"customer_id", "reason"}.
  Reply clear_override(const Session& s, const std::string& body) const;
  // The report HTML (tierflow::report) as a download; 501 when built without it.
  Reply report(const Session& s, const std::string& as_of, const std::string& accept_language) const;

 private:
  std::unique_ptr<grpc::ClientContext> ctx() const;
  std::string occasions_json(const google::protobuf::Message* profile, const std::string& as_of,
                             const std::string& lang) const;

  const Config& cfg_;
  const notification::calendar::HolidayCalendar* holidays_;
};

}  // namespace tierflow::console
