# Building native Keel modules (docs/native.md).
#
#   keel_add_addon(<library> SOURCES <file>... [LINK_LIBRARIES <lib>...])
#
# builds lib<library>.so, the `library:` of the module's manifest, against the SDK headers
# (target Keel::sdk) and nothing else of Keel. Inside Keel's own build the library lands in the
# build's addon directory, where `keel` finds it (or, with -DKEEL_STATIC_ADDONS=ON, into the
# keel binary itself); built on its own (find_package(Keel)) it lands
# in the module's build directory, which `keel` also searches (<module>/build).
#
#   keel_add_addons(<dir>)
#
# adds every <dir>/*/CMakeLists.txt (Keel's build does it for the core modules, addons/ and the
# test fixtures).

function(keel_add_addon library)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "SOURCES;LINK_LIBRARIES")
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "keel_add_addon(${library}): no SOURCES")
  endif()
  set(target keel_addon_${library})
  if(KEEL_ADDON_LINK_STATIC)
    # Linked into keel: the entry symbols are named after the library (keel/module.hpp).
    add_library(${target} OBJECT ${ARG_SOURCES})
    target_compile_definitions(${target} PRIVATE KEEL_ADDON_STATIC=${library})
    set_property(GLOBAL APPEND PROPERTY KEEL_STATIC_ADDON_LIBRARIES ${library})
  else()
    add_library(${target} MODULE ${ARG_SOURCES})
  endif()
  target_link_libraries(${target} PRIVATE Keel::sdk ${ARG_LINK_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME ${library}
    PREFIX "lib"
    SUFFIX ".so"
    CXX_STANDARD 20
    CXX_STANDARD_REQUIRED ON
    CXX_EXTENSIONS OFF
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(KEEL_ADDON_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY ${KEEL_ADDON_OUTPUT_DIRECTORY})
  endif()
  set_property(GLOBAL APPEND PROPERTY KEEL_ADDON_TARGETS ${target})
endfunction()

function(keel_add_addons dir)
  file(GLOB children LIST_DIRECTORIES true "${dir}/*")
  list(SORT children)
  foreach(child IN LISTS children)
    if(IS_DIRECTORY "${child}" AND EXISTS "${child}/CMakeLists.txt")
      file(RELATIVE_PATH relative "${PROJECT_SOURCE_DIR}" "${child}")
      add_subdirectory("${child}" "${CMAKE_BINARY_DIR}/addon-build/${relative}")
    endif()
  endforeach()
endfunction()
