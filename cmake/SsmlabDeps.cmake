# Finds ssmlab's dependencies. Eigen, Boost.Program_options and nlohmann_json are required;
# LibTorch and CUDA are optional (their targets are skipped when absent).
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(Boost 1.70 REQUIRED COMPONENTS program_options)
find_package(Threads REQUIRED)

find_package(nlohmann_json 3.9 QUIET)
if(NOT nlohmann_json_FOUND)
  # GPU machine: header copied into .deps/include by scripts/gpu-deps.sh
  find_path(NLOHMANN_INCLUDE_DIR nlohmann/json.hpp HINTS ${CMAKE_SOURCE_DIR}/.deps/include REQUIRED)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${NLOHMANN_INCLUDE_DIR})
endif()

find_program(GNUPLOT_EXECUTABLE gnuplot)
if(GNUPLOT_EXECUTABLE)
  set(SSMLAB_GNUPLOT ${GNUPLOT_EXECUTABLE})
else()
  set(SSMLAB_GNUPLOT "not found (plots are skipped with a warning)")
endif()

find_package(OpenMP QUIET)

# yaml-cpp (Debian libyaml-cpp-dev; .deps/local on the GPU machine): optional, for --config FILE.yaml.
# Without it a YAML config is refused with a clear message and JSON configs keep working.
find_package(yaml-cpp QUIET)
if(TARGET yaml-cpp)
  set(SSMLAB_HAVE_YAML ON)
elseif(TARGET yaml-cpp::yaml-cpp)
  set(SSMLAB_HAVE_YAML ON)
  add_library(yaml-cpp ALIAS yaml-cpp::yaml-cpp)
else()
  set(SSMLAB_HAVE_YAML OFF)
endif()

# --- LibTorch (Debian's 1.13 CPU build, or python3's torch on the GPU machine) ---
set(SSMLAB_HAVE_TORCH OFF)
set(SSMLAB_TORCH_VERSION "none")
option(SSMLAB_ENABLE_TORCH "Build LibTorch targets when LibTorch is found" ON)
if(SSMLAB_ENABLE_TORCH)
  find_package(Torch QUIET)
  if(Torch_FOUND)
    set(SSMLAB_HAVE_TORCH ON)
    if(DEFINED Torch_VERSION)
      set(SSMLAB_TORCH_VERSION ${Torch_VERSION})
    else()
      set(SSMLAB_TORCH_VERSION "found")
    endif()
  endif()
endif()

# --- CUDA ---------------------------------------------------------------------
# SSMLAB_CUDA_COMPILE: nvcc exists, so every .cu file is compiled (a broken kernel fails the build).
# SSMLAB_WITH_CUDA:    LibTorch has CUDA too, so the kernels are linked and dispatched to.
set(SSMLAB_CUDA_COMPILE OFF)
set(SSMLAB_WITH_CUDA OFF)
option(SSMLAB_ENABLE_CUDA "Compile CUDA kernels when nvcc is found" ON)
if(SSMLAB_ENABLE_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    set(CMAKE_CUDA_STANDARD 17)
    set(SSMLAB_CUDA_COMPILE ON)
    if(SSMLAB_HAVE_TORCH AND (TARGET torch_cuda OR TORCH_CUDA_LIBRARIES))
      set(SSMLAB_WITH_CUDA ON)
    endif()
  endif()
endif()

# The git revision recorded in every log line is generated at build time: cmake/GitRevision.cmake.
