package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// promResponse is the envelope of every Prometheus HTTP API answer.
type promResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

// promAPI calls a Prometheus API endpoint (e.g. "/api/v1/rules") and decodes
// its data into v.
func (s *stack) promAPI(path string, params url.Values, v any) error {
	u := s.promURL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	var env promResponse
	if err := getJSON(u, &env); err != nil {
		return err
	}
	if env.Status != "success" {
		return fmt.Errorf("GET %s: %s: %s", u, env.ErrorType, env.Error)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return fmt.Errorf("decoding the data of GET %s: %w", u, err)
	}
	return nil
}

// sample is one element of an instant query's result.
type sample struct {
	Metric map[string]string
	Value  string // as Prometheus formats it: "NaN", "+Inf", "0.25"
}

// query runs an instant query now.
func (s *stack) query(expr string) ([]sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := s.promAPI("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector":
		var raw []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &raw); err != nil {
			return nil, fmt.Errorf("decoding the vector of %q: %w", expr, err)
		}
		out := make([]sample, len(raw))
		for i, r := range raw {
			out[i] = sample{Metric: r.Metric, Value: fmt.Sprint(r.Value[1])}
		}
		return out, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, fmt.Errorf("decoding the scalar of %q: %w", expr, err)
		}
		return []sample{{Value: fmt.Sprint(v[1])}}, nil
	}
	return nil, fmt.Errorf("query %q returned a %s, not an instant vector or scalar", expr, data.ResultType)
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading GET %s: %w", u, err)
	}
	// Prometheus answers 4xx and 5xx with the JSON envelope and its error.
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %s: decoding %q: %w", u, resp.Status, body, err)
	}
	return nil
}

// pollEvery is the pause between two looks at a stack that is expected to
// change within seconds.
const pollEvery = 500 * time.Millisecond

// eventually calls check until it returns nil; at the deadline it fails the
// test with check's last error.
func eventually(t *testing.T, deadline time.Time, what string, check func() error) {
	t.Helper()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so at the deadline: %v", what, err)
		}
		<-tick.C
	}
}
