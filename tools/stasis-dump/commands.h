// tools/stasis-dump/commands.h — the dumper's subcommands, one function each.
//
// Contract shared by all of them: write the result to `out` (stable, locale-free
// text, suitable for golden tests) and return the exit code; report failures by
// throwing (stasis::Error subclasses, which main() prints as one line, exit 2).
// Exit codes: 0 success; verify: 1 = invalid or a --binary of another build;
// diff: 1 = different; 2 = error.
#ifndef STASIS_TOOLS_DUMP_COMMANDS_H_
#define STASIS_TOOLS_DUMP_COMMANDS_H_

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace stasis::dump {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFinding = 1;  // verify: invalid; diff: different
inline constexpr int kExitError = 2;

struct InfoOptions {
  std::string file;
  bool modules = false;    // list the module table (native snapshots), one module per line
};
int run_info(const InfoOptions& o, std::ostream& out);

struct TaskletsOptions {
  std::string file;
  std::string state;       // "" = all, else new|runnable|blocked|paused
  std::size_t limit = 0;   // 0 = all
  bool check = true;
};
int run_tasklets(const TaskletsOptions& o, std::ostream& out);

struct ShowOptions {
  std::string file;
  std::uint64_t id = 0;
  bool types = false;      // print each field's declared type
  bool resymbolize = false;  // native: re-walk the stack offline from the module files
  bool check = true;
};
int run_show(const ShowOptions& o, std::ostream& out);

struct ChannelsOptions {
  std::string file;
  std::size_t limit = 0;
  bool check = true;
};
int run_channels(const ChannelsOptions& o, std::ostream& out);

struct JsonOptions {
  std::string file;
  bool archive_base64 = false;
  bool pretty = false;     // one indented document instead of one record per line
  bool check = true;
};
int run_json(const JsonOptions& o, std::ostream& out);

struct DotOptions {
  std::string file;
  bool fields = false;     // dashed edges for frame fields that reference channels
  std::size_t limit = 0;   // at most this many tasklet nodes; 0 = all
  bool check = true;
};
int run_dot(const DotOptions& o, std::ostream& out);

struct VerifyOptions {
  std::string file;
  std::size_t max_problems = 100;
  // ELF files to check against the snapshot's module table by GNU build-id: a file
  // is matched to the module of the same basename, else to the main program.
  std::vector<std::string> binaries;
};
int run_verify(const VerifyOptions& o, std::ostream& out);

struct DiffOptions {
  std::string a, b;
  bool quiet = false;      // exit status only
  bool check = true;
};
int run_diff(const DiffOptions& o, std::ostream& out);

}  // namespace stasis::dump

#endif  // STASIS_TOOLS_DUMP_COMMANDS_H_
