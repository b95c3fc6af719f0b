// The local protocol servers of tests/support speak their protocols for real: raw sockets
// talk to them here, byte for byte.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "tests/support/http_server.h"
#include "tests/support/smtp_server.h"

namespace tierflow::test_support {
namespace {

class Socket {
 public:
  explicit Socket(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("connect");
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Socket() { ::close(fd_); }
  void send(const std::string& s) { ASSERT_EQ(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL), ssize_t(s.size())); }
  // Reads until `n` CRLF-terminated lines have arrived (or EOF/timeout).
  std::string lines(int n) {
    std::string out;
    char c;
    int seen = 0;
    while (seen < n && ::recv(fd_, &c, 1, 0) == 1) {
      out.push_back(c);
      if (c == '\n') ++seen;
    }
    return out;
  }
  // Reads until `needle` has arrived.
  std::string until(const std::string& needle) {
    std::string out;
    char c;
    while (out.find(needle) == std::string::npos && ::recv(fd_, &c, 1, 0) == 1) out.push_back(c);
    return out;
  }

 private:
  int fd_ = -1;
};

TEST(SmtpServer, SpeaksSmtpWithDotUnstuffingAndPipelining) {
  SmtpServer server;
  Socket s(server.port());
  EXPECT_EQ(s.lines(1).substr(0, 4), "220 ");
  s.send("MAIL FROM:<a@x>\r\n");
  EXPECT_EQ(s.lines(1).substr(0, 4), "503 ");  // EHLO first
  s.send("EHLO client.test\r\n");
  const std::string ehlo = s.lines(5);
  EXPECT_NE(ehlo.find("250-PIPELINING"), std::string::npos);
  EXPECT_NE(ehlo.find("250 SMTPUTF8"), std::string::npos);
  s.send("RCPT TO:<b@y>\r\n");
  EXPECT_EQ(s.lines(1).substr(0, 4), "503 ");  // MAIL first
  s.send("NOOP\r\n");
  EXPECT_EQ(s.lines(1).substr(0, 4), "250 ");
  // Pipelined: MAIL, RCPT, RCPT, DATA in one write.
  s.send("MAIL FROM:<sender@x.test> BODY=8BITMIME\r\nRCPT TO:<one@y.test>\r\nRCPT TO:<two@y.test>\r\nDATA\r\n");
  const std::string replies = s.lines(4);
  EXPECT_EQ(replies, "250 2.1.0 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  s.send("Subject: hello\r\n world\r\nMessage-ID: <k@tierflow>\r\n\r\n..leading dot\r\nline\r\n.\r\n");
  EXPECT_EQ(s.lines(1).substr(0, 4), "250 ");
  // RSET drops a transaction.
  s.send("MAIL FROM:<x@x>\r\nRSET\r\nDATA\r\n");
  EXPECT_EQ(s.lines(3), "250 2.1.0 OK\r\n250 2.0.0 OK\r\n503 5.5.1 RCPT first\r\n");
  s.send("HELP\r\n");
  EXPECT_EQ(s.lines(1).substr(0, 4), "502 ");
  s.send("QUIT\r\n");
  EXPECT_EQ(s.lines(1).substr(0, 4), "221 ");

  ASSERT_TRUE(server.wait_for(1, std::chrono::seconds(1)));
  const auto messages = server.messages();
  ASSERT_EQ(messages.size(), 1u);
  const SmtpMessage& m = messages[0];
  EXPECT_EQ(m.helo, "client.test");
  EXPECT_EQ(m.mail_from, "sender@x.test");
  EXPECT_EQ(m.recipients, (std::vector<std::string>{"one@y.test", "two@y.test"}));
  EXPECT_EQ(m.header("subject"), "hello world");  // unfolded
  EXPECT_EQ(m.message_id(), "<k@tierflow>");
  EXPECT_EQ(m.body, ".leading dot\r\nline\r\n");  // unstuffed
}

TEST(SmtpServer, InjectedFailuresThenAcceptsAgain) {
  SmtpServer server;
  server.fail_next(2, 451, "4.7.1 try later");
  Socket s(server.port());
  s.lines(1);
  s.send("HELO c\r\n");
  s.lines(1);
  for (const char* expected : {"451 4.7.1 try later\r\n", "451 4.7.1 try later\r\n"}) {
    s.send("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
    s.lines(3);
    s.send("Subject: s\r\n\r\nbody\r\n.\r\n");
    EXPECT_EQ(s.lines(1), expected);
  }
  s.send("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
  s.lines(3);
  s.send("Subject: s\r\n\r\nbody\r\n.\r\n");
  EXPECT_EQ(s.lines(1).substr(0, 4), "250 ");
  EXPECT_EQ(server.received(), 1u);
  EXPECT_EQ(server.rejected(), 2u);
  EXPECT_EQ(server.messages().size(), 1u);
}

TEST(SmtpServer, BoundedMessageSizeAndRecord) {
  SmtpServer::Options options;
  options.max_message_bytes = 100;
  options.max_messages = 2;
  SmtpServer server(options);
  Socket s(server.port());
  s.lines(1);
  s.send("HELO c\r\n");
  s.lines(1);
  s.send("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
  s.lines(3);
  s.send(std::string(300, 'x') + "\r\n.\r\n");
  EXPECT_EQ(s.lines(1).substr(0, 4), "552 ");
  for (int i = 0; i < 3; ++i) {
    s.send("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
    s.lines(3);
    s.send("Subject: " + std::to_string(i) + "\r\n\r\nb\r\n.\r\n");
    EXPECT_EQ(s.lines(1).substr(0, 4), "250 ");
  }
  EXPECT_EQ(server.received(), 3u);
  const auto messages = server.messages();
  ASSERT_EQ(messages.size(), 2u);  // the oldest was dropped from the record
  EXPECT_EQ(messages[0].header("Subject"), "1");
}

TEST(HttpServer, KeepAliveRecordsAndInjectsStatuses) {
  HttpServer server;
  server.respond_next(1, 503);
  Socket s(server.port());
  const std::string request =
      "POST /sms/send?x=1 HTTP/1.1\r\nHost: t\r\nIdempotency-Key: k1\r\nContent-Type: application/json\r\n"
      "Content-Length: 7\r\n\r\n{\"a\":1}";
  s.send(request);
  const std::string first = s.until("{\"error\":\"injected\"}");
  EXPECT_EQ(first.substr(0, 12), "HTTP/1.1 503");
  s.send(request);  // the same connection: kept alive
  const std::string second = s.until("{\"ok\":true}");
  EXPECT_EQ(second.substr(0, 12), "HTTP/1.1 200");
  ASSERT_TRUE(server.wait_for(1, std::chrono::seconds(1)));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].status, 503);
  EXPECT_EQ(requests[1].status, 200);
  EXPECT_EQ(requests[1].method, "POST");
  EXPECT_EQ(requests[1].path, "/sms/send");
  EXPECT_EQ(requests[1].target, "/sms/send?x=1");
  EXPECT_EQ(requests[1].header("idempotency-key"), "k1");
  EXPECT_EQ(requests[1].body, "{\"a\":1}");
  EXPECT_EQ(server.received(), 1u);
  EXPECT_EQ(server.rejected(), 1u);
}

}  // namespace
}  // namespace tierflow::test_support
