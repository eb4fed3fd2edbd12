// subprocess.h — running another program as a child process in tests.
//
// Cross-process behaviour is tested across real processes: these helpers exec a
// program (optionally through the cross-testing emulator, whose words CMake passes
// '|'-separated), merge its stdout and stderr into one pipe, and collect the output
// and the wait status. Header-only; used by the version, crash and dump tests.
#ifndef STASIS_TESTS_SUPPORT_SUBPROCESS_H_
#define STASIS_TESTS_SUPPORT_SUBPROCESS_H_

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

namespace stasis::test_support {

// The words of an emulator command given as "qemu-aarch64|-L|/usr/..." (empty: none).
inline std::vector<std::string> emulator_words(const std::string& bar_separated) {
  std::vector<std::string> words;
  for (std::size_t start = 0; !bar_separated.empty() && start <= bar_separated.size();) {
    std::size_t bar = std::min(bar_separated.find('|', start), bar_separated.size());
    if (bar > start) words.push_back(bar_separated.substr(start, bar - start));
    start = bar + 1;
  }
  return words;
}

// A started child: its pid and the read end of its merged stdout/stderr.
struct Child {
  pid_t pid = -1;
  int output = -1;
};

struct Outcome {
  int status = 0;       // as waitpid reports it
  std::string output;   // stdout and stderr, interleaved as written
  // The exit code, or -1 if the child did not exit normally.
  int exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
  bool killed_by(int sig) const { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }
};

// Starts argv[0] (looked up in PATH) with argv. If exec fails the child prints why
// and exits with 127.
// `before_exec`, if given, runs in the child right before the exec.
inline Child start_captured(const std::vector<std::string>& argv, void (*before_exec)() = nullptr) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return {};
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> cargv;
    for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    if (before_exec) before_exec();
    execvp(cargv[0], cargv.data());
    std::string msg = "exec " + argv[0] + " failed: " + std::strerror(errno) + "\n";
    (void)!write(STDOUT_FILENO, msg.data(), msg.size());
    _exit(127);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

// Reads the child's output to the end and reaps it.
inline Outcome finish(const Child& child) {
  Outcome o;
  if (child.pid < 0) {
    o.output = "could not start the child process";
    o.status = 127 << 8;
    return o;
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(child.output, buf, sizeof buf)) > 0) o.output.append(buf, static_cast<std::size_t>(n));
  close(child.output);
  waitpid(child.pid, &o.status, 0);
  return o;
}

inline Outcome run_captured(const std::vector<std::string>& argv) { return finish(start_captured(argv)); }

}  // namespace stasis::test_support

#endif  // STASIS_TESTS_SUPPORT_SUBPROCESS_H_
