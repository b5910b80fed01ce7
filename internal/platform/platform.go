// Package platform names the video platform of a source URL from a fixed
// table of hosts. The collector uses it for the bounded `source` label; the
// simulator uses it for the truth of jobs a test submits with its own URLs.
package platform

import "strings"

// Other is the platform of every host outside the table.
const Other = "other"

// Names lists every platform, Other last.
var Names = []string{
	"youtube", "tiktok", "instagram", "vimeo", "x", "facebook",
	"twitch", "reddit", "soundcloud", "dailymotion", Other,
}

// byDomain maps registrable domains to platforms. A host matches a domain
// when it equals it or is a subdomain of it, so www., m., music., vm. and
// similar hosts need no entries of their own.
var byDomain = map[string]string{
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

// Of returns the platform of a source URL, or Other.
func Of(rawURL string) string {
	host := urlHost(rawURL)
	for host != "" {
		if p, ok := byDomain[host]; ok {
			return p
		}
		_, rest, ok := strings.Cut(host, ".")
		if !ok {
			break
		}
		host = rest
	}
	return Other
}

// urlHost extracts the lower-cased host of a URL without a full parse: it
// runs for every job seen, and a malformed URL must still classify (as Other).
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
