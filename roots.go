package main

// The container image is FROM scratch: no /etc/ssl, so no system roots to
// verify the API's certificate with. These embedded roots are used only
// where the system has none; a mounted bundle named by SSL_CERT_FILE or
// SSL_CERT_DIR still takes their place (for a private CA, say).
import _ "golang.org/x/crypto/x509roots/fallback"
