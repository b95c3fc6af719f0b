// Each channel against the local servers of tests/support: what the server received is
// exactly the message, with the expected idempotency key, Message-ID or signature; the
// server's 4xx/5xx answers map to retryable/permanent; a resend carries the same key.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "services/notification/src/channels/digest.h"
#include "services/notification/src/channels/http_sms.h"
#include "services/notification/src/channels/smtp.h"
#include "services/notification/src/channels/webhook.h"
#include "tests/support/http_server.h"
#include "tests/support/smtp_server.h"

namespace tierflow::notification::channels {
namespace {

using test_support::HttpServer;
using test_support::SmtpServer;
using namespace std::chrono_literals;

Message message(std::string key = "birthday-2026:c-42:2026") {
  Message m;
  m.dedupe_key = std::move(key);
  m.customer_id = "c-42";
  m.to = "li.lei@example.com";
  m.subject = "Happy birthday";
  m.body = "Dear Li Lei,\nhappy birthday!\n.\n.dot line\n";
  m.language = "en";
  return m;
}

SmtpConfig smtp_config(const SmtpServer& server) {
  SmtpConfig c;
  c.url = server.url();
  c.from = "greetings@tierflow.test";
  c.from_name = "Tierflow";
  c.connections = 1;
  c.timeout = 5s;
  return c;
}

TEST(Digest, KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231, test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(message_id_for("abc"), "<ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad@tierflow>");
}

TEST(SmtpChannel, ServerReceivesExactlyTheMessage) {
  SmtpServer server;
  SmtpChannel channel(smtp_config(server));
  const Message m = message();
  const SendResult r = channel.send(m);
  ASSERT_TRUE(r.sent()) << r.reason;
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.provider_id, message_id_for(m.dedupe_key));
  ASSERT_TRUE(server.wait_for(1, 1s));
  const auto received = server.messages();
  ASSERT_EQ(received.size(), 1u);
  const auto& got = received[0];
  EXPECT_EQ(got.mail_from, "greetings@tierflow.test");
  EXPECT_EQ(got.recipients, std::vector<std::string>{"li.lei@example.com"});
  EXPECT_EQ(got.message_id(), "<" + sha256_hex(m.dedupe_key) + "@tierflow>");
  EXPECT_EQ(got.header("To"), "<li.lei@example.com>");
  EXPECT_EQ(got.header("From"), "Tierflow <greetings@tierflow.test>");
  EXPECT_EQ(got.header("Subject"), "Happy birthday");
  EXPECT_EQ(got.header("Content-Type"), "text/plain; charset=UTF-8");
  EXPECT_EQ(got.header("Content-Language"), "en");
  EXPECT_FALSE(got.header("Date").empty());
  // Line ends become CRLF; the lone dot and the leading dot survive stuffing both ways.
  EXPECT_EQ(got.body, "Dear Li Lei,\r\nhappy birthday!\r\n.\r\n.dot line\r\n");
}

TEST(SmtpChannel, ChineseSubjectIsEncoded) {
  SmtpServer server;
  SmtpChannel channel(smtp_config(server));
  Message m = message();
  m.subject = "生日快乐！祝您在新的一年里万事如意，身体健康，阖家幸福";
  m.body = "李雷，您好！";
  m.language = "zh-CN";
  ASSERT_TRUE(channel.send(m).sent());
  ASSERT_TRUE(server.wait_for(1, 1s));
  const auto got = server.messages().at(0);
  EXPECT_EQ(got.header("Subject").rfind("=?UTF-8?B?", 0), 0u);
  EXPECT_NE(got.header("Subject").find("?= =?UTF-8?B?"), std::string::npos);  // folded into several words
  EXPECT_EQ(got.body, "李雷，您好！\r\n");
  EXPECT_EQ(got.header("Content-Language"), "zh-CN");
  EXPECT_EQ(channel.render(m, "d").find("\r\n\r\n") < channel.render(m, "d").size(), true);
}

TEST(SmtpChannel, FourHundredsRetryFiveHundredsDoNotAndResendKeepsTheMessageId) {
  SmtpServer server;
  SmtpChannel channel(smtp_config(server));
  const Message m = message();
  server.fail_next(1, 451, "4.7.1 greylisted");
  SendResult r = channel.send(m);
  EXPECT_EQ(r.status, SendStatus::kRetryable);
  EXPECT_EQ(r.code, 451);
  EXPECT_EQ(r.reason.find("li.lei"), std::string::npos);  // no address in reasons
  server.fail_next(1, 550, "5.1.1 no such user");
  r = channel.send(m);
  EXPECT_EQ(r.status, SendStatus::kPermanent);
  EXPECT_EQ(r.code, 550);
  EXPECT_EQ(server.rejected(), 2u);
  EXPECT_EQ(server.received(), 0u);
  // The resend of the same delivery: the same Message-ID.
  r = channel.send(m);
  ASSERT_TRUE(r.sent()) << r.reason;
  r = channel.send(m);
  ASSERT_TRUE(r.sent()) << r.reason;
  ASSERT_TRUE(server.wait_for(2, 1s));
  const auto got = server.messages();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].message_id(), message_id_for(m.dedupe_key));
  EXPECT_EQ(got[1].message_id(), got[0].message_id());
  EXPECT_NE(message_id_for("another key"), got[0].message_id());
}

