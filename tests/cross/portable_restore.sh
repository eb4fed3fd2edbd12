#!/usr/bin/env bash
# portable_restore.sh — soft snapshots cross architectures, in both directions.
#
#   portable_restore.sh NATIVE_EPIDEMIC NATIVE_STASIS_DUMP GUEST_EPIDEMIC EMULATOR...
#
# The epidemic sample's small twin is checkpointed on one architecture, which is
# killed (SIGKILL) right after its third checkpoint; the other architecture resumes
# from that checkpoint and must end with the result of an uninterrupted native run.
# Done x86_64 -> aarch64 (under the emulator) and aarch64 -> x86_64. stasis-dump
# confirms which architecture wrote each checkpoint.
set -euo pipefail
native=$1 dump=$2 guest=$3
shift 3
emulator=("$@")
twin=(--size 30 --steps 60 --seed 5 --every-steps 40000 --slice 2000)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

expected=$("$native" run --quiet "${twin[@]}" | grep '^result:')
echo "uninterrupted native run: $expected"

# $1 writer-kind, $2 dir: run until SIGKILL after checkpoint 3 is durable.
write_checkpoints() {
  local kind=$1 dir=$2 status=0
  if [ "$kind" = native ]; then
    "$native" checkpointed --dir "$dir" "${twin[@]}" --die-in-write 3:done >"$dir.log" 2>&1 || status=$?
  else
    "${emulator[@]}" "$guest" checkpointed --dir "$dir" "${twin[@]}" --die-in-write 3:done >"$dir.log" 2>&1 || status=$?
  fi
  [ "$status" -eq 137 ] || { cat "$dir.log" >&2; fail "$kind writer: expected death by SIGKILL (137), got $status"; }
}

# $1 resumer-kind, $2 dir, $3 expected producer arch of the newest checkpoint.
resume_and_check() {
  local kind=$1 dir=$2 arch=$3 out newest
  newest=$(ls "$dir"/checkpoint-*.stasis | sort | tail -1)
  "$dump" info "$newest" | grep -E "^platform +$arch," >/dev/null ||
    { "$dump" info "$newest" >&2; fail "$newest was not written by $arch"; }
  local status=0
  if [ "$kind" = native ]; then
    out=$("$native" checkpointed --dir "$dir" "${twin[@]}" 2>&1) || status=$?
  else
    out=$("${emulator[@]}" "$guest" checkpointed --dir "$dir" "${twin[@]}" 2>&1) || status=$?
  fi
  [ "$status" -eq 0 ] || { echo "$out" >&2; fail "$kind resume exited with status $status"; }
  grep -q "resumed from .*checkpoint-00000003.stasis" <<<"$out" || { echo "$out" >&2; fail "$kind did not resume from checkpoint 3"; }
  got=$(grep '^result:' <<<"$out")
  [ "$got" = "$expected" ] || fail "$kind resumed to '$got', expected '$expected'"
  echo "$arch snapshot finished on $kind: $got"
}

mkdir -p "$work/x2a" "$work/a2x"
write_checkpoints native "$work/x2a"
resume_and_check guest "$work/x2a" x86_64
write_checkpoints guest "$work/a2x"
resume_and_check native "$work/a2x" aarch64
echo "PASS: x86_64 -> aarch64 and aarch64 -> x86_64 resume to the uninterrupted result"
