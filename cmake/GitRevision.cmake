# cmake -DSRC=<source dir> -DOUT=<file.cpp> -P cmake/GitRevision.cmake
# Writes OUT, defining ssmlab::detail::git_revision_string(): the revision recorded in every log line's
# `git` field (docs/log-schema.md). Run at every build (common/CMakeLists.txt), so the field names the commit
# that was built, not the one CMake was configured at: $SSMLAB_GIT_REV when set (a copy of the tree without
# its .git, e.g. the GPU machine's), else `git rev-parse --short=12 HEAD` with "-dirty" when tracked files
# differ from it, else "unknown". OUT is rewritten only when the revision changes (no needless relinks).
if(DEFINED ENV{SSMLAB_GIT_REV} AND NOT "$ENV{SSMLAB_GIT_REV}" STREQUAL "")
  set(rev "$ENV{SSMLAB_GIT_REV}")
else()
  execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY "${SRC}"
                  OUTPUT_VARIABLE rev OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR rev STREQUAL "")
    set(rev "unknown")
  else()
    execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY "${SRC}"
                    OUTPUT_VARIABLE changes ERROR_QUIET)
    if(NOT changes STREQUAL "")
      set(rev "${rev}-dirty")
    endif()
  endif()
endif()
string(REGEX REPLACE "[^A-Za-z0-9._+-]" "_" rev "${rev}")  # a C string literal, whatever the variable held
set(content "// Generated at build time by cmake/GitRevision.cmake: do not edit.\nnamespace ssmlab::detail {\nconst char* git_revision_string() { return \"${rev}\"; }\n}  // namespace ssmlab::detail\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL content)
  file(WRITE "${OUT}" "${content}")
endif()
