#!/usr/bin/env bash
# A throw-away CA and a server certificate for 127.0.0.1 (TLS tests: SMTP STARTTLS).
# Usage: test_cert.sh DIR  ->  DIR/ca.pem (trust this), DIR/cert.pem, DIR/key.pem
set -euo pipefail
d="$1"
mkdir -p "$d"
cd "$d"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
  -subj "/CN=vigil test CA" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout key.pem -out leaf.csr \
  -subj "/CN=127.0.0.1" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem \
  -days 2 -extfile leaf.ext >/dev/null 2>&1
