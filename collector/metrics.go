package collector

import "github.com/prometheus/client_golang/prometheus"

const namespace = "videoconduit"

// Label names. Dashboards, alert rules and users' queries select on them:
// renaming one breaks them all.
const (
	labelJobType  = "job_type"
	labelSource   = "source"
	labelStatus   = "status"
	labelReason   = "reason"
	labelEndpoint = "endpoint"
	labelCode     = "code"
)

// fromLastPoll ends the HELP text of every job metric: the values are the
// state of the last successful poll, never read from the API at scrape time.
const fromLastPoll = " As of the last successful poll of the VideoConduit API."

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// Job metrics, served from the snapshot of the last successful poll.
var (
	jobsCreatedDesc = newDesc("jobs_created_total",
		"Jobs this exporter saw for the first time."+fromLastPoll,
		labelJobType, labelSource)
	jobsFinishedDesc = newDesc("jobs_finished_total",
		"Jobs this exporter saw reaching a terminal status (completed, failed), each counted once."+fromLastPoll,
		labelJobType, labelSource, labelStatus)
	jobsActiveDesc = newDesc("jobs_active",
		"Jobs now pending or processing."+fromLastPoll,
		labelJobType, labelStatus)
	oldestActiveAgeDesc = newDesc("jobs_oldest_active_age_seconds",
		"Age of the oldest job now pending or processing, 0 when there is none."+fromLastPoll,
		labelJobType, labelStatus)
	jobDurationDesc = newDesc("job_duration_seconds",
		"Time from created_at to completed_at of finished jobs whose two timestamps are known."+fromLastPoll,
		labelJobType, labelStatus)
	creditsChargedDesc = newDesc("credits_charged_total",
		"Credits deducted for jobs this exporter saw created."+fromLastPoll,
		labelJobType)
	creditsRefundedDesc = newDesc("credits_refunded_total",
		"Credits given back for jobs this exporter saw failing."+fromLastPoll,
		labelJobType)
	jobFailuresDesc = newDesc("job_failures_total",
		"Failed jobs by a bounded classification of their error message."+fromLastPoll,
		labelJobType, labelSource, labelReason)
	jobsVanishedDesc = newDesc("jobs_vanished_total",
		"Tracked active jobs that the API no longer knows (404); no status is guessed for them."+fromLastPoll,
		labelJobType)
	catchupTruncatedDesc = newDesc("catchup_truncated_total",
		"Polls whose catch-up reached the page bound, leaving older new jobs uncounted (after a long outage or downtime)."+fromLastPoll)
)

// Exporter health metrics.
var (
	upDesc = newDesc("up",
		"1 if the last poll of the VideoConduit API succeeded, else 0.")
	lastPollSuccessDesc = newDesc("last_poll_success_timestamp_seconds",
		"Unix time of the last successful poll of the VideoConduit API.")
	pollIntervalDesc = newDesc("poll_interval_seconds",
		"Configured time between polls of the VideoConduit API, for alerts on stale polls.")
)

// MetricNames returns the name of every metric family the collector exposes,
// so that documentation, dashboards and alert tests can be checked against
// the code instead of against a hand-kept list.
func MetricNames() []string {
	return []string{
		"videoconduit_jobs_created_total",
		"videoconduit_jobs_finished_total",
		"videoconduit_jobs_active",
		"videoconduit_jobs_oldest_active_age_seconds",
		"videoconduit_job_duration_seconds",
		"videoconduit_credits_charged_total",
		"videoconduit_credits_refunded_total",
		"videoconduit_job_failures_total",
		"videoconduit_jobs_vanished_total",
		"videoconduit_catchup_truncated_total",
		"videoconduit_up",
		"videoconduit_last_poll_success_timestamp_seconds",
		"videoconduit_poll_interval_seconds",
		"videoconduit_poll_duration_seconds",
		"videoconduit_api_requests_total",
		"videoconduit_api_request_duration_seconds",
	}
}
