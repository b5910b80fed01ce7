package collector

import (
	"fmt"
	"testing"
)

func TestBoundedLabel(t *testing.T) {
	b := newBoundedLabel([]string{"download", "transcribe"})
	if got := b.value("download"); got != "download" {
		t.Errorf("documented value = %q", got)
	}
	for _, bad := range []string{"", "Dub", "dub-video", "9dub", "https://x", "a_value_that_is_far_too_long_for_a_label"} {
		if got := b.value(bad); got != "other" {
			t.Errorf("value(%q) = %q, want other", bad, got)
		}
	}
	for i := range maxExtraLabelValues {
		v := fmt.Sprintf("new_type_%d", i)
		if got := b.value(v); got != v {
			t.Fatalf("value(%q) = %q: an identifier under the cap passes through", v, got)
		}
	}
	if got := b.value("one_too_many"); got != "other" {
		t.Errorf("value past the cap = %q, want other", got)
	}
	if got := b.value("new_type_0"); got != "new_type_0" {
		t.Errorf("an admitted value must stay admitted, got %q", got)
	}
	if got := b.value("transcribe"); got != "transcribe" {
		t.Errorf("documented values pass past the cap, got %q", got)
	}
}
