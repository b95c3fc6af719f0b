// The plumbing every tierctl verb shares (commands.cpp, campaign.cpp, report.cpp): the
// context's deadline on a call, the one error line and the exit code of commands.h
// (1 a gRPC error, 2 bad input), and printing a response as text or protobuf JSON.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string_view>

#include "commands.h"

namespace tierflow::tierctl {

// The context's deadline from now.
void set_deadline(grpc::ClientContext* c, const Context& ctx);

// "tierctl: <verb>: <code>: <message>" to ctx.err; returns 1.
int rpc_error(const Context& ctx, std::string_view verb, const grpc::Status& s);

// "tierctl: <verb>: <message>" to ctx.err; returns 2.
int usage_error(const Context& ctx, std::string_view verb, std::string_view message);

// Prints the response as JSON or through `render` and returns 0, or the error (1).
template <typename Resp, typename Render>
int finish(const Context& ctx, std::string_view verb, const grpc::Status& s, const Resp& resp, Render render) {
  if (!s.ok()) return rpc_error(ctx, verb, s);
  ctx.out << (ctx.json ? to_json(resp) + "\n" : render(resp));
  return 0;
}

// One unary call with the context's deadline, its answer printed by finish(): the whole of
// most verbs. `rpc` is the stub's method, e.g. &Stub::GetTier.
template <typename StubT, typename Req, typename Resp, typename Render>
int call(const Context& ctx, std::string_view verb, StubT& stub,
         grpc::Status (StubT::*rpc)(grpc::ClientContext*, const Req&, Resp*), const Req& req, Render render) {
  Resp resp;
  grpc::ClientContext c;
  set_deadline(&c, ctx);
  return finish(ctx, verb, (stub.*rpc)(&c, req, &resp), resp, render);
}

}  // namespace tierflow::tierctl
