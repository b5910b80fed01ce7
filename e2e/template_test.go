package e2e

import "testing"

// TestRenderedPattern checks the helper that matches rendered annotations,
// on the shapes the shipped templates use.
func TestRenderedPattern(t *testing.T) {
	labels := map[string]string{"job_type": "download"}
	const tmpl = "{{ $value | humanizePercentage }} of {{ $labels.job_type }} jobs failed.\n" +
		"{{- range printf `q{job_type=%q}` $labels.job_type | query }} Top reason: {{ .Labels.reason }}.{{ end }}"
	re, err := renderedPattern(tmpl, labels)
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string]bool{
		"20% of download jobs failed.":                        true,
		"20% of download jobs failed. Top reason: timeout.":   true,
		"20% of download jobs failed.\n Top reason: timeout.": false, // {{- trims the newline before it
		"20% of download jobs failed. Top reason: .":          false, // an action renders some text
		"20% of preview jobs failed.":                         false,
		"of download jobs failed.":                            false,
	} {
		if got := re.MatchString(text); got != want {
			t.Errorf("%s matches %q: %v, want %v", re, text, got, want)
		}
	}
	for _, bad := range []string{"a {{ end }}", "{{ if .x }} a"} {
		if _, err := renderedPattern(bad, labels); err == nil {
			t.Errorf("renderedPattern(%q) accepted an unbalanced block", bad)
		}
	}
}
