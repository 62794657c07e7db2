#!/bin/sh
# Install the Debian packages kefu needs, only those missing.
#   scripts/deps.sh build   what building and running kefud needs
#   scripts/deps.sh test    that, plus what the tests need
set -e
BUILD_PKGS="build-essential autoconf automake libtool pkg-config \
libuv1-dev libwebsockets-dev libwebsockets-evlib-uv libcurl4-openssl-dev \
libjson-c-dev libsqlite3-dev libconfig-dev libssl-dev libutf8proc-dev \
libsodium-dev libmicrohttpd-dev sqlite3 curl"
TEST_PKGS="libcmocka-dev chromium fonts-wqy-microhei"

pkgs=$BUILD_PKGS
[ "${1:-build}" = test ] && pkgs="$pkgs $TEST_PKGS"
command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "deps: installing$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
