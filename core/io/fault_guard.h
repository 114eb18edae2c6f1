#pragma once
// Guarded reads of memory-mapped files. A read through a map of a file that another program
// truncated faults with SIGBUS, which would kill the process (and, in the explorer, every
// unsaved edit). guardedCopy() copies from a map under a per-thread recovery point: a process-wide
// SIGBUS handler (installed once, chaining to whatever handler was there before) jumps back to
// it when the faulting address lies in the range being copied, and the copy reports where it
// faulted instead. Faults anywhere else go to the previous handler (or the default action), so
// real bugs still crash as they should.
//
// Why a guarded copy and not pread: the model stays memory-mapped (no read syscalls on the hot
// path, the page cache shared with llama.cpp, release()/prefetch() keep working), and the copy is
// one memcpy per chunk on the job's own thread, which is the only place where a recovery point
// can be set up safely (a TBB worker inside a codec would have to unwind through TBB's frames;
// the copy has no frames of ours or of TBB's to unwind: it is a memcpy). The engine copies each
// chunk of source rows into its own buffer with guardedCopy before decoding it, so every byte
// the export and the error analysis read from the map is read here. See docs/ROBUSTNESS.md for
// what the sanitizers do with it.

#include <cstddef>
#include <cstdint>
#include <optional>

namespace qs::io {

/// Copy `n` bytes from `src` (inside a memory map) to `dst`. Returns nothing on success, or the
/// offset from `src` of the first byte whose page could not be read (SIGBUS: the file became
/// shorter than the map). On a fault `dst` holds an unspecified prefix of the data.
/// Thread-safe; each thread has its own recovery point; not re-entrant within one thread.
std::optional<uint64_t> guardedCopy(void* dst, const void* src, size_t n);

/// Install the process-wide SIGBUS handler now (guardedCopy installs it on first use). Safe to
/// call more than once and from several threads.
void installFaultGuard();

}  // namespace qs::io
