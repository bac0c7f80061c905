-- Prosody for the docker-compose sketch: one host, TLS required, no
-- in-band registration, STUN/TURN offered to clients (XEP-0215) with
-- short-lived credentials derived from the secret coturn shares.
admins = { }
modules_enabled = {
  "roster"; "saslauth"; "tls"; "disco"; "carbons"; "ping"; "smacks"; "posix";
  "external_services"; "turn_external";
}
c2s_require_encryption = true
allow_unencrypted_plain_auth = false
authentication = "internal_hashed"
allow_registration = false
certificates = "certs"

-- mod_turn_external: the same secret as static-auth-secret in turnserver.conf.
turn_external_host = "turn.example.org"
turn_external_port = 3478
turn_external_secret = "change-this-shared-secret"

VirtualHost "example.org"
