// An invariant of a fuzz target: when it fails, the input is a finding. abort() makes libFuzzer
// save the input as a crash whatever the sanitizer options.
#pragma once

#include <cstdio>
#include <cstdlib>

#define MG_FUZZ_CHECK(condition)                                                                   \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)
