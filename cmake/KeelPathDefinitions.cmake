# keel_path_definitions(TARGET NAME=VALUE...): defines each macro only on the target's sources
# that mention it. The values are paths of this checkout and build; on every command line they
# made each checkout's objects different to ccache (base_dir cannot rewrite a -D value), so
# every worktree and every CI clone compiled all tests again.
function(keel_path_definitions target)
  get_target_property(sources ${target} SOURCES)
  get_target_property(dir ${target} SOURCE_DIR)
  foreach(definition IN LISTS ARGN)
    string(REGEX REPLACE "=.*" "" name "${definition}")
    foreach(source IN LISTS sources)
      if(NOT IS_ABSOLUTE "${source}")
        set(source "${dir}/${source}")
      endif()
      file(STRINGS "${source}" uses REGEX "${name}")
      if(uses)
        set_property(SOURCE "${source}" APPEND PROPERTY
          COMPILE_DEFINITIONS "${definition}")
      endif()
    endforeach()
  endforeach()
  # A source that starts using one of the macros needs a new configure.
  set_property(DIRECTORY "${dir}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${sources})
endfunction()
