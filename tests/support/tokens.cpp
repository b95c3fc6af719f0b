#include "tests/support/tokens.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include "common/grpc/auth.h"

namespace tierflow::test_support {

std::string TestTokens::random_token() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 8; ++i) out += fmt::format("{:08x}", rd());
  return out;
}

TestTokens::TestTokens(const std::string& dir) : file_(dir + "/tokens.yaml") {
  std::string yaml = "tokens:\n";
  for (const char* role : {"pos", "crm", "call-center", "campaign", "finance", "admin"}) {
    tokens_[role] = random_token();
    yaml +=
        fmt::format("  - name: test-{}\n    role: {}\n    sha256: {}\n", role, role, grpcx::sha256_hex(tokens_[role]));
    if (std::string(role) == "pos") yaml += "    stores: [\"*\"]\n";
  }
  rewrite(yaml);
}

std::shared_ptr<grpc::Channel> TestTokens::channel(const std::string& target, const std::string& role) const {
  grpcx::ClientOptions options;
  options.token = token(role);
  return grpcx::make_channel(target, options);
}

void TestTokens::rewrite(const std::string& yaml) const {
  const std::string tmp = file_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << yaml;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), 0600);
  std::filesystem::rename(tmp, file_);
}

const TestTokens& shared_tokens() {
  static const TestTokens* tokens = [] {
    std::string base = std::filesystem::temp_directory_path() / "tierflow-tokens.XXXXXX";
    if (::mkdtemp(base.data()) == nullptr) throw std::runtime_error("mkdtemp failed for the test tokens");
    static std::string dir = base;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    return new TestTokens(base);  // never destroyed: children may read it until the end
  }();
  return *tokens;
}

}  // namespace tierflow::test_support
