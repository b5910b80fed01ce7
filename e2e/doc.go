// Package e2e holds the end-to-end tests: the exporter binary on its demo,
// scraped by a real Prometheus that loads the shipped rules and notifies a
// real Alertmanager configured from examples/, whose notifications reach a
// webhook of the tests'. Everything listens on 127.0.0.1 and is stopped when
// the tests end, also when they fail.
//
// The tests share one such stack, started by the first test that needs it;
// each can still run alone:
//
//	go test -run TestEndToEndFailureSpikePagesAPerson ./e2e/
package e2e
