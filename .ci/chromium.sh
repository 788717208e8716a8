# Sourced by .ci/run (and usable by hand: `source .ci/chromium.sh && setup_browser`).
# Installs Debian's chromium and chromium-driver for the web UI's browser tests
# (crates/whet/tests/ui_browser.rs) and sets WHET_REQUIRE_BROWSER=1, so a missing browser
# fails the tests instead of skipping them.

setup_browser() {
    export WHET_REQUIRE_BROWSER=1
    if command -v chromedriver >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1; then
        echo "browser: $(chromedriver --version | head -n1)"
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
    $sudo apt-get install -y -q chromium chromium-driver >/dev/null ||
        { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium chromium-driver >/dev/null; } ||
        { echo "browser: installing chromium and chromium-driver failed" >&2; return 1; }
    echo "browser: $(chromedriver --version | head -n1)"
}
