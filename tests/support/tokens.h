// Bearer tokens for tests that start services: one random token per role (pos tokens may
// post for any store), written as a tokens file the services read (auth.tokens_file), and
// the tokens themselves for the tests' clients (grpcx::make_channel).
//
// Threading: a TestTokens is immutable after construction except rewrite() (one thread);
// shared_tokens() is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/grpc/client.h"

namespace tierflow::test_support {

class TestTokens {
 public:
  // Writes `dir`/tokens.yaml with a fresh token per role.
  explicit TestTokens(const std::string& dir);

  const std::string& file() const { return file_; }
  // The token of role `role` ("pos", "crm", "call-center", "campaign", "finance", "admin").
  const std::string& token(const std::string& role) const { return tokens_.at(role); }
  // The environment a service needs to read these tokens.
  std::map<std::string, std::string> env() const { return {{"TIERFLOW_AUTH_TOKENS_FILE", file_}}; }
  // A channel to `target` that sends the token of `role` on every call.
  std::shared_ptr<grpc::Channel> channel(const std::string& target, const std::string& role) const;
  // Replaces the file's content (atomically, by rename) with `yaml`: rotation tests.
  void rewrite(const std::string& yaml) const;

  static std::string random_token();

 private:
  std::string file_;
  std::map<std::string, std::string> tokens_;
};

// One TestTokens per test process, in a directory of its own (kept for the process's
// life): for harnesses whose free functions open their own channels.
const TestTokens& shared_tokens();

}  // namespace tierflow::test_support
