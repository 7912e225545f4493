// The `merchant-gateway` command: serve (default), migrate, api-key create|revoke.
#pragma once

namespace mg::app {

int run_cli(int argc, char** argv);

}  // namespace mg::app
