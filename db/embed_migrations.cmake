# Writes OUTPUT, a C++ source that defines mg::db::detail::embedded_migration_files() holding the
# bytes of every *.sql file in MIGRATIONS_DIR. Run by db/CMakeLists.txt whenever a file changes.
# Bytes are written as hex arrays, so no file content can break the generated source.
file(GLOB files RELATIVE ${MIGRATIONS_DIR} ${MIGRATIONS_DIR}/*.sql)
list(SORT files)
set(arrays "")
set(entries "")
set(index 0)
foreach(file IN LISTS files)
  file(READ ${MIGRATIONS_DIR}/${file} hex HEX)
  string(LENGTH "${hex}" hex_length)
  math(EXPR size "${hex_length} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  # A trailing zero keeps the array non-empty for an empty file; it is not part of the contents.
  string(APPEND arrays "const unsigned char kFile${index}[] = {${bytes}0x00};\n")
  string(APPEND entries
    "        {\"${file}\", std::string_view(reinterpret_cast<const char*>(kFile${index}), ${size})},\n")
  math(EXPR index "${index} + 1")
endforeach()
file(WRITE ${OUTPUT}
"// Generated from migrations/*.sql by db/embed_migrations.cmake. Do not edit.
#include \"db/embedded_migration_files.hpp\"

namespace mg::db::detail {
namespace {
${arrays}}  // namespace

const std::vector<EmbeddedFile>& embedded_migration_files() {
    static const std::vector<EmbeddedFile> files = {
${entries}    };
    return files;
}

}  // namespace mg::db::detail
")
