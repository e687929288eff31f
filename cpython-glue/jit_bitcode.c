/* jit_bitcode.c -- the translation unit build.rs compiles with clang-19 to LLVM bitcode:
 * every runtime helper that is small enough to be inlined into compiled code. The same files
 * are compiled into the extension module by gcc, so every helper also exists at an address. */
#include "runtime_fast.c"
#include "frame_fast.c"
