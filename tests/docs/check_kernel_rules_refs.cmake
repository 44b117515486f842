# cmake -DSOURCE_DIR=... -P check_kernel_rules_refs.cmake
# Every section a source file cites as `docs/kernel-rules.md §N[.M]` (and every bare §N[.M] in
# a file that cites the note) must exist as an anchor in docs/kernel-rules.md, and nothing may
# cite the design notes that are not in the repository.
file(READ "${SOURCE_DIR}/docs/kernel-rules.md" doc)
set(bad "")
file(GLOB_RECURSE files
  "${SOURCE_DIR}/allocator/*" "${SOURCE_DIR}/traces/*" "${SOURCE_DIR}/replay/*" "${SOURCE_DIR}/ebpf/*"
  "${SOURCE_DIR}/cli/*" "${SOURCE_DIR}/tests/*" "${SOURCE_DIR}/bench/*")
list(FILTER files INCLUDE REGEX "\\.(cpp|hpp|h|c)$")
foreach(f IN LISTS files)
  file(READ "${f}" text)
  if(text MATCHES "kernel-allocator\\.md")
    string(APPEND bad "\n  ${f}: cites kernel-allocator.md, which is not in the repository")
  endif()
  if(NOT text MATCHES "kernel-rules\\.md")
    continue()
  endif()
  string(REGEX MATCHALL "§[0-9]+(\\.[0-9]+)?" refs "${text}")
  list(REMOVE_DUPLICATES refs)
  foreach(r IN LISTS refs)
    string(REPLACE "§" "s" id "${r}")
    string(FIND "${doc}" "<a id=\"${id}\">" at)
    if(at EQUAL -1)
      string(APPEND bad "\n  ${f}: ${r} is not a section of docs/kernel-rules.md")
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "broken references to the kernel's rules:${bad}")
endif()
