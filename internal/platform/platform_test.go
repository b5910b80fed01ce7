package platform

import "testing"

func TestOf(t *testing.T) {
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
		if got := Of(url); got != want {
			t.Errorf("Of(%q) = %q, want %q", url, got, want)
		}
	}
}

func FuzzOf(f *testing.F) {
	for _, s := range []string{"https://youtube.com/watch?v=x", "https://a@b:c@youtu.be:99/", "://", "[::1]", "https://x.com:/"} {
		f.Add(s)
	}
	valid := map[string]bool{}
	for _, p := range Names {
		valid[p] = true
	}
	f.Fuzz(func(t *testing.T, url string) {
		if p := Of(url); !valid[p] {
			t.Fatalf("Of(%q) = %q, not a platform", url, p)
		}
	})
}
