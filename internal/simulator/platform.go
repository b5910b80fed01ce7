package simulator

import (
	"strconv"

	"github.com/videoconduit/videoconduit_exporter/internal/platform"
)

// PlatformOther is the platform of URLs on hosts outside the table.
const PlatformOther = platform.Other

// PlatformNames lists every platform the simulator generates URLs for, "other"
// (unknown hosts) last.
var PlatformNames = platform.Names

const (
	alnum     = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	ytAlpha   = alnum + "-_"
	digits    = "0123456789"
	base36    = "abcdefghijklmnopqrstuvwxyz0123456789"
	lowerWord = "abcdefghijklmnopqrstuvwxyz"
	// safeAlpha builds the paths of unknown hosts. Without vowels or the digit
	// 4 it cannot spell a word ("private", "removed", "404") that a failure
	// classifier would read in an "Unsupported URL: …" message.
	safeAlpha = "bcdfghjkmnpqrstvwxz01235678"
)

func user(r *rng) string { return r.str(lowerWord, 3+r.intn(6)) + r.str(digits, r.intn(3)) }

func slug(r *rng) string { return r.str(lowerWord, 4+r.intn(5)) + "_" + r.str(lowerWord, 3+r.intn(6)) }

// platformURLs generate source URLs in the host and path shapes users paste.
var platformURLs = map[string][]func(r *rng) string{
	"youtube": {
		func(r *rng) string { return "https://youtube.com/watch?v=" + r.str(ytAlpha, 11) },
		func(r *rng) string { return "https://www.youtube.com/watch?v=" + r.str(ytAlpha, 11) },
		func(r *rng) string {
			return "https://www.youtube.com/watch?v=" + r.str(ytAlpha, 11) + "&t=" + strconv.Itoa(r.intn(600)) + "s"
		},
		func(r *rng) string { return "https://m.youtube.com/watch?v=" + r.str(ytAlpha, 11) },
		func(r *rng) string { return "https://youtu.be/" + r.str(ytAlpha, 11) },
		func(r *rng) string { return "https://youtube.com/shorts/" + r.str(ytAlpha, 11) },
		func(r *rng) string { return "https://music.youtube.com/watch?v=" + r.str(ytAlpha, 11) },
	},
	"tiktok": {
		func(r *rng) string { return "https://www.tiktok.com/@" + user(r) + "/video/" + r.str(digits, 19) },
		func(r *rng) string { return "https://vm.tiktok.com/" + r.str(alnum, 9) + "/" },
		func(r *rng) string { return "https://m.tiktok.com/v/" + r.str(digits, 19) + ".html" },
	},
	"instagram": {
		func(r *rng) string { return "https://www.instagram.com/reel/" + r.str(ytAlpha, 11) + "/" },
		func(r *rng) string { return "https://www.instagram.com/p/" + r.str(ytAlpha, 11) + "/" },
		func(r *rng) string { return "https://instagram.com/tv/" + r.str(ytAlpha, 11) },
	},
	"vimeo": {
		func(r *rng) string { return "https://vimeo.com/" + r.str(digits, 9) },
		func(r *rng) string { return "https://player.vimeo.com/video/" + r.str(digits, 9) },
	},
	"x": {
		func(r *rng) string { return "https://x.com/" + user(r) + "/status/" + r.str(digits, 19) },
		func(r *rng) string { return "https://twitter.com/" + user(r) + "/status/" + r.str(digits, 19) },
		func(r *rng) string { return "https://mobile.twitter.com/" + user(r) + "/status/" + r.str(digits, 19) },
	},
	"facebook": {
		func(r *rng) string { return "https://fb.watch/" + r.str(alnum, 10) + "/" },
		func(r *rng) string { return "https://www.facebook.com/watch/?v=" + r.str(digits, 15) },
		func(r *rng) string { return "https://www.facebook.com/" + user(r) + "/videos/" + r.str(digits, 15) },
	},
	"twitch": {
		func(r *rng) string { return "https://clips.twitch.tv/" + r.str(alnum, 24) },
		func(r *rng) string { return "https://www.twitch.tv/videos/" + r.str(digits, 10) },
		func(r *rng) string { return "https://m.twitch.tv/" + user(r) + "/clip/" + r.str(alnum, 24) },
	},
	"reddit": {
		func(r *rng) string {
			return "https://www.reddit.com/r/" + user(r) + "/comments/" + r.str(base36, 6) + "/" + slug(r) + "/"
		},
		func(r *rng) string {
			return "https://old.reddit.com/r/" + user(r) + "/comments/" + r.str(base36, 6) + "/" + slug(r) + "/"
		},
		func(r *rng) string { return "https://v.redd.it/" + r.str(base36, 13) },
	},
	"soundcloud": {
		func(r *rng) string { return "https://soundcloud.com/" + user(r) + "/" + slug(r) },
		func(r *rng) string { return "https://on.soundcloud.com/" + r.str(alnum, 8) },
	},
	"dailymotion": {
		func(r *rng) string { return "https://www.dailymotion.com/video/x" + r.str(base36, 7) },
		func(r *rng) string { return "https://dai.ly/x" + r.str(base36, 7) },
	},
	PlatformOther: {
		func(r *rng) string { return "https://videos.example.com/v/" + r.str(safeAlpha, 10) },
		func(r *rng) string { return "https://cdn.example.org/media/" + r.str(safeAlpha, 12) + ".mp4" },
		func(r *rng) string { return "https://www.example.net/watch?id=" + r.str(safeAlpha, 8) },
		func(r *rng) string { return "https://stream.example.io/clip/" + r.str(safeAlpha, 9) },
	},
}

// sourceURL draws a URL of the platform. A configured platform outside the
// table gets URLs on a host of its own name under .example, which the
// exporter counts as "other" while the truth keeps the configured name.
func sourceURL(r *rng, platform string) string {
	gens, ok := platformURLs[platform]
	if !ok {
		return "https://www." + platform + ".example/v/" + r.str(safeAlpha, 10)
	}
	return gens[r.intn(len(gens))](r)
}

// PlatformOf returns the platform of a source URL as the simulator's truth
// records it for Submit: a platform name, or "other" for unknown hosts.
func PlatformOf(sourceURL string) string { return platform.Of(sourceURL) }