TEST(SmtpChannel, InvalidRecipientIsPermanentAndNothingIsSent) {
  SmtpServer server;
  SmtpChannel channel(smtp_config(server));
  for (const char* to : {"", "no-at-sign", "a@b\r\nBcc: x@y", "<a@b>"}) {
    Message m = message();
    m.to = to;
    const SendResult r = channel.send(m);
    EXPECT_EQ(r.status, SendStatus::kPermanent) << to;
  }
  Message m = message();
  m.subject = "x\r\nBcc: evil@example.com";
  EXPECT_EQ(channel.send(m).status, SendStatus::kPermanent);
  EXPECT_EQ(server.received() + server.rejected(), 0u);
  EXPECT_THROW(channel.send(message("")), std::invalid_argument);
}

TEST(SmtpChannel, ReusesItsConnections) {
  SmtpServer server;
  SmtpConfig config = smtp_config(server);
  config.connections = 2;
  SmtpChannel channel(config);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        if (!channel.send(message("k-" + std::to_string(t) + "-" + std::to_string(i))).sent()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(server.wait_for(200, 2s));
  EXPECT_LE(server.connections(), 2u);
  std::set<std::string> ids;
  for (const auto& m : server.messages()) ids.insert(m.message_id());
  EXPECT_EQ(ids.size(), 200u);
}

// A port that accepts TCP connections (the kernel completes them) and never answers.
class SilentPort {
 public:
  SilentPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
};

TEST(Channels, TimeoutsAndRefusedConnectionsAreRetryable) {
  SilentPort silent;
  SmtpConfig smtp;
  smtp.url = "smtp://127.0.0.1:" + std::to_string(silent.port());
  smtp.from = "a@b.test";
  smtp.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  SendResult r = SmtpChannel(smtp).send(message());
  EXPECT_EQ(r.status, SendStatus::kRetryable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);

  WebhookConfig hook;
  hook.url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/hook";
  hook.secret = "0123456789abcdef";
  hook.timeout = 300ms;
  r = WebhookChannel(hook).send(message());
  EXPECT_EQ(r.status, SendStatus::kRetryable);
  EXPECT_NE(r.reason.find("curl"), std::string::npos);

  HttpSmsConfig sms;
  {
    HttpServer gone;
    sms.url = gone.url() + "/sms";
  }
  Message m = message();
  m.to = "+86 138 0013 8000";
  r = HttpSmsChannel(sms).send(m);
  EXPECT_EQ(r.status, SendStatus::kRetryable);
}

TEST(HttpSmsChannel, GatewayReceivesJsonWithIdempotencyKey) {
  HttpServer server;
  HttpSmsConfig config;
  config.url = server.url() + "/v1/sms";
  config.api_key = "test-key";
  config.sender_id = "TIERFLOW";
  HttpSmsChannel channel(config);
  Message m = message();
  m.to = "+86 138-0013-8000";
  m.body = "李雷，生日快乐！\n\"quoted\"";
  m.language = "zh-CN";
  const SendResult r = channel.send(m);
  ASSERT_TRUE(r.sent()) << r.reason;
  EXPECT_EQ(r.code, 200);
  const auto got = server.requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].path, "/v1/sms");
  EXPECT_EQ(got[0].header("Idempotency-Key"), m.dedupe_key);
  EXPECT_EQ(got[0].header("Authorization"), "Bearer test-key");
  EXPECT_EQ(got[0].header("Content-Type"), "application/json; charset=utf-8");
  EXPECT_EQ(got[0].body, R"({"to":"+8613800138000","text":"李雷，生日快乐！\n\"quoted\"","sender":"TIERFLOW",)"
                         R"("reference":"birthday-2026:c-42:2026","language":"zh-CN"})");
}

