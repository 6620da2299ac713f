#!/usr/bin/env bash
# Writes the tray app's update manifest (Tauri's updater JSON) to stdout for
# the release's packages in DIR, each of which must already be signed
# (`tauri signer sign` writes <file>.sig beside it). The release workflow
# signs the manifest itself afterwards (latest.json.sig); the app refuses a
# manifest without that signature.
#
#   installers/update-manifest.sh VERSION BASE_URL DIR NOTES_FILE > latest.json
#
# Packages are named as the release workflow names them, after their
# platform: linux-x86_64-<file>.deb, macos-arm64-<file>.dmg, ... Each becomes
# the platform key the app asks for (cm_update::install::platform_key):
# linux-x86_64-deb, darwin-aarch64-dmg, windows-x86_64-nsis, ... with the
# URL BASE_URL/<file>. Files of no platform (checksums, signatures, the
# macOS .app archive) are left out.
set -euo pipefail

if [ $# -ne 4 ]; then
    echo "usage: $0 VERSION BASE_URL DIR NOTES_FILE" >&2
    exit 2
fi
version="${1#v}"
base_url="${2%/}"
dir="$3"
notes="$4"

# The platform key of a release file, or nothing.
platform_key() {
    case "$1" in
        linux-x86_64-*.deb) echo linux-x86_64-deb ;;
        linux-x86_64-*.rpm) echo linux-x86_64-rpm ;;
        macos-arm64-*.dmg) echo darwin-aarch64-dmg ;;
        macos-x86_64-*.dmg) echo darwin-x86_64-dmg ;;
        windows-x86_64-*.msi) echo windows-x86_64-msi ;;
        windows-x86_64-*-setup.exe) echo windows-x86_64-nsis ;;
    esac
}

platforms='{}'
for file in "$dir"/*; do
    name="$(basename "$file")"
    key="$(platform_key "$name")"
    [ -n "$key" ] || continue
    if [ ! -s "$file.sig" ]; then
        echo "error: $name is not signed (no $name.sig)" >&2
        exit 1
    fi
    if [ "$(jq --arg k "$key" 'has($k)' <<<"$platforms")" = true ]; then
        echo "error: two packages for $key" >&2
        exit 1
    fi
    platforms="$(jq --arg k "$key" --arg url "$base_url/$name" --rawfile sig "$file.sig" \
        '. + {($k): {url: $url, signature: ($sig | rtrimstr("\n"))}}' <<<"$platforms")"
done
if [ "$platforms" = '{}' ]; then
    echo "error: no package in $dir" >&2
    exit 1
fi

jq -n --arg version "$version" --rawfile notes "$notes" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --argjson platforms "$platforms" \
    '{version: $version, notes: $notes, pub_date: $date, platforms: $platforms}'
