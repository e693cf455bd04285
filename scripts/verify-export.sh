#!/bin/sh
# Re-verifies a hostlocator export with standard tools only (sh, sed,
# sha256sum, base64, openssl): the recipe of docs/evidence.md, for a
# manifest that lists one file.
#   scripts/verify-export.sh EXPORT MANIFEST PUBLIC_KEY.pem
# Exit 0 and "OK" when the signature, the key and the chain hold; 1 and
# what failed otherwise. `hostlocator verify` checks the same and names the
# first bad line.
set -eu
export_file=$1 manifest=$2 pubkey=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*"; exit 1; }

# 1. Signature: the last line holds it (base64), every line before it is
#    signed, byte for byte.
head -n -1 "$manifest" >"$tmp/body"
tail -n 1 "$manifest" | sed 's/^ed25519-signature: //' | base64 -d >"$tmp/sig"
openssl pkeyutl -verify -pubin -inkey "$pubkey" -rawin -in "$tmp/body" \
  -sigfile "$tmp/sig" >/dev/null 2>&1 || fail "bad signature"

# A top-level or file field of the signed body (one-file manifests).
field() {
  sed -n "s/^ *\"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" \
    "$tmp/body" | head -n 1
}

# 2. Key: the manifest names the key that signed it.
fingerprint=$(openssl pkey -pubin -in "$pubkey" -outform DER | tail -c 32 |
  sha256sum | cut -c1-64)
[ "$(field fingerprint)" = "$fingerprint" ] || fail "signed by another key"

# 3. Chain: h0 from the export's identity, then hi = SHA-256(hex(h(i-1)) ||
#    line i with its line end), over every line of the file.
h=$(printf 'hostlocator-chain-v1\nexport=%s\nbatch=%s\nparameters=%s\nfile=%s\n' \
  "$(field export_id)" "$(field batch_id)" "$(field parameters)" \
  "$(field name)" | sha256sum | cut -c1-64)
n=0
while IFS= read -r line; do
  h=$(printf '%s%s\n' "$h" "$line" | sha256sum | cut -c1-64)
  n=$((n + 1))
done <"$export_file"
[ "$n" = "$(field lines)" ] || fail "$n lines, the manifest signs $(field lines)"
[ "$(wc -c <"$export_file")" = "$(field bytes)" ] ||
  fail "the file is not $(field bytes) bytes long (cut or appended)"
[ "$h" = "$(field chain_head)" ] || fail "the chain head differs"
echo "OK $export_file: $n lines, chain head $h"
