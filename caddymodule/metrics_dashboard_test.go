package caddymodule

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// dashboardPath is the Grafana dashboard the README points to.
const dashboardPath = "../docs/grafana/authgate-dashboard.json"

// describingRegisterer records the names of the metrics registered on it.
type describingRegisterer struct {
	prometheus.Registerer
	names map[string]bool
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *describingRegisterer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}

// dashboardPanel is the part of a Grafana panel the test reads.
type dashboardPanel struct {
	ID      int              `json:"id"`
	Type    string           `json:"type"`
	Title   string           `json:"title"`
	Panels  []dashboardPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// TestDashboardMetrics: every authgate_ metric the dashboard queries is
// one the code exposes (a histogram's by its _bucket, _count or _sum
// series), every panel but a row has a query, and the dashboard uses
// every metric.
func TestDashboardMetrics(t *testing.T) {
	reg := &describingRegisterer{names: map[string]bool{}}
	if _, err := newMetrics(reg, nil, metricsSources{keyAge: func() float64 { return 0 }, cacheEntries: func() (int, int) { return 0, 0 }}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	used := map[string]bool{}
	ids := map[int]bool{}
	metricName := regexp.MustCompile(`\bauthgate_[a-z_]+`)
	var walk func([]dashboardPanel)
	walk = func(panels []dashboardPanel) {
		for _, p := range panels {
			if ids[p.ID] {
				t.Errorf("panel id %d is used twice", p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, target := range p.Targets {
				for _, name := range metricName.FindAllString(target.Expr, -1) {
					base := name
					for _, suffix := range []string{"_bucket", "_count", "_sum"} {
						if b, ok := strings.CutSuffix(name, suffix); ok && reg.names[b] {
							base = b
						}
					}
					if !reg.names[base] {
						t.Errorf("panel %q queries %s, which authgate does not expose", p.Title, name)
					}
					used[base] = true
				}
			}
		}
	}
	walk(dash.Panels)
	for name := range reg.names {
		if !used[name] {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
}
