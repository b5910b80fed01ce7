package client

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// padAlphabet holds what an error page around a key may contain: anything
// but the key's own alphabet (lower-case letters, digits, '_'), so any such
// character in an excerpt can only be a piece of the key.
const padAlphabet = " \t\r\n\x00\x01\x7fABCDEFGHIJKLMNOPQRSTUVWXYZ!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~\xff"

const keyAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// FuzzBodyExcerpt checks that no piece of the API key survives into an error
// excerpt, whatever surrounds the key in the body and wherever the body's
// folded whitespace and the read window cut it.
func FuzzBodyExcerpt(f *testing.F) {
	f.Fuzz(func(t *testing.T, pad []byte, secret []byte, padLen uint16, copies uint8) {
		if len(secret) < 8 || len(secret) > 64 || len(pad) == 0 {
			return
		}
		var key strings.Builder
		key.WriteString("vc_")
		for _, b := range secret {
			key.WriteByte(keyAlphabet[int(b)%len(keyAlphabet)])
		}
		var body strings.Builder
		for i := 0; body.Len() < int(padLen); i++ {
			body.WriteByte(padAlphabet[int(pad[i%len(pad)])%len(padAlphabet)])
		}
		for range 1 + int(copies)%3 {
			body.WriteString(key.String())
			body.WriteByte(padAlphabet[int(pad[0])%len(padAlphabet)])
		}
		got := bodyExcerpt(strings.NewReader(body.String()), key.String())
		if i := strings.IndexAny(got, keyAlphabet+"_"); i >= 0 {
			t.Fatalf("excerpt %q shows a piece of key %q at %d (padding %d bytes)", got, key.String(), i, padLen)
		}
		if len(got) > maxExcerpt || !utf8.ValidString(got) {
			t.Fatalf("excerpt of %d bytes, valid UTF-8 %v: %q", len(got), utf8.ValidString(got), got)
		}
	})
}

// FuzzParseWait checks that no Retry-After or X-RateLimit-Reset value, however
// odd, gives a negative wait, or a wait when it was not understood.
func FuzzParseWait(f *testing.F) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseWait(v, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("parseWait(%q) = %v, %v", v, d, ok)
		}
	})
}
