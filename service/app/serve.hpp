// Runs the server until SIGTERM/SIGINT, then drains in-flight requests and exits.
#pragma once

#include "service/common/config.hpp"

namespace mg::app {

// Returns the process exit code.
int serve(const Config& config);

// Applies pending migrations, waiting up to `wait` for the database to accept connections
// (a container may start before PostgreSQL). Throws db::MigrationError on a bad schema.
void migrate_database(const Config& config, std::chrono::seconds wait);

}  // namespace mg::app
