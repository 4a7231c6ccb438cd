#!/usr/bin/env bash
# Builds a free-threaded CPython (PEP 703, --disable-gil) from Debian's source package
# into .python-ft/ under the project, and prints the interpreter's path as the last line.
#
# The archive is the one this machine's apt already uses (read from its sources); only the
# suite differs: one that carries CPython 3.13 or newer. Nothing system-wide is changed:
# apt runs with a private configuration under .python-ft/apt. A second call finds the
# interpreter built and does nothing. About 3 minutes on 2 cores (configure, make).
#
#   scripts/free-threaded-python.sh            # build (or find) it
#   SUITE=trixie PACKAGE=python3.13 scripts/free-threaded-python.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${CONCLAB_FT_PREFIX:-$root/.python-ft}"
suite="${SUITE:-trixie}"
package="${PACKAGE:-python3.13}"
jobs="${JOBS:-$(nproc)}"

say() { printf 'free-threaded-python: %s\n' "$*" >&2; }

interpreter() {
    local p
    for p in "$prefix"/bin/python3.*t; do
        [ -x "$p" ] && { echo "$p"; return 0; }
    done
    return 1
}

if python=$(interpreter) && "$python" -c 'import sys; sys.exit(sys._is_gil_enabled())' 2>/dev/null; then
    say "already built: $("$python" -VV | head -1)"
    echo "$python"
    exit 0
fi

for tool in apt-get tar make cc; do
    command -v "$tool" >/dev/null || { say "needs $tool on PATH"; exit 2; }
done

# The archive this machine's apt reads Debian from: the URIs of its deb822 sources, or the
# URL of a one-line "deb" entry, whichever names the main Debian archive first.
archive=""
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
    [ -r "$f" ] || continue
    case "$f" in
    *.sources)
        archive=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i ~ /debian\/?$/) {print $i; exit}}' "$f") ;;
    *)
        archive=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\/.*debian\/?$/) {print $i; exit}}' "$f") ;;
    esac
    [ -n "$archive" ] && break
done
if [ -z "$archive" ]; then
    say "cannot find a Debian archive in /etc/apt/sources.list{,.d}: give one with ARCHIVE=URL"
    archive="${ARCHIVE:-}"
    [ -n "$archive" ] || exit 2
fi
archive="${ARCHIVE:-$archive}"
say "archive from this machine's apt configuration: $archive (suite $suite)"

work="$prefix/build"
apt_dir="$prefix/apt"
mkdir -p "$work" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/etc/trusted.gpg.d"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb-src [signed-by=$keyring] $archive $suite main" > "$apt_dir/sources.list"
apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list"
    -o "Dir::Etc::SourceParts=$apt_dir/etc/none"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Get::List-Cleanup=0"
    -o "APT::Sandbox::User=root"
)

started=$SECONDS
if ! ls "$work"/"${package}"_*.orig.tar.* >/dev/null 2>&1; then
    say "fetching the index of $suite's sources (private apt configuration, nothing system-wide)"
    apt-get "${apt_opts[@]}" -qq update >&2
    say "downloading the source package $package"
    (cd "$work" && apt-get "${apt_opts[@]}" -qq source --download-only "$package" >&2)
fi
orig=$(ls "$work"/"${package}"_*.orig.tar.* | head -1)
version=$(basename "$orig" | sed -E "s/^${package}_([^.]+\.[^.]+\.[^.]+).*/\1/")
say "got $(basename "$orig") (CPython $version)"

src="$work/Python-$version"
if [ ! -d "$src" ]; then
    mkdir -p "$src"
    tar -xf "$orig" -C "$src" --strip-components=1
fi

say "configure --disable-gil, make -j$jobs, install into $prefix (about 3 minutes on 2 cores)"
cd "$src"
if [ ! -f Makefile ]; then
    ./configure --disable-gil --prefix="$prefix" --without-ensurepip >"$work/configure.log" 2>&1 ||
        { say "configure failed: see $work/configure.log"; exit 1; }
fi
make -j"$jobs" >"$work/make.log" 2>&1 || { say "make failed: see $work/make.log"; exit 1; }
make altinstall >"$work/install.log" 2>&1 || { say "make install failed: see $work/install.log"; exit 1; }

python=$(interpreter) || { say "built, but no $prefix/bin/python3.*t was installed"; exit 1; }
if ! "$python" -c 'import sys; sys.exit(sys._is_gil_enabled())'; then
    say "$python runs with the GIL enabled: not a free-threaded build"
    exit 1
fi
say "built $("$python" -VV | head -1) in $((SECONDS - started)) s"
echo "$python"
