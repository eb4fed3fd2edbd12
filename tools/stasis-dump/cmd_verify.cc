// tools/stasis-dump/cmd_verify.cc — `verify`: container checks, then every message
// invariant (check_snapshot). Prints "FILE: OK ..." or "FILE: INVALID" and one
// problem per line. Exit 0 valid, 1 invalid; I/O errors throw (exit 2).
#include "commands.h"
#include "loaded.h"
#include "render.h"
#include "stasis/persist/validate.h"

namespace stasis::dump {
namespace {

// The error text without its leading "SOURCE: ".
std::string without_source(const std::string& message, const std::string& source) {
  std::string prefix = source + ": ";
  return message.compare(0, prefix.size(), prefix) == 0 ? message.substr(prefix.size()) : message;
}

}  // namespace

int run_verify(const VerifyOptions& o, std::ostream& out) {
  std::string bytes = persist::read_snapshot_file(o.file);  // CheckpointError: exit 2
  std::vector<std::string> problems;
  std::string summary;
  try {
    persist::MessageView view = persist::MessageView::from_bytes(bytes, {}, o.file);
    auto root = view.root();
    problems = persist::check_snapshot(root, o.max_problems);
    if (problems.empty()) {
      std::uint64_t frames = 0;
      persist::with_capnp_errors(o.file, [&] {
        auto tasklets = root.getTasklets();
        for (auto t : tasklets) frames += t.getFrames().size();
        summary = "format " + std::to_string(view.info().version) + (view.info().compressed ? ", zstd" : "") + ", " +
                  count_text(tasklets.size(), "tasklet") + ", " + count_text(frames, "frame") + ", " +
                  count_text(root.getChannels().size(), "channel") + ", " +
                  count_text(root.getArchive().size(), "archive byte");
      });
    }
  } catch (const SnapshotError& e) {
    problems = {without_source(e.what(), o.file)};
  }
  if (problems.empty()) {
    out << escaped(o.file) << ": OK (" << summary << ")\n";
    return kExitOk;
  }
  out << escaped(o.file) << ": INVALID\n";
  for (const std::string& p : problems) out << "  " << escaped(p) << '\n';
  return kExitFinding;
}

}  // namespace stasis::dump
