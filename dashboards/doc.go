// Package dashboards holds the Grafana dashboards of videoconduit_exporter as
// importable JSON files, with example provisioning files, and a linter written
// as tests that keeps them in line with the exporter's metrics and Grafana's
// conventions. Queries gives other tests every PromQL query of the dashboards,
// ready to run against a Prometheus that scrapes the exporter.
package dashboards
