package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeKeys(t *testing.T, keys map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, key := range keys {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestReadKeys: one account per key file, in name order; a key file
// alone gives one account, no flag any key.
func TestReadKeys(t *testing.T) {
	dir := writeKeys(t, map[string]string{"acct-02": "key-b", "acct-01": "key-a"})
	got, err := readKeys("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"key-a", "key-b"}; !slices.Equal(got, want) {
		t.Errorf("readKeys(dir) = %q, want %q", got, want)
	}
	got, err = readKeys(filepath.Join(dir, "acct-02"), "")
	if err != nil || !slices.Equal(got, []string{"key-b"}) {
		t.Errorf("readKeys(file) = %q, %v; want [key-b]", got, err)
	}
	got, err = readKeys("", "")
	if err != nil || !slices.Equal(got, []string{""}) {
		t.Errorf(`readKeys("", "") = %q, %v; want [""] (any key)`, got, err)
	}
}

func TestReadKeysRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		file string
		dir  string
		want string
	}{
		"both flags":   {file: "k", dir: writeKeys(t, map[string]string{"a": "k"}), want: "not both"},
		"a key twice":  {dir: writeKeys(t, map[string]string{"a": "k", "b": "k"}), want: "a key of its own"},
		"an empty key": {dir: writeKeys(t, map[string]string{"a": ""}), want: "a key of its own"},
		"no key file":  {dir: t.TempDir(), want: "no key file"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := readKeys(tc.file, tc.dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("readKeys = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
