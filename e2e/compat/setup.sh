#!/usr/bin/env bash
# Installs what the compatibility suites need, idempotently:
#   - Apache ZooKeeper 3.8.0 (server jars, zkCli.sh, the C client cli_mt) and Curator from Debian;
#   - a Python venv at e2e/compat/.work/venv with kazoo 2.11.0 and the extras its test suite needs.
# Safe to run repeatedly: every step first checks whether its result is already there.
#
# Usage: e2e/compat/setup.sh [--no-python]
set -euo pipefail

COMPAT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK_DIR="$COMPAT_DIR/.work"
VENV_DIR="$WORK_DIR/venv"

# Versions are pinned where the suites' results depend on them. pyopenssl 24.3 removed
# X509.add_extensions, which kazoo's harness uses to make TLS certificates (every test would
# then error at setup). gevent, eventlet and pure-sasl enable kazoo's handler and SASL suites,
# which are otherwise skipped. pytest-timeout bounds each test, so a server that stops answering
# fails that one test instead of hanging the run.
PY_PACKAGES=(kazoo==2.11.0 pytest pytest-timeout mock objgraph pyjks 'pyopenssl<24.3' gevent eventlet pure-sasl)
# openssl (with keytool from the JRE) converts the JKS stores kazoo's harness writes to PEM.
DEB_PACKAGES=(zookeeper zookeeper-bin libcurator-recipes-java openssl)

want_python=1
for arg in "$@"; do
    case "$arg" in
    --no-python) want_python=0 ;;
    *)
        echo "setup.sh: unknown argument '$arg' (supported: --no-python)" >&2
        exit 2
        ;;
    esac
done

log() { echo "setup: $*" >&2; }

install_debian_packages() {
    local missing=()
    local pkg
    for pkg in "${DEB_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    # Only refresh the package lists when the install cannot find a package without it.
    if ! DEBIAN_FRONTEND=noninteractive timeout 900 "${sudo[@]}" apt-get install -y "${missing[@]}"; then
        log "apt-get install failed; refreshing package lists and retrying"
        timeout 600 "${sudo[@]}" apt-get update
        DEBIAN_FRONTEND=noninteractive timeout 900 "${sudo[@]}" apt-get install -y "${missing[@]}"
    fi
}

check_zookeeper_files() {
    local f
    for f in /usr/share/java/zookeeper.jar /usr/share/zookeeper/bin/zkCli.sh /usr/lib/zookeeper/bin/cli_mt /usr/bin/java /usr/bin/keytool /usr/bin/openssl; do
        if [ ! -e "$f" ]; then
            log "expected $f after installing ${DEB_PACKAGES[*]}, but it is missing; check the Debian packages"
            exit 1
        fi
    done
}

# The venv is rebuilt only when the requirement list changes (a stamp file records it).
install_python_venv() {
    local stamp="$VENV_DIR/.corral-requirements"
    local wanted
    wanted="$(printf '%s\n' "${PY_PACKAGES[@]}")"
    if [ -x "$VENV_DIR/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
        return 0
    fi
    local python="${PYTHON:-python3}"
    if ! command -v "$python" >/dev/null; then
        log "no python3 found; install python3 (with the venv module) or set PYTHON"
        exit 1
    fi
    log "creating the Python venv at $VENV_DIR"
    mkdir -p "$WORK_DIR"
    "$python" -m venv "$VENV_DIR"
    timeout 900 "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
    echo "$wanted" >"$stamp"
}

install_debian_packages
check_zookeeper_files
if [ "$want_python" -eq 1 ]; then
    install_python_venv
fi
log "ready"
