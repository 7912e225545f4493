#include "service/app/cli.hpp"

int main(int argc, char** argv) {
    return mg::app::run_cli(argc, argv);
}
