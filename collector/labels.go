package collector

// otherValue is the label value that unknown or unbounded values fold into.
const otherValue = "other"

// maxExtraLabelValues caps how many undocumented values one label admits:
// an API that starts sending new job types or statuses shows them, one that
// sends garbage cannot blow up the series count.
const maxExtraLabelValues = 10

// boundedLabel passes documented values through, admits undocumented ones
// that look like short identifiers up to a cap, and folds the rest into
// "other". Admitted values stay admitted for the life of the process so a
// series never changes its label value.
type boundedLabel struct {
	documented map[string]bool
	extra      map[string]bool
}

func newBoundedLabel(documented []string) *boundedLabel {
	b := &boundedLabel{documented: map[string]bool{}, extra: map[string]bool{}}
	for _, v := range documented {
		b.documented[v] = true
	}
	return b
}

func (b *boundedLabel) value(v string) string {
	if b.documented[v] || b.extra[v] {
		return v
	}
	if !isShortIdentifier(v) || len(b.extra) >= maxExtraLabelValues {
		return otherValue
	}
	b.extra[v] = true
	return v
}

// isShortIdentifier reports whether v is a lower-case identifier of at most
// 32 characters, as the API's own enum values are.
func isShortIdentifier(v string) bool {
	if len(v) == 0 || len(v) > 32 || v[0] < 'a' || v[0] > 'z' {
		return false
	}
	for i := 1; i < len(v); i++ {
		c := v[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