TEST(HttpSmsChannel, StatusesMapToRetryableOrPermanentAndResendKeepsTheKey) {
  HttpServer server;
  HttpSmsConfig config;
  config.url = server.url() + "/sms";
  HttpSmsChannel channel(config);
  Message m = message();
  m.to = "+8613800138000";
  for (const auto& [status, expected] : std::vector<std::pair<int, SendStatus>>{{500, SendStatus::kRetryable},
                                                                                {503, SendStatus::kRetryable},
                                                                                {429, SendStatus::kRetryable},
                                                                                {408, SendStatus::kRetryable},
                                                                                {400, SendStatus::kPermanent},
                                                                                {401, SendStatus::kPermanent},
                                                                                {404, SendStatus::kPermanent}}) {
    server.respond_next(1, status);
    const SendResult r = channel.send(m);
    EXPECT_EQ(r.status, expected) << status;
    EXPECT_EQ(r.code, status);
    EXPECT_EQ(r.reason, "HTTP " + std::to_string(status));
  }
  ASSERT_TRUE(channel.send(m).sent());
  const auto got = server.requests();
  ASSERT_EQ(got.size(), 8u);
  for (const auto& req : got) {
    EXPECT_EQ(req.header("Idempotency-Key"), m.dedupe_key);
    EXPECT_EQ(req.body, got[0].body);
  }
  EXPECT_EQ(server.received(), 1u);
}

TEST(HttpSmsChannel, InvalidNumberIsPermanentAndNothingIsSent) {
  HttpServer server;
  HttpSmsConfig config;
  config.url = server.url() + "/sms";
  HttpSmsChannel channel(config);
  for (const char* to : {"", "12345", "+86 138 0013 8000 x", "abc", "+1234567890123456"}) {
    Message m = message();
    m.to = to;
    EXPECT_EQ(channel.send(m).status, SendStatus::kPermanent) << to;
  }
  EXPECT_TRUE(server.requests().empty());
  EXPECT_EQ(normalize_phone("+86 138-0013-8000"), "+8613800138000");
}

TEST(WebhookChannel, SignedBodyAndIdempotencyKeyStableAcrossResends) {
  HttpServer server;
  WebhookConfig config;
  config.url = server.url() + "/hooks/tierflow";
  config.secret = "s3cret-s3cret-s3cret";
  WebhookChannel channel(config);
  const Message m = message();
  server.respond_next(1, 502);
  EXPECT_EQ(channel.send(m).status, SendStatus::kRetryable);
  ASSERT_TRUE(channel.send(m).sent());
  const auto got = server.requests();
  ASSERT_EQ(got.size(), 2u);
  for (const auto& req : got) {
    EXPECT_EQ(req.path, "/hooks/tierflow");
    EXPECT_EQ(req.header("Idempotency-Key"), m.dedupe_key);
    // The receiver's check: HMAC-SHA256 of the raw body under the shared secret.
    EXPECT_EQ(req.header("X-Tierflow-Signature"), "sha256=" + hmac_sha256_hex(config.secret, req.body));
    EXPECT_EQ(req.body, WebhookChannel::body(m));
  }
  EXPECT_EQ(got[0].header("X-Tierflow-Signature"), got[1].header("X-Tierflow-Signature"));
  EXPECT_EQ(got[0].body,
            R"({"idempotency_key":"birthday-2026:c-42:2026","customer_id":"c-42","to":"li.lei@example.com",)"
            R"("subject":"Happy birthday","body":"Dear Li Lei,\nhappy birthday!\n.\n.dot line\n","language":"en"})");
  server.respond_next(1, 410);
  EXPECT_EQ(channel.send(m).status, SendStatus::kPermanent);
  // A different secret signs differently.
  WebhookConfig other = config;
  other.secret = "another-secret-of-16";
  EXPECT_NE(WebhookChannel(other).signature(got[0].body), got[0].header("X-Tierflow-Signature"));
}

