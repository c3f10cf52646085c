# scripts/deps.sh - installs the Debian packages tresor needs, if missing.
# Sourced by scripts/run and scripts/test; installing needs root.

# zlib1g-dev: SQLite's static archive asks for -lz (pkg-config --static),
# and static_deps links it statically (meson.build).
TRESOR_BUILD_PACKAGES="gcc libc6-dev pkg-config meson ninja-build libevent-dev libjansson-dev
libsodium-dev libsqlite3-dev libyaml-dev libcmocka-dev libssl-dev zlib1g-dev"
TRESOR_TEST_PACKAGES="python3 python3-pytest python3-requests python3-dotenv openssl"

# install_packages PKG... : apt-get installs whichever of PKG are missing.
install_packages() {
	local missing=() pkg
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "tresor: missing Debian packages: ${missing[*]}" >&2
		echo "tresor: run this as root (or with sudo) to install them" >&2
		return 1
	fi
	echo "tresor: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build_tresor DIR [MESON OPTIONS...] : configures (once) and builds into DIR.
build_tresor() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" -Dwerror=true "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
}
