// Package charts holds the Helm chart of the exporter, videoconduit-exporter.
// The chart's tests live in the module tools/kubernetes, which keeps the
// Kubernetes and Prometheus Operator API types out of the exporter's go.mod;
// this package's test runs them, so that go test ./... covers the chart.
package charts
