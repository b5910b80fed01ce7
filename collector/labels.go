package collector

import "strings"

// otherValue is the label value that unknown or unbounded values fold into.
const otherValue = "other"

// Platforms lists the values of the source label, "other" last. Each comes
// from the host table below; a raw URL never becomes a label value.
var Platforms = []string{
	"youtube", "tiktok", "instagram", "vimeo", "x", "facebook",
	"twitch", "reddit", "soundcloud", "dailymotion", otherValue,
}

// platformByDomain maps registrable domains to platforms. A host matches a
// domain when it equals it or is a subdomain of it, so www., m., music., vm.
// and similar hosts need no entries of their own.
var platformByDomain = map[string]string{
	"youtube.com": "youtube", "youtu.be": "youtube", "youtube-nocookie.com": "youtube",
	"tiktok.com":    "tiktok",
	"instagram.com": "instagram", "instagr.am": "instagram",
	"vimeo.com": "vimeo",
	"x.com":     "x", "twitter.com": "x",
	"facebook.com": "facebook", "fb.watch": "facebook", "fb.com": "facebook",
	"twitch.tv":  "twitch",
	"reddit.com": "reddit", "redd.it": "reddit",
	"soundcloud.com":  "soundcloud",
	"dailymotion.com": "dailymotion", "dai.ly": "dailymotion",
}

// sourcePlatform returns the platform of a source URL, or "other".
func sourcePlatform(rawURL string) string {
	host := urlHost(rawURL)
	for host != "" {
		if p, ok := platformByDomain[host]; ok {
			return p
		}
		dot := strings.IndexByte(host, '.')
		if dot < 0 {
			break
		}
		host = host[dot+1:]
	}
	return otherValue
}

// urlHost extracts the lower-cased host of a URL without a full parse: it
// runs for every job seen, and a malformed URL must still classify (as other).
func urlHost(rawURL string) string {
	s := rawURL
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.Contains(s[i:], "]") {
		s = s[:i]
	}
	return strings.TrimSuffix(strings.ToLower(s), ".")
}

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
