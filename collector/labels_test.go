package collector

import (
	"fmt"
	"testing"
)

func TestSourcePlatform(t *testing.T) {
	for url, want := range map[string]string{
		"https://youtube.com/watch?v=dQw4w9WgXcQ": "youtube",
		"https://www.youtube.com/watch?v=x":       "youtube",
		"https://m.youtube.com/watch?v=x":         "youtube",
		"https://music.youtube.com/watch?v=x":     "youtube",
		"https://youtu.be/dQw4w9WgXcQ":            "youtube",
		"https://www.youtube.com/shorts/abc":      "youtube",
		"HTTPS://WWW.YOUTUBE.COM/watch?v=x":       "youtube",
		"https://user:pw@youtube.com:443/watch":   "youtube",
		"youtube.com/watch?v=x":                   "youtube",
		"https://www.tiktok.com/@a/video/1":       "tiktok",
		"https://vm.tiktok.com/ZM1/":              "tiktok",
		"https://www.instagram.com/reel/x/":       "instagram",
		"https://vimeo.com/123":                   "vimeo",
		"https://player.vimeo.com/video/1":        "vimeo",
		"https://x.com/a/status/1":                "x",
		"https://twitter.com/a/status/1":          "x",
		"https://fb.watch/abc/":                   "facebook",
		"https://www.facebook.com/watch/?v=1":     "facebook",
		"https://clips.twitch.tv/abc":             "twitch",
		"https://old.reddit.com/r/a/comments/b":   "reddit",
		"https://v.redd.it/abc":                   "reddit",
		"https://on.soundcloud.com/abc":           "soundcloud",
		"https://dai.ly/x8":                       "dailymotion",
		"https://www.dailymotion.com/video/x8":    "dailymotion",
		"https://notyoutube.com/watch":            "other",
		"https://youtube.com.evil.example/watch":  "other",
		"https://example.org/video.mp4":           "other",
		"":                                        "other",
		"not a url at all":                        "other",
		"https://[::1]:8080/x":                    "other",
		"https://youtube.com./watch":              "youtube",
	} {
		if got := sourcePlatform(url); got != want {
			t.Errorf("sourcePlatform(%q) = %q, want %q", url, got, want)
		}
	}
}

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

func FuzzSourcePlatform(f *testing.F) {
	for _, s := range []string{"https://youtube.com/watch?v=x", "https://a@b:c@youtu.be:99/", "://", "[::1]", "https://x.com:/"} {
		f.Add(s)
	}
	valid := map[string]bool{}
	for _, p := range Platforms {
		valid[p] = true
	}
	f.Fuzz(func(t *testing.T, url string) {
		if p := sourcePlatform(url); !valid[p] {
			t.Fatalf("sourcePlatform(%q) = %q, not a platform", url, p)
		}
	})
}
