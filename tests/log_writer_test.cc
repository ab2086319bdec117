// The asynchronous log writer of the service binaries: order and completeness, and a
// stalled stderr costing dropped, counted lines instead of blocked RPC threads. Its own
// binary, because the writer is process-wide and replaces stderr writes once started;
// the tests run in the order written.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "kefu/log.h"

namespace kefu::log {
namespace {

// Points fd 2 somewhere else for the lifetime of the object.
class StderrRedirect {
 public:
  explicit StderrRedirect(int fd) : saved_(dup(STDERR_FILENO)) { dup2(fd, STDERR_FILENO); }
  ~StderrRedirect() {
    dup2(saved_, STDERR_FILENO);
    close(saved_);
  }

 private:
  int saved_;
};

std::string TempFile() {
  char path[] = "/tmp/kefu-log-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  return path;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::atomic<uint64_t> g_observed{0};
void Observe(uint64_t n) { g_observed += n; }

TEST(LogWriter, BeforeTheWriterStartsEachLineIsWrittenAtOnce) {
  std::string path = TempFile();
  int fd = open(path.c_str(), O_WRONLY | O_APPEND);
  {
    StderrRedirect redirect(fd);
    Init("log-test", Level::kInfo);
    Info("direct", {{"phone", "13912345678"}});
    EXPECT_TRUE(absl::StrContains(ReadAll(path), "\"msg\":\"direct\",\"phone\":\"139******78\""))
        << ReadAll(path);
  }
  close(fd);
  unlink(path.c_str());
}

TEST(LogWriter, BuffersLinesAndWritesThemAllInOrder) {
  std::string path = TempFile();
  int fd = open(path.c_str(), O_WRONLY | O_APPEND);
  {
    StderrRedirect redirect(fd);
    StartAsyncWriter();
    // Four threads at once, as RPC threads would; each thread's lines stay in its order.
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t)
      writers.emplace_back([t] {
        for (int i = 0; i < 5000; ++i) Info("line", {{"thread", t}, {"i", i}, {"phone", "13912345678"}});
      });
    for (auto& w : writers) w.join();
    EXPECT_TRUE(Flush(absl::Seconds(10)));
  }
  close(fd);
  std::string out = ReadAll(path);
  unlink(path.c_str());
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 20000u);
  int next[4] = {0, 0, 0, 0};
  for (const std::string& line : lines) {
    ASSERT_TRUE(absl::StartsWith(line, "{\"ts\":\"") && absl::EndsWith(line, "}")) << line;
    EXPECT_FALSE(absl::StrContains(line, "13912345678")) << line;  // scrubbed as before
    int t = line[line.find("\"thread\":") + 9] - '0';
    ASSERT_GE(t, 0);
    ASSERT_LT(t, 4);
    EXPECT_TRUE(absl::StrContains(line, absl::StrCat("\"i\":", next[t], ","))) << line;
    ++next[t];
  }
  EXPECT_EQ(DroppedLines(), 0u);
}

TEST(LogWriter, AStalledStderrDropsAndCountsLinesInsteadOfBlockingTheCaller) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  SetDropObserver(&Observe);
  const std::string padding(200, 'x');
  constexpr int kLines = 100000;  // about 30 MB: well past the 16 MiB buffer
  std::string received;
  {
    StderrRedirect redirect(pipe_fds[1]);
    // Nobody reads the pipe yet: a synchronous writer would block here for good.
    for (int i = 0; i < kLines; ++i) Info("stalled", {{"i", i}, {"pad", padding}});
    uint64_t dropped = DroppedLines();
    EXPECT_GT(dropped, 0u);
    EXPECT_LT(dropped, static_cast<uint64_t>(kLines));

    std::thread reader([&] {
      char buf[1 << 16];
      for (;;) {
        ssize_t n = read(pipe_fds[0], buf, sizeof buf);
        if (n <= 0) return;
        received.append(buf, static_cast<size_t>(n));
      }
    });
    EXPECT_TRUE(Flush(absl::Seconds(20)));
    // Another line, then flush again, so the report of the drops is out too.
    Info("after");
    EXPECT_TRUE(Flush(absl::Seconds(20)));
    close(pipe_fds[1]);
    dup2(open("/dev/null", O_WRONLY), STDERR_FILENO);  // the pipe's last writer goes
    reader.join();
    close(pipe_fds[0]);

    size_t stalled = 0;
    for (absl::string_view line : absl::StrSplit(received, '\n', absl::SkipEmpty()))
      if (absl::StrContains(line, "\"msg\":\"stalled\"")) ++stalled;
    EXPECT_EQ(stalled + dropped, static_cast<size_t>(kLines));
    EXPECT_TRUE(absl::StrContains(received, absl::StrCat("\"msg\":\"log lines dropped\",\"dropped\":", dropped, "}")))
        << received.substr(received.size() > 2000 ? received.size() - 2000 : 0);
    EXPECT_TRUE(absl::StrContains(received, "\"msg\":\"after\""));
    EXPECT_EQ(g_observed.load(), dropped);
    EXPECT_EQ(DroppedLines(), dropped);
  }
}

}  // namespace
}  // namespace kefu::log
