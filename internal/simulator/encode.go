package simulator

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/videoconduit/videoconduit_exporter/client"
)

// The API's JSON is written by hand: it is the hot path of every benchmark,
// and the fault modes need to reach into the bytes anyway.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				break
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		i++
	}
	return append(b, '"')
}

// appendTime appends t as an RFC 3339 UTC string, or null when unset.
func (s *Sim) appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	layout := time.RFC3339
	if s.cfg.FractionalSeconds {
		layout = time.RFC3339Nano
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, layout)
	return append(b, '"')
}

func appendOptString(b []byte, v string) []byte {
	if v == "" {
		return append(b, "null"...)
	}
	return appendString(b, v)
}

func appendRaw(b, raw []byte, orElse string) []byte {
	if len(raw) == 0 {
		return append(b, orElse...)
	}
	return append(b, raw...)
}

// unknownJobFields are fields a newer API version might add to each job.
const unknownJobFields = `,"priority":0,"region":"eu-west-1","tags":[],"webhook_url":null,"_meta":{"schema":2,"shard":"b7"}`

// appendJob appends a job as the API shows it: the summary fields of a list
// item, or, with full, every field, optional ones as null when unset.
func (s *Sim) appendJob(b []byte, j *client.Job, full, unknown bool) []byte {
	b = append(b, `{"job_id":`...)
	b = appendString(b, j.ID)
	b = append(b, `,"job_type":`...)
	b = appendString(b, j.Type)
	b = append(b, `,"status":`...)
	b = appendString(b, j.Status)
	b = append(b, `,"source_url":`...)
	b = appendString(b, j.SourceURL)
	if full {
		b = append(b, `,"parameters":`...)
		b = appendRaw(b, j.Parameters, "{}")
	}
	b = append(b, `,"credits_charged":`...)
	b = strconv.AppendInt(b, j.CreditsCharged, 10)
	if full {
		b = append(b, `,"download_url":`...)
		b = appendOptString(b, j.DownloadURL)
		b = append(b, `,"result_data":`...)
		b = appendRaw(b, j.ResultData, "null")
		b = append(b, `,"error_message":`...)
		b = appendOptString(b, j.ErrorMessage)
	}
	b = append(b, `,"created_at":`...)
	b = s.appendTime(b, j.CreatedAt)
	if full {
		b = append(b, `,"completed_at":`...)
		b = s.appendTime(b, j.CompletedAt)
		b = append(b, `,"expires_at":`...)
		b = s.appendTime(b, j.ExpiresAt)
	}
	if unknown {
		b = append(b, unknownJobFields...)
	}
	return append(b, '}')
}

// appendDetail appends the API's error body.
func appendDetail(b []byte, detail string) []byte {
	b = append(b, `{"detail":`...)
	b = appendString(b, detail)
	return append(b, '}')
}
