# Sourced by .ci/run: a small file system of its own for the full-disk test of `whet server`
# (crates/whet/tests/server.rs). Sets WHET_TEST_SMALL_FS and WHET_REQUIRE_SMALL_FS=1, so the
# test never skips in CI. Needs root (CI runs as root on its machine) for the tmpfs mount.

SMALL_FS_DIR="${TMPDIR:-/tmp}/whet-small-fs-$$"

mount_small_fs() {
    mkdir -p "$SMALL_FS_DIR"
    mount -t tmpfs -o size=8m tmpfs "$SMALL_FS_DIR"
    export WHET_TEST_SMALL_FS="$SMALL_FS_DIR"
    export WHET_REQUIRE_SMALL_FS=1
}

unmount_small_fs() {
    if mountpoint -q "$SMALL_FS_DIR" 2>/dev/null; then
        umount "$SMALL_FS_DIR" || true
    fi
    rmdir "$SMALL_FS_DIR" 2>/dev/null || true
}
