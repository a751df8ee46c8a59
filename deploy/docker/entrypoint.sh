#!/bin/sh
# Roles of the dadm-mesh image (deploy/docker/compose.yaml):
#   compose-ca         initialise the CA on first start, mint one token for the nodes, then `ca serve`
#   compose-bootstrap  enroll on first start, publish its multiaddr for the others, then `bootstrap-server`
#   compose-node       enroll on first start, then `node start` with the bootstrap addresses
#   anything else is passed to `dadm-mesh` as it is (`node start --dir ...`, `ca list-nodes --dir ...`):
#   the Kubernetes manifests give the command line that way.
# Passphrases come from files (compose secrets, mode 0600, owned by uid 1000); the shared volume
# carries only public things (root.pem, multiaddrs) and the one enrollment token.
set -eu

STATE=${DADM_STATE:-/var/lib/dadm-mesh}
SHARED=${DADM_SHARED:-/shared}
PASS=${DADM_PASSPHRASE_FILE:-/run/secrets/passphrase}
CA_URL=${DADM_CA_URL:-https://ca:8443}
METRICS=${DADM_METRICS:-0.0.0.0:9464}
NODE_ID=${DADM_NODE_ID:-$(hostname)}
WAIT_S=${DADM_WAIT_SECONDS:-180}
CADIR=$STATE/ca
NODEDIR=$STATE/node

# Waits (bounded) for a file another container or process writes.
wait_for () {
  i=0
  while [ ! -s "$1" ]; do
    i=$((i + 1))
    if [ "$i" -gt "$WAIT_S" ]; then echo "entrypoint: $1 did not appear within ${WAIT_S}s" >&2; exit 1; fi
    sleep 1
  done
}

# The peer_id in a node directory's node.json.
peer_of () {
  node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).peer_id)' "$1/node.json"
}

# Writes a file on the shared volume whole (readers never see half of it).
publish () {
  printf '%s\n' "$2" > "$SHARED/$1.tmp"
  mv "$SHARED/$1.tmp" "$SHARED/$1"
}

enroll () {
  if [ ! -f "$NODEDIR/node.json" ]; then
    wait_for "$SHARED/root.pem"
    wait_for "$SHARED/enroll.token"
    dadm-mesh node enroll --dir "$NODEDIR" --ca-url "$CA_URL" --ca-cert "$SHARED/root.pem" \
      --token-file "$SHARED/enroll.token" --node-id "$NODE_ID" --key-store software --passphrase-file "$PASS"
  fi
}

role=${1:-help}
case "$role" in
  compose-ca)
    if [ ! -f "$CADIR/ca.json" ]; then
      dadm-mesh ca init --dir "$CADIR" --passphrase-file "$PASS"
      # One token for the compose file's nodes; more with `docker compose exec ca dadm-mesh ca token ...`.
      umask 077
      dadm-mesh ca token --dir "$CADIR" --uses "${DADM_TOKEN_USES:-4}" --ttl "${DADM_TOKEN_TTL:-1h}" --passphrase-file "$PASS" > "$SHARED/enroll.token.tmp"
      mv "$SHARED/enroll.token.tmp" "$SHARED/enroll.token"
      umask 022
      cp "$CADIR/root.pem" "$SHARED/root.pem"
    fi
    # The CA's mesh node enrolls itself when the service starts; once it has, the nodes dial it too,
    # so the service's pushes (revocations, notices) reach them at once.
    ( wait_for "$CADIR/mesh-node/node.json" && publish ca-mesh.txt "/dns4/$NODE_ID/udp/4002/quic-v1/p2p/$(peer_of "$CADIR/mesh-node")" ) &
    exec dadm-mesh ca serve --dir "$CADIR" --listen 0.0.0.0:8443 --server-name "$NODE_ID" \
      --mesh-listen /ip4/0.0.0.0/udp/4002/quic-v1 --passphrase-file "$PASS" --metrics "$METRICS"
    ;;
  compose-bootstrap)
    enroll
    publish bootstrap.txt "/dns4/$NODE_ID/udp/4001/quic-v1/p2p/$(peer_of "$NODEDIR")"
    wait_for "$SHARED/ca-mesh.txt"
    exec dadm-mesh bootstrap-server --dir "$NODEDIR" --listen /ip4/0.0.0.0/udp/4001/quic-v1 --listen /ip4/0.0.0.0/tcp/4001 \
      --bootstrap-file "$SHARED/ca-mesh.txt" --passphrase-file "$PASS" --metrics "$METRICS"
    ;;
  compose-node)
    enroll
    wait_for "$SHARED/bootstrap.txt"
    wait_for "$SHARED/ca-mesh.txt"
    cat "$SHARED/bootstrap.txt" "$SHARED/ca-mesh.txt" > "$STATE/bootstrap.txt"
    exec dadm-mesh node start --dir "$NODEDIR" --listen /ip4/0.0.0.0/udp/4001/quic-v1 --bootstrap-file "$STATE/bootstrap.txt" \
      --no-mdns --api 127.0.0.1:7443 --passphrase-file "$PASS" --metrics "$METRICS"
    ;;
  *)
    exec dadm-mesh "$@"
    ;;
esac
