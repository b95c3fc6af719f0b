// tierctl's verbs. Each render_* function is pure (a response to text); each cmd_*
// function makes one call with the context's deadline, prints the result to ctx.out (text
// or protobuf JSON) or one error line to ctx.err, and returns the process exit code:
// 0 success, 1 a gRPC error (or a health check that is not SERVING), 2 bad input.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "grpcpp/channel.h"
#include "tierflow/v1/tier.grpc.pb.h"

namespace tierflow::tierctl {

namespace v1 = tierflow::v1;

struct Context {
  std::ostream& out;
  std::ostream& err;
  bool json = false;
  std::chrono::milliseconds deadline{2000};
};

// Protobuf JSON: indented for one response, one line each for a stream (watch).
std::string to_json(const google::protobuf::Message& m, bool one_line = false);

std::string render_assignment(const v1::TierAssignment& a);
std::string render_explanation(const v1::Explanation& e);
std::string render_distribution(const v1::Distribution& d);
// The overview: the distribution, then quadrants, breakdowns and the watch counters.
std::string render_overview(const v1::Overview& o);
std::string render_list(const v1::ListCustomersResponse& r);
std::string render_history(const v1::GetTierHistoryResponse& r);
std::string render_override(const v1::TierOverride& o);
// The migration matrix (rows: current tier, columns: candidate tier) and examples.
std::string render_what_if(const v1::WhatIfResponse& r);
// One line per change for `watch`.
std::string render_change(const v1::TierAssignment& a);

struct ListArgs {
  std::string tier;
  std::string dimension;
  std::string class_name;
  int page_size = 0;
  std::string page_token;
};

struct OverrideArgs {
  std::string customer;
  std::string pin;    // exactly one of pin / floor
  std::string floor;
  std::string actor;
  std::string reason;
  std::string expires;  // "" or YYYY-MM-DD / RFC 3339
};

using Stub = v1::TierService::StubInterface;

int cmd_get(Stub& stub, const Context& ctx, const std::string& customer, const std::string& as_of);
int cmd_explain(Stub& stub, const Context& ctx, const std::string& customer);
int cmd_distribution(Stub& stub, const Context& ctx);
// The --as-of of overview and report: a bare date means the end of that UTC day (23:59:59),
// as the console reads ?as_of=YYYY-MM-DD, so both show the same state; RFC 3339 as given.
bool parse_as_of_day(std::string_view text, google::protobuf::Timestamp* out);
// GetOverview as of a date ("" now), with a deadline of at least 60 s (history is slower).
int cmd_overview(Stub& stub, const Context& ctx, const std::string& as_of);
int cmd_list(Stub& stub, const Context& ctx, const ListArgs& args);
int cmd_history(Stub& stub, const Context& ctx, const std::string& customer, int page_size,
                const std::string& page_token);
int cmd_override_set(Stub& stub, const Context& ctx, const OverrideArgs& args);
int cmd_override_clear(Stub& stub, const Context& ctx, const std::string& customer,
                       const std::string& actor, const std::string& reason);
int cmd_reload(Stub& stub, const Context& ctx);
int cmd_what_if(Stub& stub, const Context& ctx, const std::string& yaml_path);
// Streams changes until the server ends the stream (or the process is interrupted); no
// deadline on the stream, only on connecting. Returns 0 when the stream ends cleanly.
int cmd_watch(Stub& stub, const Context& ctx, const std::vector<std::string>& tiers);

// grpc.health.v1.Health/Check on `channel` for `service` ("" = the whole server). With
// wait > 0, retries every 200 ms until SERVING or `wait` has passed. Prints the status;
// returns 0 for SERVING, 1 otherwise.
int cmd_health(const std::shared_ptr<grpc::Channel>& channel, const Context& ctx,
               const std::string& service, std::chrono::milliseconds wait);

}  // namespace tierflow::tierctl
