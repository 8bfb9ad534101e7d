# SsmlabFuzz: the SSMLAB_FUZZ=ON build (scripts/fuzz.sh). Every target of this build (the
# torch-free libraries and the fuzz targets) is compiled with libFuzzer's coverage
# instrumentation, AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer;
# UBSan findings abort (-fno-sanitize-recover=all) so that they fail like a crash.
#
# ssmlab_add_fuzzer(<name> SOURCES a.cpp ... [LIBS lib ...] [MAX_LEN bytes] [DICT file])
#   A libFuzzer binary build-fuzz/bin/fuzz_<name>; its seed corpus is tests/fuzz/corpus/<name>/.
#   MAX_LEN (-max_len, default 4096) and DICT (-dict, relative to tests/fuzz/) are written to
#   build-fuzz/fuzz_targets.txt, which scripts/fuzz.sh reads: adding a target is this one line
#   in tests/fuzz/CMakeLists.txt plus its .cpp.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "SSMLAB_FUZZ needs clang++ (libFuzzer); configure with -DCMAKE_CXX_COMPILER=clang++ "
                      "(scripts/fuzz.sh does)")
endif()
set(SSMLAB_SANITIZE "address,undefined")
add_compile_options(-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,${SSMLAB_SANITIZE}
                    -fno-sanitize-recover=all -D_GLIBCXX_ASSERTIONS)
add_link_options(-fsanitize=${SSMLAB_SANITIZE})

set(SSMLAB_FUZZ_MANIFEST ${CMAKE_BINARY_DIR}/fuzz_targets.txt)
file(WRITE ${SSMLAB_FUZZ_MANIFEST} "# name max_len dict (written by cmake/SsmlabFuzz.cmake)\n")
add_custom_target(fuzz_targets)  # builds every fuzz target (scripts/fuzz.sh: --target fuzz_targets)

function(ssmlab_add_fuzzer name)
  cmake_parse_arguments(A "" "MAX_LEN;DICT" "SOURCES;LIBS" ${ARGN})
  if(NOT A_MAX_LEN)
    set(A_MAX_LEN 4096)
  endif()
  if(NOT A_DICT)
    set(A_DICT "-")
  endif()
  add_executable(fuzz_${name} ${A_SOURCES})
  target_link_libraries(fuzz_${name} PRIVATE ssmlab_common ${A_LIBS})
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  target_compile_definitions(fuzz_${name} PRIVATE SSMLAB_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  add_dependencies(fuzz_targets fuzz_${name})
  file(APPEND ${SSMLAB_FUZZ_MANIFEST} "${name} ${A_MAX_LEN} ${A_DICT}\n")
endfunction()
