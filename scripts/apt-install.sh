# Sourced by the install scripts: apt_install LABEL PKG... installs the
# packages (nothing when the list is empty), with sudo when not root, and
# refreshes the package lists only then.
apt_install() {
	local label=$1
	shift
	[ $# -gt 0 ] || return 0
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "$label: apt-get install $*"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		"$@" >/dev/null
}

# apt_install_missing LABEL PKG... installs those of the packages dpkg does
# not have yet (nothing, and no apt call, when all are there).
apt_install_missing() {
	local label=$1 p
	shift
	local need=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			need+=("$p")
	done
	apt_install "$label" "${need[@]}"
}
