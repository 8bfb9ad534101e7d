# ssmlab_add_executable(name SOURCES a.cpp ... LIBS lib ...)
#   An experiment/tool binary in build/bin/ linked to ssmlab_common (+ LIBS).
function(ssmlab_add_executable name)
  cmake_parse_arguments(A "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ssmlab_common ${A_LIBS})
endfunction()

# ssmlab_bin_executables(OUT_VAR)
#   The targets of every executable built into build/bin/ (the project's programs, not the test
#   binaries of build/tests/) defined so far in the whole tree, whatever defines them (plain
#   add_executable, ssmlab_add_executable, a foreach over a table). tests/ is added last, so its
#   CMakeLists see every program.
function(ssmlab_bin_executables out)
  set(found "")
  set(dirs ${CMAKE_SOURCE_DIR})
  while(dirs)
    list(POP_FRONT dirs d)
    get_property(targets DIRECTORY ${d} PROPERTY BUILDSYSTEM_TARGETS)
    foreach(t ${targets})
      get_target_property(type ${t} TYPE)
      if(type STREQUAL "EXECUTABLE")
        get_target_property(where ${t} RUNTIME_OUTPUT_DIRECTORY)
        if("${where}" STREQUAL "${CMAKE_RUNTIME_OUTPUT_DIRECTORY}")
          list(APPEND found ${t})
        endif()
      endif()
    endforeach()
    get_property(subdirs DIRECTORY ${d} PROPERTY SUBDIRECTORIES)
    list(APPEND dirs ${subdirs})
  endwhile()
  set(${out} ${found} PARENT_SCOPE)
endfunction()

# ssmlab_add_test(name SOURCES a.cpp ... LIBS lib ... LABELS family [gpu] [TIMEOUT s])
#   A GoogleTest binary; each TEST becomes one CTest test carrying LABELS (ctest -L <family>).
#   Tests that call GTEST_SKIP() are reported by CTest as skipped, not passed.
include(GoogleTest)
find_package(GTest REQUIRED)
function(ssmlab_add_test name)
  cmake_parse_arguments(A "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  add_executable(${name} ${A_SOURCES})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${name} PRIVATE ssmlab_common ${A_LIBS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    SSMLAB_SOURCE_DIR="${CMAKE_SOURCE_DIR}" SSMLAB_BIN_DIR="${CMAKE_BINARY_DIR}/bin")
  # GoogleTest's "[  SKIPPED ]" is mapped to a CTest skip by CMake itself (SKIP_REGULAR_EXPRESSION).
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
    DISCOVERY_TIMEOUT 120
    NO_PRETTY_VALUES  # parameterised tests name themselves; CMake would append the raw param bytes
    TEST_LIST ${name}_TESTS
    PROPERTIES TIMEOUT ${A_TIMEOUT})
  # Labels go through a second CTest include file: a list ("kernels;gpu") passed in PROPERTIES loses
  # its semicolons on the way into the generated script and only the first label would survive.
  set(_labels_file ${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake)
  file(WRITE ${_labels_file} "if(${name}_TESTS)\n  set_tests_properties(\${${name}_TESTS} PROPERTIES LABELS \"${A_LABELS}\")\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${_labels_file})
endfunction()

# ssmlab_torch_target(target)
#   Links LibTorch and reuses one precompiled <torch/torch.h> (saves ~8 s per translation unit
#   on the 2-core CI machine). Call it on every LibTorch library, binary and test.
function(ssmlab_torch_target target)
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES})
  if(NOT TARGET ssmlab_torch_pch)
    message(FATAL_ERROR "ssmlab_torch_target(${target}) called without LibTorch")
  endif()
  if(OpenMP_CXX_FOUND)  # the PCH is built with -fopenmp (see CMakeLists.txt); match it
    target_link_libraries(${target} PUBLIC OpenMP::OpenMP_CXX)
  endif()
  target_precompile_headers(${target} REUSE_FROM ssmlab_torch_pch)
endfunction()
