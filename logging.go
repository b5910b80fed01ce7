package main

import (
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	sloggokit "github.com/tjhop/slog-gokit"
)

// newLogger returns the go-kit logger and the same logger behind slog, for
// exporter-toolkit: one writer, one format, one level, and the same keys in
// the same order on every line.
func newLogger(w io.Writer, lvl, format string) (log.Logger, *slog.Logger) {
	sw := log.NewSyncWriter(w)
	encoder := log.NewLogfmtLogger(sw)
	if format == "json" {
		encoder = log.NewJSONLogger(sw)
	}
	allow, slogLevel := level.AllowInfo(), slog.LevelInfo
	switch lvl {
	case "debug":
		allow, slogLevel = level.AllowDebug(), slog.LevelDebug
	case "warn":
		allow, slogLevel = level.AllowWarn(), slog.LevelWarn
	case "error":
		allow, slogLevel = level.AllowError(), slog.LevelError
	}
	base := level.NewFilter(leadingKeys(encoder), allow)
	// Bound above the level filter, so level.Info and friends merge into this
	// context and the default caller depth points at the logging line.
	logger := log.With(base, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller)
	// The slog bridge adds its own time and caller from the slog record.
	return logger, slog.New(sloggokit.NewGoKitHandler(base, slogLevel))
}

// lineKeys lead every log line, in this order.
var lineKeys = []string{"ts", "caller", "level", "msg"}

// leadingKeys writes lineKeys first on every line, whichever way the line
// was made, so that one stream reads alike throughout: level.Info and
// friends put level before the ts and caller of newLogger's context, and the
// slog bridge that exporter-toolkit logs through gives level, caller, slog's
// time, then msg. That time becomes ts, written as newLogger's ts is.
func leadingKeys(next log.Logger) log.Logger {
	return log.LoggerFunc(func(keyvals ...any) error {
		kvs := slices.Clone(keyvals)
		if len(kvs)%2 == 1 {
			kvs = append(kvs, log.ErrMissingValue)
		}
		for i := 0; i < len(kvs); i += 2 {
			if t, ok := kvs[i+1].(time.Time); ok && kvs[i] == slog.TimeKey {
				kvs[i], kvs[i+1] = "ts", t.UTC().Format(time.RFC3339Nano)
			}
		}
		out := make([]any, 0, len(kvs))
		for _, key := range lineKeys {
			for i := 0; i < len(kvs); i += 2 {
				if kvs[i] == key {
					out = append(out, kvs[i], kvs[i+1])
					kvs = slices.Delete(kvs, i, i+2)
					break
				}
			}
		}
		return next.Log(append(out, kvs...)...)
	})
}
