// tools/stasis-dump/cmd_verify.cc — `verify`: container checks, then every message
// invariant (check_snapshot), then the structure of native records as the native
// thawer checks it (check_native_records). Prints "FILE: OK ..." or "FILE: INVALID"
// and one problem per line.
//
// With --binary PATH (repeatable), each file's GNU build-id is compared with the
// snapshot's module table: the module of the same basename, else the main program.
// One line per binary: "PATH: build-id X, the build that froze it" or the mismatch
// ("the snapshot's program has build-id X, PATH has Y: not the build that froze
// it"). Exit 0 valid and every binary matches, 1 otherwise; I/O errors (the
// snapshot or a binary unreadable, a binary not ELF) throw (exit 2).
#include <optional>

#include "commands.h"
#include "elf_build_id.h"
#include "loaded.h"
#include "native.h"
#include "render.h"
#include "stasis/persist/validate.h"

namespace stasis::dump {
namespace {

// The error text without its leading "SOURCE: ".
std::string without_source(const std::string& message, const std::string& source) {
  std::string prefix = source + ": ";
  return message.compare(0, prefix.size(), prefix) == 0 ? message.substr(prefix.size()) : message;
}

struct RecordedModule {
  std::string path, build_id;
  bool main_program = false;
};

// Checks one binary against the module table; returns the line to print and
// whether it matches.
std::pair<std::string, bool> check_binary(const std::string& binary, const std::vector<RecordedModule>& modules) {
  const std::string id = elf_build_id(binary);  // InvalidArgument: exit 2
  const std::string name = base_name(binary);
  const RecordedModule* match = nullptr;
  for (const RecordedModule& m : modules) {
    if (base_name(m.path) == name) {
      match = &m;
      break;
    }
  }
  for (std::size_t i = 0; !match && i < modules.size(); ++i) {
    if (modules[i].main_program) match = &modules[i];
  }
  const std::string shown = escaped(binary);
  if (!match) {
    return {modules.empty() ? shown + ": cannot be checked: the snapshot records no module table (it holds no native "
                                      "tasklets, which are the only ones bound to a build)"
                            : shown + ": matches no module of the snapshot, and the snapshot names no main program",
            false};
  }
  const std::string what = match->main_program ? "the snapshot's program" : "the snapshot's module " + escaped(match->path);
  const std::string recorded = match->build_id.empty() ? "no build-id" : "build-id " + escaped(match->build_id);
  if (id.empty()) return {what + " has " + recorded + ", " + shown + " has no GNU build-id: it cannot be checked", false};
  if (id != match->build_id) {
    return {what + " has " + recorded + ", " + shown + " has " + id + ": not the build that froze it", false};
  }
  return {shown + ": build-id " + id + " matches " + what +
              (match->main_program ? " (" + escaped(match->path) + ")" : std::string()),
          true};
}

}  // namespace

int run_verify(const VerifyOptions& o, std::ostream& out) {
  std::string bytes = persist::read_snapshot_file(o.file);  // CheckpointError: exit 2
  std::vector<std::string> problems;
  std::string summary;
  std::vector<RecordedModule> modules;
  bool message_readable = false;
  try {
    persist::MessageView view = persist::MessageView::from_bytes(bytes, {}, o.file);
    auto root = view.root();  // as stored: the validator checks either tasklet layout
    problems = persist::check_snapshot(root, o.max_problems);
    // The native checks and the summary walk tasklets record by record. A table that
    // does not expand is reported by check_snapshot already; say why only if not.
    std::optional<schema::Snapshot::Reader> listed;
    try {
      listed = view.listed_root();
    } catch (const SnapshotCorrupt& e) {
      if (problems.empty()) problems.push_back(without_source(e.what(), o.file));
    }
    persist::with_capnp_errors(o.file, [&] {
      for (auto m : root.getModules()) {
        modules.push_back({std::string(text_view(m.getPath())), std::string(text_view(m.getBuildId())), m.getMainProgram()});
      }
      message_readable = true;
      if (listed && problems.size() < o.max_problems) {
        for (std::string& p : check_native_records(*listed, o.max_problems - problems.size())) problems.push_back(std::move(p));
      }
    });
    if (problems.empty()) {
      std::uint64_t frames = 0, natives = 0;
      persist::with_capnp_errors(o.file, [&] {
        auto tasklets = listed->getTasklets();
        for (auto t : tasklets) {
          frames += t.getFrames().size();
          natives += t.hasNative() ? 1 : 0;
        }
        summary = "format " + std::to_string(view.info().version) + (view.info().compressed ? ", zstd" : "") + ", " +
                  count_text(tasklets.size(), "tasklet") + ", " + count_text(frames, "frame") + ", " +
                  count_text(root.getChannels().size(), "channel") + ", " +
                  count_text(root.getArchive().size(), "archive byte");
        if (natives > 0 || !modules.empty()) {
          summary += ", " + std::to_string(natives) + " native, " + count_text(modules.size(), "module");
        }
      });
    }
  } catch (const SnapshotError& e) {
    problems.push_back(without_source(e.what(), o.file));
  }
  // Every binary is read before anything is printed: an unreadable one is an error
  // (exit 2) with no partial report.
  bool ok = problems.empty();
  std::vector<std::string> binary_lines;
  for (const std::string& binary : o.binaries) {
    if (!message_readable) {
      binary_lines.push_back(escaped(binary) + ": not checked: the snapshot's module table cannot be read");
      ok = false;
      continue;
    }
    auto [line, matches] = check_binary(binary, modules);
    binary_lines.push_back(std::move(line));
    ok = ok && matches;
  }
  if (problems.empty()) {
    out << escaped(o.file) << ": OK (" << summary << ")\n";
  } else {
    out << escaped(o.file) << ": INVALID\n";
    for (const std::string& p : problems) out << "  " << escaped(p) << '\n';
  }
  for (const std::string& line : binary_lines) out << line << '\n';
  return ok ? kExitOk : kExitFinding;
}

}  // namespace stasis::dump
