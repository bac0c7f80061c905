-- Prosody for the compose sketch: one host, TLS required, no registration.
admins = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "carbons"; "ping"; "smacks"; "posix" }
c2s_require_encryption = true
authentication = "internal_hashed"
allow_registration = false
VirtualHost "example.org"
