# The Debian package (issue 16, docs/operations.md): `make package` configures the `package`
# preset (RelWithDebInfo, prefix /usr), builds it and runs CPack's DEB generator. It holds keel,
# keel-module-host, the core modules (share/keel/core), the SDK (headers and CMake helpers), the
# built web client when web/dist has one (share/keel/web), the native libraries of the addons
# (lib/keel/addons), /etc/keel/keel.toml (a conffile), a sysctl drop-in (autogroup scheduling
# off, lib/sysctl.d/60-keel.conf), the systemd unit keel.service (runs as the
# system user `keel`, state in /var/lib/keel) and the maintainer scripts of packaging/debian.

set(KEEL_PACKAGING_DIR ${PROJECT_SOURCE_DIR}/packaging)

install(FILES ${KEEL_PACKAGING_DIR}/keel.service DESTINATION lib/systemd/system)
install(FILES ${KEEL_PACKAGING_DIR}/keel.toml DESTINATION /etc/keel)
install(FILES ${KEEL_PACKAGING_DIR}/60-keel.conf DESTINATION lib/sysctl.d)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/web/dist/ DESTINATION ${CMAKE_INSTALL_DATADIR}/keel/web
        OPTIONAL)
install(FILES ${PROJECT_SOURCE_DIR}/docs/operations.md ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME keel)
set(CPACK_PACKAGE_VENDOR "Keel")
set(CPACK_PACKAGE_CONTACT "Keel maintainers <keel@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Modular business-application platform over PostgreSQL")
set(CPACK_PACKAGE_DESCRIPTION
    "Keel serves a REST API (and a web client) for business applications built from modules\n"
    "(addons): entities, security, views, data and native C++ code.")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The shared libraries keel links (libpq, libsodium, yaml-cpp, ...) become dependencies.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# The embedded PostgreSQL needs the server's binaries; with database.url it is not needed.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql (>= 15)")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${KEEL_PACKAGING_DIR}/debian/postinst ${KEEL_PACKAGING_DIR}/debian/prerm
    ${KEEL_PACKAGING_DIR}/debian/postrm ${KEEL_PACKAGING_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# The binaries are built RelWithDebInfo and stripped in the package (51 MB with their debug
# information, 142 MB installed).
set(CPACK_STRIP_FILES ON)
include(CPack)
