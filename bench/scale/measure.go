package main

import (
	"bufio"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Counters are the API server's counters this bench reads, by label set.
type Counters struct {
	// Requests counts apiserver_request_total by verb (the verb of the
	// counter: WATCH, LIST, GET, POST, PUT, PATCH, DELETE) for the
	// resources named.
	Requests map[string]float64
	// WatchEvents counts apiserver_watch_events_total of nodebackups.
	WatchEvents float64
}

// parseMetrics reads the counters from the API server's /metrics text,
// counting only requests for the resources wanted.
func parseMetrics(r io.Reader, resources map[string]bool) (Counters, error) {
	c := Counters{Requests: map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, labels, value, ok := splitSample(line)
		if !ok {
			continue
		}
		switch name {
		case "apiserver_request_total":
			if resources[labels["resource"]] && labels["subresource"] != "log" {
				c.Requests[labels["verb"]] += value
			}
		case "apiserver_watch_events_total":
			if labels["resource"] == "nodebackups" {
				c.WatchEvents += value
			}
		}
	}
	return c, sc.Err()
}

// splitSample splits `name{a="x",b="y"} 12` into its parts.
func splitSample(line string) (string, map[string]string, float64, bool) {
	if line == "" || line[0] == '#' {
		return "", nil, 0, false
	}
	open := strings.IndexByte(line, '{')
	end := strings.LastIndexByte(line, '}')
	if open < 0 || end < open {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
	if err != nil {
		return "", nil, 0, false
	}
	labels := map[string]string{}
	for _, kv := range strings.Split(line[open+1:end], ",") {
		k, val, ok := strings.Cut(kv, "=")
		if ok {
			labels[k] = strings.Trim(val, `"`)
		}
	}
	return line[:open], labels, v, true
}

// delta is after minus before.
func delta(before, after Counters) Counters {
	d := Counters{Requests: map[string]float64{}, WatchEvents: after.WatchEvents - before.WatchEvents}
	for k, v := range after.Requests {
		if n := v - before.Requests[k]; n != 0 {
			d.Requests[k] = n
		}
	}
	return d
}

// writes are the mutating requests.
func (c Counters) writes() float64 {
	return c.Requests["POST"] + c.Requests["PUT"] + c.Requests["PATCH"] + c.Requests["DELETE"]
}

// perPod is "VERB n.nn" for each verb, per pod, in a fixed order.
func (c Counters) perPod(pods int) string {
	verbs := make([]string, 0, len(c.Requests))
	for v := range c.Requests {
		verbs = append(verbs, v)
	}
	sort.Strings(verbs)
	var parts []string
	for _, v := range verbs {
		parts = append(parts, v+" "+strconv.FormatFloat(c.Requests[v]/float64(pods), 'f', 2, 64))
	}
	return strings.Join(parts, ", ")
}

// median and maximum of ds (zero when empty).
func medianMax(ds []time.Duration) (time.Duration, time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)-1]
}
