// tools/stasis-dump/main.cc — command line of stasis-dump, the snapshot inspector.
//
// Every failure ends as one line on stderr ("stasis-dump: ...") and a nonzero exit
// (2; verify and diff use 1 for their findings): no exception leaves main().
#include <kj/exception.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <new>
#include <string>

#include "commands.h"
#include "stasis/error.h"

namespace {

using namespace stasis::dump;

std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

int fail(const std::string& message) {
  std::cerr << "stasis-dump: " << one_line(message) << '\n';
  return kExitError;
}

// The file argument every subcommand takes, and --no-check where it applies.
void add_file(CLI::App* sub, std::string& file) {
  sub->add_option("FILE", file, "snapshot file")->required();
}
void add_no_check(CLI::App* sub, bool& no_check) {
  sub->add_flag("--no-check", no_check,
                "show the snapshot even if it breaks the format's invariants (verify lists them)");
}

int run(int argc, char** argv) {
  CLI::App app{"Inspects Stasis snapshot files without the program that wrote them.", "stasis-dump"};
  app.require_subcommand(1);

  InfoOptions info;
  auto* info_cmd = app.add_subcommand("info", "header, producer and counts of a snapshot");
  add_file(info_cmd, info.file);
  info_cmd->add_flag("--modules", info.modules, "list the module table of a native snapshot");

  TaskletsOptions tasklets;
  bool tasklets_no_check = false;
  auto* tasklets_cmd = app.add_subcommand(
      "tasklets", "table of tasklets: id, name, kind (when native ones exist), state, priority, depth, wait");
  add_file(tasklets_cmd, tasklets.file);
  tasklets_cmd->add_option("--state", tasklets.state, "only tasklets in this state")
      ->check(CLI::IsMember({"new", "runnable", "blocked", "paused"}));
  tasklets_cmd->add_option("--limit", tasklets.limit, "print at most N tasklets (0 = all)");
  add_no_check(tasklets_cmd, tasklets_no_check);

  ShowOptions show;
  bool show_no_check = false;
  auto* show_cmd = app.add_subcommand(
      "show", "one tasklet's frame chain, innermost first, with named fields (native: its record and stack walk)");
  add_file(show_cmd, show.file);
  show_cmd->add_option("ID", show.id, "tasklet id")->required();
  show_cmd->add_flag("--types", show.types, "print each field's declared type");
  show_cmd->add_flag("--resymbolize", show.resymbolize,
                     "native tasklets: re-walk and symbolize the stack offline from the module files on this "
                     "machine (done anyway when the recorded frames have no names)");
  add_no_check(show_cmd, show_no_check);

  ChannelsOptions channels;
  bool channels_no_check = false;
  auto* channels_cmd = app.add_subcommand("channels", "channels with balance, waiters and buffered values");
  add_file(channels_cmd, channels.file);
  channels_cmd->add_option("--limit", channels.limit, "print at most N channels (0 = all)");
  add_no_check(channels_cmd, channels_no_check);

  JsonOptions json;
  bool json_no_check = false;
  auto* json_cmd = app.add_subcommand("json", "the whole snapshot as JSON (one record per line)");
  add_file(json_cmd, json.file);
  json_cmd->add_flag("--archive-base64", json.archive_base64, "include the archive bytes in base64");
  json_cmd->add_flag("--pretty", json.pretty, "one indented document");
  add_no_check(json_cmd, json_no_check);

  DotOptions dot;
  bool dot_no_check = false;
  auto* dot_cmd = app.add_subcommand("dot", "Graphviz DOT of the wait-for graph (tasklets -> channels)");
  add_file(dot_cmd, dot.file);
  dot_cmd->add_flag("--fields", dot.fields, "also draw frame fields that reference channels (dashed)");
  dot_cmd->add_option("--limit", dot.limit, "at most N tasklet nodes (0 = all)");
  add_no_check(dot_cmd, dot_no_check);

  VerifyOptions verify;
  auto* verify_cmd = app.add_subcommand("verify", "check the container and every invariant; exit 0 valid, 1 invalid");
  add_file(verify_cmd, verify.file);
  verify_cmd->add_option("--max-problems", verify.max_problems, "stop after N problems")->check(CLI::PositiveNumber);
  verify_cmd->add_option("--binary", verify.binaries,
                         "an ELF file (repeatable) whose GNU build-id must match the snapshot's module of the same "
                         "name, or its main program")
      ->allow_extra_args(false);  // one path per --binary: FILE may follow it

  DiffOptions diff;
  bool diff_no_check = false;
  auto* diff_cmd = app.add_subcommand("diff", "compare two snapshots by tasklet and channel id; exit 0 same, 1 different");
  diff_cmd->add_option("A", diff.a, "old snapshot file")->required();
  diff_cmd->add_option("B", diff.b, "new snapshot file")->required();
  diff_cmd->add_flag("-q,--quiet", diff.quiet, "print nothing, exit status only");
  add_no_check(diff_cmd, diff_no_check);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help
    return fail(std::string(e.what()) + " (see stasis-dump --help)");
  }

  std::ostream& out = std::cout;
  int code = kExitError;
  if (info_cmd->parsed()) {
    code = run_info(info, out);
  } else if (tasklets_cmd->parsed()) {
    tasklets.check = !tasklets_no_check;
    code = run_tasklets(tasklets, out);
  } else if (show_cmd->parsed()) {
    show.check = !show_no_check;
    code = run_show(show, out);
  } else if (channels_cmd->parsed()) {
    channels.check = !channels_no_check;
    code = run_channels(channels, out);
  } else if (json_cmd->parsed()) {
    json.check = !json_no_check;
    code = run_json(json, out);
  } else if (dot_cmd->parsed()) {
    dot.check = !dot_no_check;
    code = run_dot(dot, out);
  } else if (verify_cmd->parsed()) {
    code = run_verify(verify, out);
  } else if (diff_cmd->parsed()) {
    diff.check = !diff_no_check;
    code = run_diff(diff, out);
  }
  out.flush();
  if (!out) return fail("cannot write the output");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  try {
    return run(argc, argv);
  } catch (const stasis::Error& e) {
    return fail(e.what());
  } catch (const kj::Exception& e) {
    return fail(std::string("malformed Cap'n Proto message: ") + e.getDescription().cStr());
  } catch (const std::bad_alloc&) {
    return fail("out of memory");
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unexpected error");
  }
}
