package collector

import "math"

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

// labelTable numbers label values, so that a tracked job holds a byte for
// each of its labels instead of a string. Every value it is given has been
// through a bound (a boundedLabel, the platform table), so it stays small;
// were it ever full, a new value would fold into "other", as a bound does.
type labelTable struct {
	values []string
	index  map[string]uint8
}

func newLabelTable() *labelTable {
	t := &labelTable{index: map[string]uint8{}}
	t.id(otherValue)
	return t
}

func (t *labelTable) id(v string) uint8 {
	if i, ok := t.index[v]; ok {
		return i
	}
	if len(t.values) > math.MaxUint8 {
		return t.index[otherValue]
	}
	i := uint8(len(t.values))
	t.values = append(t.values, v)
	t.index[v] = i
	return i
}

func (t *labelTable) value(i uint8) string { return t.values[i] }
