# Debian bookworm packages the project needs, in one place: tests/run, deploy/local/up and the
# Dockerfile all read this file, so their package lists cannot drift apart.
# Source it, then call `mg_ensure_packages build` (or `runtime`, `test`, `local`, `demo`, …).

# shellcheck disable=SC2034
MG_PACKAGES_BUILD="build-essential cmake ninja-build pkg-config git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libpqxx-dev libspdlog-dev libfmt-dev prometheus-cpp-dev libssl-dev"
MG_PACKAGES_RUNTIME="libpqxx-6.4 libspdlog1.10 libboost-json1.81.0 libboost-url1.81.0
  libprometheus-cpp-core1.0 libssl3 ca-certificates python3 openssl"
# chromium: the browser tests (tests/browser) drive Debian's build, no browser is downloaded;
# fonts-nanum: Korean text in their screenshots.
MG_PACKAGES_TEST="libgtest-dev libgmock-dev postgresql-15 postgresql-client-15 python3 openssl
  nodejs npm yamllint python3-yaml curl procps clang-format chromium fonts-nanum"
MG_PACKAGES_LOCAL="postgresql-15 postgresql-client-15 python3 openssl curl jq"
# deploy/local/up --demo: the demo storefront (deploy/local/storefront) runs on Node.js.
MG_PACKAGES_DEMO="nodejs npm"
# clang 14 with libFuzzer (libclang-rt) for tests/fuzz.
MG_PACKAGES_FUZZ="clang libclang-rt-14-dev"
# pgbench and pg_stat_statements come with postgresql-15 (Debian has no postgresql-contrib-15).
MG_PACKAGES_BENCH="wrk nginx-light postgresql-15 postgresql-client-15 python3"

mg_ensure_packages() {
    local wanted="" group missing=()
    for group in "$@"; do
        case "$group" in
            build) wanted+=" $MG_PACKAGES_BUILD" ;;
            runtime) wanted+=" $MG_PACKAGES_RUNTIME" ;;
            test) wanted+=" $MG_PACKAGES_TEST" ;;
            local) wanted+=" $MG_PACKAGES_LOCAL" ;;
            demo) wanted+=" $MG_PACKAGES_DEMO" ;;
            fuzz) wanted+=" $MG_PACKAGES_FUZZ" ;;
            bench) wanted+=" $MG_PACKAGES_BENCH" ;;
            *) echo "unknown package group: $group" >&2; return 2 ;;
        esac
    done
    local pkg
    for pkg in $wanted; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
            missing+=("$pkg")
        fi
    done
    # Node may come from elsewhere than Debian (a developer's own install): then npx is enough.
    if command -v npx >/dev/null 2>&1; then
        local filtered=()
        for pkg in "${missing[@]}"; do
            [[ $pkg == nodejs || $pkg == npm ]] || filtered+=("$pkg")
        done
        missing=("${filtered[@]}")
    fi
    [[ ${#missing[@]} -eq 0 ]] && return 0
    echo "Installing missing packages: ${missing[*]}"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
