// Raw migrations/ files compiled into the binary. The definition is generated at build time by
// db/embed_migrations.cmake; db/migrations.cpp turns them into Migration values.
#pragma once

#include <string_view>
#include <vector>

namespace mg::db::detail {

struct EmbeddedFile {
    std::string_view file_name;
    std::string_view contents;
};

const std::vector<EmbeddedFile>& embedded_migration_files();

}  // namespace mg::db::detail
