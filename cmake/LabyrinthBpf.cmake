# labyrinth_bpf_skeleton(<name> SOURCE <file.bpf.c> [HEADERS <h>...])
#
# Builds <name>.bpf.o with clang (CO-RE, -g for BTF), links and strips it with
# `bpftool gen object`, and generates <name>.skel.h with `bpftool gen skeleton`.
# Creates an INTERFACE target <name>_skel that carries the include dir (as SYSTEM, the
# generated C does not pass our warnings) and libbpf. Consumers depend on the target,
# never on the generated file, so parallel builds cannot race on it.
include_guard(GLOBAL)

find_program(LABY_BPF_CLANG NAMES clang-14 clang-15 clang-16 clang REQUIRED)
find_program(LABY_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin /usr/local/sbin REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET GLOBAL libbpf>=1.0)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(LABY_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(LABY_BPF_ARCH arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(ppc64le|ppc64)$")
  set(LABY_BPF_ARCH powerpc)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^riscv64$")
  set(LABY_BPF_ARCH riscv)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^s390x$")
  set(LABY_BPF_ARCH s390)
else()
  message(FATAL_ERROR "labyrinth: no BPF target arch for ${CMAKE_SYSTEM_PROCESSOR}")
endif()

function(labyrinth_bpf_skeleton name)
  cmake_parse_arguments(ARG "" "SOURCE" "HEADERS" ${ARGN})
  if(NOT ARG_SOURCE)
    message(FATAL_ERROR "labyrinth_bpf_skeleton(${name}): SOURCE is required")
  endif()
  get_filename_component(src "${ARG_SOURCE}" ABSOLUTE)
  get_filename_component(src_dir "${src}" DIRECTORY)
  set(out "${CMAKE_CURRENT_BINARY_DIR}/bpf")
  set(tmp_obj "${out}/${name}.tmp.bpf.o")
  set(obj "${out}/${name}.bpf.o")
  set(skel "${out}/${name}.skel.h")
  set(headers "")
  foreach(h IN LISTS ARG_HEADERS)
    get_filename_component(habs "${h}" ABSOLUTE)
    list(APPEND headers "${habs}")
  endforeach()
  # libbpf's headers (bpf_helpers.h ...) come from the libbpf package's include dir.
  set(incs "")
  foreach(d IN LISTS LIBBPF_INCLUDE_DIRS)
    list(APPEND incs "-I${d}")
  endforeach()

  add_custom_command(OUTPUT "${obj}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${out}"
    COMMAND ${LABY_BPF_CLANG} -target bpf -g -O2 -Wall -Werror
            -D__TARGET_ARCH_${LABY_BPF_ARCH} -I${src_dir} ${incs}
            -MD -MF "${out}/${name}.bpf.d"
            -c "${src}" -o "${tmp_obj}"
    # link + strip DWARF (keeps .BTF/.BTF.ext, which CO-RE needs)
    COMMAND ${LABY_BPFTOOL} gen object "${obj}" "${tmp_obj}"
    DEPFILE "${out}/${name}.bpf.d"
    DEPENDS "${src}" ${headers}
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM COMMAND_EXPAND_LISTS)
  add_custom_command(OUTPUT "${skel}"
    COMMAND sh -c "\"$1\" gen skeleton \"$2\" name \"$3\" > \"$4.tmp\" && mv \"$4.tmp\" \"$4\""
            sh ${LABY_BPFTOOL} "${obj}" "${name}_bpf" "${skel}"
    DEPENDS "${obj}"
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS "${skel}")
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel SYSTEM INTERFACE "${out}")
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
