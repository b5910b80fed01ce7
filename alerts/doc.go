// Package alerts holds the Prometheus recording and alerting rules for the
// VideoConduit exporter, their runbook and their promtool unit tests. Its Go
// API is only the YAML shape of a rule file, shared by the checks that read
// rules; its test checks the rules with the real promtool, checks their
// conventions, and replays simulated days through them (BACKTEST.md).
package alerts
