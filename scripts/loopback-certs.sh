#!/usr/bin/env bash
# Write a throw-away certificate authority and a SuperLink certificate for 127.0.0.1 and
# localhost into OUT_DIR: ca.pem (what SuperNodes and `flwr` trust), server.pem and
# server.key (what the SuperLink serves). For loopback tests and demos only: on real
# machines the SuperLink's certificate names its real host (docs/flower.md). Each extra IP
# is named too (the lab's sites dial the SuperLink at their own link's address).
# Usage: scripts/loopback-certs.sh OUT_DIR [IP ...]
set -euo pipefail
out="${1:?usage: $0 OUT_DIR [IP ...]}"
shift
names="IP:127.0.0.1, DNS:localhost"
for ip in "$@"; do names="$names, IP:$ip"; done
mkdir -p "$out"
cd "$out"
umask 077
openssl req -x509 -newkey rsa:2048 -sha256 -days 2 -nodes -keyout ca.key -out ca.pem \
    -subj "/CN=FedXray loopback CA" 2>/dev/null
openssl req -newkey rsa:2048 -sha256 -nodes -keyout server.key -out server.csr \
    -subj "/CN=127.0.0.1" 2>/dev/null
cat > server.ext <<EXT
subjectAltName = $names
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
    -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
