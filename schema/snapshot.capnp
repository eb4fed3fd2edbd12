# schema/snapshot.capnp — the Stasis snapshot message, format version 3.
#
# A snapshot file is a fixed header, this message (optionally zstd-compressed) and a
# checksum; see docs/snapshot-format.md for the container and the compatibility rules.
#
# Invariants a valid message keeps (the loader checks every one of them):
#   - every index (frame type, value type, channel) is in range of its list;
#   - tasklet ids are unique; a channel's waiters name tasklets of this snapshot,
#     each at most once, and each such tasklet waits on that channel with that
#     direction; a channel's balance equals (senders - receivers) of its waiters;
#   - tasklets in the run queue (new, runnable) come first, in run order; a new
#     tasklet has not started and has one frame at resume point 0; `interrupted`
#     only on a paused tasklet; outer frames sit at resume point >= 1;
#   - channel ids are unique; a channel's waiters all go one way; its buffer holds
#     at most `capacity` values of its value type, and none while receivers wait;
#   - `archive` holds, in this order, for each tasklet (list order) the fields of
#     each of its frames (list order, innermost first) then its slot value if any,
#     then for each channel (list order) its buffered values; each record says how
#     many archive bytes it owns, and those sizes add up to the archive size.
# New fields may be added at the end of a struct (Cap'n Proto keeps old readers
# working); renumbering or retyping a field is a format version change.
@0xaf1dc014a770f356;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("stasis::schema");

struct Snapshot {
  producer @0 :Producer;
  createdUnixNs @1 :Int64;          # wall clock when frozen
  scope @2 :Scope;
  scheduler @3 :SchedulerState;     # meaningful for scope == scheduler
  frameTypes @4 :List(FrameType);   # the frame types used, each once
  valueTypes @5 :List(ValueType);   # element types of channels and slot values, each once
  tasklets @6 :List(Tasklet);       # runnable ones first, in run order; then the rest
  channels @7 :List(Channel);
  archive @8 :Data;                 # Boost.Serialization binary archive (no header)
  note @9 :Text;                    # free text from the writer (e.g. "checkpoint 12")
  modules @10 :List(Module);        # native snapshots: the writer's loaded objects (empty otherwise)
  symbols @11 :List(Symbol);        # native snapshots: the code addresses their frames name
  taskletTable @12 :TaskletTable;   # format 3: the tasklets as columns; `tasklets` is then empty

  enum Scope {
    scheduler @0;                   # every alive tasklet of one scheduler
    tasklets @1;                    # a chosen set of tasklets
  }
}

# Who wrote the snapshot. Soft snapshots load on any producer with the same
# endianness and integer sizes (the archive stores integers natively).
struct Producer {
  arch @0 :Text;                    # "x86_64", "aarch64", ...
  pointerBits @1 :UInt8;            # 64 or 32
  littleEndian @2 :Bool;
  longBits @3 :UInt8;               # sizeof(long) * 8: binary archives store long natively
  libraryVersion @4 :Text;          # Stasis version, e.g. "0.1.0"
  compiler @5 :Text;                # e.g. "gcc 12.2.0"
  boostArchiveVersion @6 :UInt32;   # boost::archive::BOOST_ARCHIVE_VERSION()
  hostname @7 :Text;
  pid @8 :UInt32;
  program @9 :Text;                 # the producing executable's name
}

struct SchedulerState {
  steps @0 :UInt64;                 # frame steps executed so far
  rngState @1 :UInt64;              # select's fair-choice generator
}

struct FrameType {
  name @0 :Text;                    # stable registered name, e.g. "samples.epidemic.Region"
  version @1 :UInt32;               # registered version the fields were written with
  cxxName @2 :Text;                 # informational: the writer's C++ type name
  fields @3 :List(FieldInfo);       # the STASIS_FIELDS list, in order
}

struct FieldInfo {
  name @0 :Text;
  type @1 :Text;                    # stable value type name or the C++ type spelling
}

struct ValueType {
  name @0 :Text;                    # stable name: "i64", "string", "samples.epidemic.Report", ...
}

struct Tasklet {
  id @0 :UInt64;
  name @1 :Text;
  priority @2 :Int8;                # -16 .. 15
  state @3 :State;
  atomic @4 :Bool;
  blockTrap @5 :Bool;
  started @6 :Bool;                 # has run at least one step
  interrupted @7 :Bool;             # paused by a budgeted run; insert() resumes it
  wait :union {
    none @8 :Void;
    send @9 :UInt32;                # index into channels
    receive @10 :UInt32;            # index into channels
    sleep @11 :Int64;               # nanoseconds left on its timer when frozen (>= 0)
  }
  frames @12 :List(Frame);          # innermost first; the last is the root
  slot @13 :Value;                  # a value in flight, if hasSlot
  hasSlot @14 :Bool;
  native @15 :NativeTasklet;        # set for a native tasklet (its frames list is then empty)