TEST(ChannelConfig, ValidationNamesTheField) {
  auto error = [](auto config) -> std::string {
    try {
      config.validate();
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  SmtpConfig smtp;
  smtp.url = "smtp://127.0.0.1:25";
  smtp.from = "a@b.test";
  EXPECT_EQ(error(smtp), "");
  EXPECT_EQ(error([&] {
              auto c = smtp;
              c.url = "http://x";
              return c;
            }())
                .rfind("smtp.url:", 0),
            0u);
  EXPECT_EQ(error([&] {
              auto c = smtp;
              c.from = "nobody";
              return c;
            }())
                .rfind("smtp.from:", 0),
            0u);
  EXPECT_EQ(error([&] {
              auto c = smtp;
              c.connections = 0;
              return c;
            }())
                .rfind("smtp.connections:", 0),
            0u);
  EXPECT_EQ(error([&] {
              auto c = smtp;
              c.timeout = 0ms;
              return c;
            }())
                .rfind("smtp.timeout:", 0),
            0u);
  EXPECT_EQ(error([&] {
              auto c = smtp;
              c.username = "u";
              return c;
            }())
                .rfind("smtp.username:", 0),
            0u);
  HttpSmsConfig sms;
  EXPECT_EQ(error(sms).rfind("sms.url:", 0), 0u);
  sms.url = "https://gateway.example/send";
  EXPECT_EQ(error(sms), "");
  WebhookConfig hook;
  hook.url = "https://hooks.example/x";
  hook.secret = "short";
  EXPECT_EQ(error(hook).rfind("webhook.secret:", 0), 0u);
  EXPECT_THROW(WebhookChannel{hook}, std::invalid_argument);
}

}  // namespace
}  // namespace tierflow::notification::channels

namespace tierflow::notification::channels {
namespace {

// Several thousand messages a second through each channel and server pair: the servers
// are a benchmark's baseline, so they must not be the bottleneck of a functional test.
template <typename Send>
double rate_per_second(int threads, int per_thread, Send send) {
  std::atomic<int> failures{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        if (!send(message("rate-" + std::to_string(t) + "-" + std::to_string(i))).sent()) ++failures;
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(failures.load(), 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return threads * per_thread / seconds;
}

TEST(Throughput, SmtpAndHttpServersTakeThousandsPerSecond) {
  SmtpServer smtp_server;
  SmtpConfig smtp = smtp_config(smtp_server);
  smtp.connections = 4;
  SmtpChannel smtp_channel(smtp);
  const double smtp_rate = rate_per_second(4, 1000, [&](const Message& m) { return smtp_channel.send(m); });
  EXPECT_EQ(smtp_server.received(), 4000u);

  HttpServer http_server;
  WebhookConfig hook;
  hook.url = http_server.url() + "/hook";
  hook.secret = "0123456789abcdef";
  WebhookChannel webhook(hook);
  const double http_rate = rate_per_second(4, 1000, [&](const Message& m) { return webhook.send(m); });
  EXPECT_EQ(http_server.received(), 4000u);
  std::printf("smtp channel -> SmtpServer: %.0f msg/s; webhook channel -> HttpServer: %.0f msg/s\n", smtp_rate,
              http_rate);
  // Loose floors (a shared 2-core machine, sanitizers off): the real figures are printed.
  EXPECT_GT(smtp_rate, 1000);
  EXPECT_GT(http_rate, 1000);
}

}  // namespace
}  // namespace tierflow::notification::channels
