package simulator

import (
	"encoding/json"
	"strconv"
)

// Parameters and results by job type, shaped like what each VideoConduit
// endpoint takes and returns. Types outside the documented six get minimal
// objects. All values are plain ASCII, so no JSON escaping is needed.

var (
	formats   = []string{"mp4", "webm", "mp3", "m4a"}
	qualities = []string{"360p", "720p", "1080p", "best"}
	languages = []string{"auto", "en", "es", "de", "fr", "pt", "ja"}
	subtitles = []string{"srt", "vtt", "txt"}
	targets   = []string{"es", "de", "fr", "en", "it", "pt"}
	titles    = []string{"Live at the Roundhouse", "How to fix a bike chain", "Cat vs cucumber",
		"Weekly news recap", "Tutorial part 3", "Unboxing the new phone", "Lecture 12: Graphs"}
)

func drawParameters(r *rng, jobType string) json.RawMessage {
	var b []byte
	switch jobType {
	case "download":
		b = append(b, `{"format":"`+r.oneOf(formats)+`","quality":"`+r.oneOf(qualities)+`"}`...)
	case "transcribe":
		b = append(b, `{"language":"`+r.oneOf(languages)+`","format":"`+r.oneOf(subtitles)+`"}`...)
	case "translate":
		b = append(b, `{"source_language":"auto","target_language":"`+r.oneOf(targets)+`"}`...)
	case "preview":
		b = append(b, `{"frames":`...)
		b = strconv.AppendInt(b, int64(4+r.intn(13)), 10)
		b = append(b, `,"width":640}`...)
	case "fingerprint":
		b = append(b, `{"algorithm":"chromaprint"}`...)
	case "comments":
		b = append(b, `{"max_comments":`...)
		b = strconv.AppendInt(b, int64(100*(1+r.intn(10))), 10)
		b = append(b, `,"sort":"top"}`...)
	default:
		b = append(b, `{}`...)
	}
	return b
}

// drawResult returns the result_data of a completed job and the file name
// its download_url ends with.
func drawResult(r *rng, jobType string) (json.RawMessage, string) {
	duration := int64(5 + r.intn(3600))
	b := []byte(`{"duration":`)
	b = strconv.AppendInt(b, duration, 10)
	file := "result.json"
	switch jobType {
	case "download":
		b = append(b, `,"title":"`+r.oneOf(titles)+`","filesize":`...)
		b = strconv.AppendInt(b, duration*int64(50_000+r.intn(400_000)), 10)
		file = "video.mp4"
	case "transcribe":
		b = append(b, `,"language":"en","word_count":`...)
		b = strconv.AppendInt(b, duration*int64(1+r.intn(3)), 10)
		file = "transcript.srt"
	case "translate":
		b = append(b, `,"target_language":"`+r.oneOf(targets)+`","characters":`...)
		b = strconv.AppendInt(b, duration*int64(5+r.intn(15)), 10)
		file = "translation.txt"
	case "preview":
		b = append(b, `,"frames":8,"width":640,"height":360`...)
		file = "preview.jpg"
	case "fingerprint":
		b = append(b, `,"fingerprint":"`+r.str("0123456789abcdef", 32)+`"`...)
	case "comments":
		b = append(b, `,"comment_count":`...)
		b = strconv.AppendInt(b, int64(r.intn(20_000)), 10)
		file = "comments.json"
	}
	return append(b, '}'), file
}
