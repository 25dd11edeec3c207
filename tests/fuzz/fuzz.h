/* The entry point every fuzz target defines: libFuzzer's, so a target builds with clang's -fsanitize=fuzzer
 * as well as with fuzz-driver.c, the standalone driver for gcc. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
