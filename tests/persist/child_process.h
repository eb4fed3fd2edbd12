// child_process.h — run a function in a forked child process and collect its output.
//
// Cross-process behaviour is tested across real processes: the child is a fork of
// the test process that runs `body` on a fresh thread (so it starts with no
// scheduler of its own, as a new process would) and sends back the string it
// returns, or "EXCEPTION: what" if it threw.
#ifndef STASIS_TESTS_PERSIST_CHILD_PROCESS_H_
#define STASIS_TESTS_PERSIST_CHILD_PROCESS_H_

#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

namespace stasis::test {

inline std::string run_in_child(const std::function<std::string()>& body) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(fds[0]);
    std::string out;
    std::thread t([&] {
      try {
        out = body();
      } catch (const std::exception& e) {
        out = std::string("EXCEPTION: ") + e.what();
      }
    });
    t.join();
    std::size_t done = 0;
    while (done < out.size()) {
      ssize_t n = write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string result;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) result.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "CHILD DIED: status " + std::to_string(status);
  return result;
}

}  // namespace stasis::test

#endif  // STASIS_TESTS_PERSIST_CHILD_PROCESS_H_
