// Package e2e runs the exporter binary as its users do. All its tests start
// processes through one harness (process_test.go): each child in a process
// group of its own, ended when the tests end, also when they fail; under
// -race the exporter is built with the race detector, and a data race in it
// fails the test that ran it. Everything listens on 127.0.0.1.
//
// The end-to-end tests run the exporter on its demo, scraped by a real
// Prometheus that loads the shipped rules and notifies a real Alertmanager
// configured from examples/, whose notifications reach a webhook of the
// tests'. They share one such stack, started by the first test that needs
// it; each can still run alone:
//
//	go test -run TestEndToEndFailureSpikePagesAPerson ./e2e/
//
// The robust tests (TestRobust*) run an exporter each against a simulated
// VideoConduit API that the test serves and whose clock it controls: API
// faults, a rejected and a rotated key, SIGKILL and restarts with a state
// file, secrets in the API's answers, TLS with basic auth, scrape load.
package e2e