  enum State {
    new @0;
    runnable @1;
    blocked @2;
    paused @3;
  }
}

# Format 3: the tasklets of `Snapshot.tasklets` as parallel columns, so that a
# reader gets each value with an array access instead of a struct and pointer
# read per record. Entry i of every per-tasklet column describes tasklet i (same
# order and rules as `tasklets`); the per-frame columns hold every tasklet's frames,
# tasklet after tasklet, innermost first. What few tasklets have (a name, a slot, a
# sleep, a native record) and field values of frames sit in sparse lists keyed by
# index. A message uses `tasklets` or `taskletTable`, never both.
struct TaskletTable {
  ids @0 :List(UInt64);
  states @1 :List(Tasklet.State);
  priorities @2 :List(Int8);
  flags @3 :List(UInt8);            # the tasklet*Flag bits below; others 0
  waitKinds @4 :List(WaitKind);
  waitChannels @5 :List(UInt32);    # index into channels for send/receive waits, else 0
  frameCounts @6 :List(UInt32);     # frames of each tasklet (0 for a native one)
  frameTypes @7 :List(UInt32);      # per frame: index into Snapshot.frameTypes
  resumePoints @8 :List(UInt16);    # per frame, as Frame.resumePoint
  catchesChild @9 :List(Bool);      # per frame, as Frame.catchesChild
  archiveBytes @10 :List(UInt32);   # per frame, as Frame.archiveBytes
  extras @11 :List(TaskletExtra);   # strictly increasing `tasklet`
  frameFields @12 :List(FrameFields); # strictly increasing `frame`

  enum WaitKind {
    none @0;
    send @1;
    receive @2;
    sleep @3;                       # the time left is TaskletExtra.sleep
  }
}

# The bits of TaskletTable.flags: the Tasklet fields of the same names.
const taskletAtomicFlag :UInt8 = 1;
const taskletBlockTrapFlag :UInt8 = 2;
const taskletStartedFlag :UInt8 = 4;
const taskletInterruptedFlag :UInt8 = 8;

# What only some tasklets have. A tasklet that sleeps has an entry (it holds the
# time left); one with a name, a slot value or a native record has one to hold it.
# At most one entry per tasklet.
struct TaskletExtra {
  tasklet @0 :UInt32;               # index into the table
  name @1 :Text;
  sleep @2 :Int64;                  # ns left on its timer, for a sleep wait (>= 0); else 0
  hasSlot @3 :Bool;
  slot @4 :Value;                   # a value in flight, if hasSlot
  native @5 :NativeTasklet;         # set for a native tasklet
}

# The field values of one frame (a frame type whose fields the archive does not
# describe by itself: see Frame.fields).
struct FrameFields {
  frame @0 :UInt32;                 # index into the per-frame columns
  fields @1 :List(Field);
}

struct Frame {
  type @0 :UInt32;                  # index into frameTypes
  resumePoint @1 :UInt16;           # 0 = entry; k = k-th suspension point of run()
  catchesChild @2 :Bool;            # the pending call site catches the callee's exception
  archiveBytes @3 :UInt32;          # bytes of `archive` holding this frame's fields
  fields @4 :List(Field);           # the fields' values, for readers without the program; empty
                                    # (format 2) when every field's type is decodable from the
                                    # archive by its FieldInfo.type (docs/snapshot-format.md)
}

# One field value as a reader without the program sees it.
struct Field {
  union {
    int @0 :Int64;
    uint @1 :UInt64;
    float @2 :Float64;
    bool @3 :Bool;
    text @4 :Text;                  # a string field's value
    channel @5 :UInt32;             # a channel reference: index into channels
    null @6 :Void;                  # a null reference
    other @7 :Text;                 # any other type, rendered as text
  }
}

# One serialized value: a channel buffer entry or a tasklet's slot.
struct Value {
  type @0 :UInt32;                  # index into valueTypes
  archiveBytes @1 :UInt32;
  text @2 :Text;                    # rendering for readers without the program
}

struct Channel {
  id @0 :UInt64;
  name @1 :Text;
  valueType @2 :UInt32;             # index into valueTypes
  capacity @3 :UInt64;              # 0 = synchronous rendezvous
  preference @4 :Int8;              # -1, 0, +1
  scheduleAll @5 :Bool;
  closing @6 :Bool;
  balance @7 :Int64;                # blocked senders (> 0) or minus blocked receivers
  buffer @8 :List(Value);           # oldest first
  waiters @9 :List(Waiter);         # FIFO (formats 1, 2; empty in format 3)
  waiterTasklets @10 :List(UInt32); # format 3: the waiters, FIFO, as indexes into the tasklet
                                    # table; each waits in the direction of its own waitKinds entry
}

struct Waiter {
  tasklet @0 :UInt64;               # tasklet id
  sending @1 :Bool;
}

# --- Native persistence (docs/native-persistence.md) ---
# A native snapshot restores only in a process of the same build with the same
# layout: same architecture, every module of `modules` loaded with the same
# build-id at the same address, the same sliced-stack region.

struct Module {
  path @0 :Text;
  buildId @1 :Text;                 # GNU build-id, lowercase hex
  base @2 :UInt64;                  # load bias
  mainProgram @3 :Bool;
  referenced @4 :Bool;              # the snapshot's words point into it: it must be loaded to restore
}

# A native tasklet's state as memory of the writer's process. Pointer words in
# `stack`, `callable` and `arenaRuns` keep their values, except the words listed
# in `relocations`, which pointed at runtime objects and are re-aimed on restore.
struct NativeTasklet {
  started @0 :Bool;                 # false: it has not run yet (no stack)
  context @1 :UInt64;               # the saved context pointer = its lowest live stack byte
  regionLow @2 :UInt64;             # the sliced-stack region the stack lives in
  regionHigh @3 :UInt64;
  stack @4 :Data;                   # the bytes [context, regionHigh)
  frameAddress @5 :UInt64;          # the writer's frame object [frameAddress, +frameSize)
  frameSize @6 :UInt32;
  callableAddress @7 :UInt64;       # the callable's bytes, inside the frame object
  callable @8 :Data;
  callableOps @9 :UInt64;           # address of the callable's operations (static data of the program)
  share @10 :UInt64;                # its arena share (0: none)
  arenaRuns @11 :List(ArenaRun);    # the share's memory
  relocations @12 :List(Relocation);
  frames @13 :List(NativeFrame);    # the stack walk, innermost first (for readers; restore ignores it)
  summary @14 :WordSummary;
}

struct ArenaRun {
  address @0 :UInt64;
  mapped @1 :UInt64;                # bytes of address space
  bytes @2 :Data;                   # the used bytes from `address` on
}

# One pointer word to re-aim on restore: the word at `at` (in the stack, the
# callable or an arena run, by the writer's addresses) becomes the restored
# target's address plus `offset`.
struct Relocation {
  at @0 :UInt64;
  offset @1 :Int64;
  target :union {
    tasklet @2 :UInt64;             # the tasklet object of the tasklet with this id
    frame @3 :UInt64;               # the native frame object of the tasklet with this id
    channel @4 :UInt32;             # index into channels
    scheduler @5 :Void;             # the scheduler thawing the snapshot
    nativeThread @6 :Void;          # the thawing thread's native state
    external @7 :Text;              # a named external (stasis/persist/native.h)
    threadPointer @8 :Void;         # the thawing thread's thread pointer (offset 0): a
                                    # callee-saved register compiled code keeps it in
  }
}

struct NativeFrame {
  pc @0 :UInt64;
  sp @1 :UInt64;                    # the frame's lowest stack address
  symbol @2 :UInt32;                # 1 + index into Snapshot.symbols (0: not symbolized)
}

# What one code address is: shared by every frame at that pc.
struct Symbol {
  function @0 :Text;                # demangled ("" if unknown)
  file @1 :Text;                    # source file of the call ("" without debug info)
  line @2 :UInt32;
  module @3 :Text;                  # path of the loaded object
}

# How the words of the stack, callable and arena runs were classified.
struct WordSummary {
  words @0 :UInt64;
  ownStack @1 :UInt64;              # pointers into the tasklet's own stack
  arena @2 :UInt64;                 # pointers into arena shares of the snapshot
  module @3 :UInt64;                # pointers into code or data of loaded objects
  relocated @4 :UInt64;             # pointers to runtime objects and externals
  plain @5 :UInt64;                 # everything else: not an address of this process
  deadStack @6 :UInt64;             # into the stack region below the stack pointer (dead stack)
}
