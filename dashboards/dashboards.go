package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// Query is one PromQL query of a dashboard panel or annotation, with Grafana's
// variables replaced by the values Grafana sends when All is selected.
type Query struct {
	Dashboard string // dashboard title
	Panel     string // panel title, or "annotation: " and the annotation's name
	Expr      string
	// Links are the data links of the panel's table cells.
	Links []DataLink
}

// DataLink is a link that a table cell of the panel opens: Field is the
// column (a label of the query's result) whose cells link, URL is Grafana's
// template, where ${__value.raw} is the cell's value and
// ${__data.fields.NAME} the row's value of column NAME.
type DataLink struct {
	Field, URL string
}

// files are the dashboards, relative to this package's folder.
var files = []string{"videoconduit-jobs.json", "videoconduit-exporter.json"}

// builtinValues replaces Grafana's interval variables. 1m is four scrapes at
// Prometheus' default 15s, the smallest window $__rate_interval would give.
var builtinValues = map[string]string{
	"__rate_interval": "1m",
	"__range":         "5m",
	"__interval":      "15s",
}

// variableRef matches the three syntaxes Grafana accepts for a variable:
// ${name} or ${name:format}, $name, and the deprecated [[name]].
var variableRef = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]`)

// Queries returns every panel target and annotation query of the dashboards,
// with variables replaced: intervals by fixed windows, template variables by
// their All value (every variable is used in regex matchers, where All
// selects every series). A query naming a variable that the dashboard does
// not define is an error.
func Queries() ([]Query, error) {
	all, err := load()
	if err != nil {
		return nil, err
	}
	var out []Query
	for _, d := range all {
		qs, err := d.queries()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.file, err)
		}
		out = append(out, qs...)
	}
	return out, nil
}

// dir is the folder of the dashboard files, found from this source file so
// that tests of any package can read them whatever their working directory.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// dashboard is the part of Grafana's dashboard JSON model that the queries
// and the linter look at.
type dashboard struct {
	file string

	ID          *int          `json:"id"`
	UID         string        `json:"uid"`
	Title       string        `json:"title"`
	Editable    bool          `json:"editable"`
	Inputs      []input       `json:"__inputs"`
	Requires    []requirement `json:"__requires"`
	Links       []link        `json:"links"`
	Panels      []panel       `json:"panels"`
	Annotations struct {
		List []annotation `json:"list"`
	} `json:"annotations"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type input struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	PluginID string `json:"pluginId"`
}

type requirement struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type link struct {
	Type        string `json:"type"`
	URL         string `json:"url"`
	IncludeVars bool   `json:"includeVars"`
	KeepTime    bool   `json:"keepTime"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

type panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  *datasourceRef `json:"datasource"`
	GridPos     gridPos        `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit       string `json:"unit"`
			Thresholds struct {
				Steps []struct {
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
			Custom struct {
				ThresholdsStyle struct {
					Mode string `json:"mode"`
				} `json:"thresholdsStyle"`
			} `json:"custom"`
		} `json:"defaults"`
		Overrides []struct {
			Matcher struct {
				ID string `json:"id"`
				// A name or a pattern for most matchers, an object for some.
				Options json.RawMessage `json:"options"`
			} `json:"matcher"`
			Properties []struct {
				ID    string          `json:"id"`
				Value json.RawMessage `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Targets []target `json:"targets"`
	// Panels holds the panels of a collapsed row.
	Panels []panel `json:"panels"`
}

type target struct {
	RefID    string `json:"refId"`
	Expr     string `json:"expr"`
	Instant  bool   `json:"instant"`
	Exemplar bool   `json:"exemplar"`
}

type annotation struct {
	Name   string `json:"name"`
	Enable bool   `json:"enable"`
	Expr   string `json:"expr"`
}

type variable struct {
	Name       string         `json:"name"`
	Label      string         `json:"label"`
	Type       string         `json:"type"`
	Refresh    int            `json:"refresh"`
	Datasource *datasourceRef `json:"datasource"`
	Definition string         `json:"definition"`
	Query      variableQuery  `json:"query"`
	Multi      bool           `json:"multi"`
	IncludeAll bool           `json:"includeAll"`
	AllValue   string         `json:"allValue"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

// variableQuery is a query variable's query: a plain string for datasource
// variables and older dashboards, an object since Grafana 10.
type variableQuery struct {
	Text string
}

func (q *variableQuery) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &q.Text); err == nil {
		return nil
	}
	var obj struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("variable query is neither a string nor an object: %w", err)
	}
	q.Text = obj.Query
	return nil
}

// load reads and decodes every dashboard file.
func load() ([]*dashboard, error) {
	out := make([]*dashboard, 0, len(files))
	for _, name := range files {
		raw, err := os.ReadFile(filepath.Join(dir(), name))
		if err != nil {
			return nil, fmt.Errorf("reading dashboard: %w", err)
		}
		d, err := decode(name, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func decode(name string, raw []byte) (*dashboard, error) {
	d := &dashboard{file: name}
	if err := json.Unmarshal(raw, d); err != nil {
		return nil, fmt.Errorf("decoding dashboard %s: %w", name, err)
	}
	return d, nil
}

// allPanels returns the dashboard's panels, rows' nested panels included.
func (d *dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func (d *dashboard) variable(name string) (variable, bool) {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v, true
		}
	}
	return variable{}, false
}

// placedQuery is a query with the panel or annotation that holds it.
// Annotation queries fill only Expr.
type placedQuery struct {
	where string
	target
	links []DataLink
}

// dataLinks returns the links the panel sets on columns chosen by name.
func (p panel) dataLinks() ([]DataLink, error) {
	var out []DataLink
	for _, o := range p.FieldConfig.Overrides {
		for _, prop := range o.Properties {
			if prop.ID != "links" {
				continue
			}
			var field string
			if o.Matcher.ID != "byName" || json.Unmarshal(o.Matcher.Options, &field) != nil {
				return nil, fmt.Errorf("panel %q: links on fields matched %s %s, want byName and a name", p.Title, o.Matcher.ID, o.Matcher.Options)
			}
			var links []struct {
				URL string `json:"url"`
			}
			if err := json.Unmarshal(prop.Value, &links); err != nil {
				return nil, fmt.Errorf("panel %q: links: %w", p.Title, err)
			}
			for _, l := range links {
				out = append(out, DataLink{Field: field, URL: l.URL})
			}
		}
	}
	return out, nil
}

// placedQueries returns the dashboard's panel targets and annotation queries
// as written, variables unreplaced.
func (d *dashboard) placedQueries() ([]placedQuery, error) {
	var out []placedQuery
	for _, p := range d.allPanels() {
		links, err := p.dataLinks()
		if err != nil {
			return nil, err
		}
		for _, t := range p.Targets {
			if strings.TrimSpace(t.Expr) == "" {
				return nil, fmt.Errorf("panel %q: target %s has no expr", p.Title, t.RefID)
			}
			out = append(out, placedQuery{where: p.Title, target: t, links: links})
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr == "" {
			continue // Grafana's built-in annotations carry no PromQL
		}
		out = append(out, placedQuery{where: "annotation: " + a.Name, target: target{Expr: a.Expr}})
	}
	return out, nil
}

// queries returns the dashboard's panel and annotation queries with their
// variables replaced.
func (d *dashboard) queries() ([]Query, error) {
	placed, err := d.placedQueries()
	if err != nil {
		return nil, err
	}
	out := make([]Query, 0, len(placed))
	for _, q := range placed {
		expanded, err := d.expand(q.Expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.where, err)
		}
		out = append(out, Query{Dashboard: d.Title, Panel: q.where, Expr: expanded, Links: q.links})
	}
	return out, nil
}

// expand replaces the Grafana variables of expr.
func (d *dashboard) expand(expr string) (string, error) {
	var unknown []string
	out := variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		if v, ok := builtinValues[name]; ok {
			return v
		}
		if v, ok := d.variable(name); ok && v.Type != "datasource" && v.AllValue != "" {
			return v.AllValue
		}
		unknown = append(unknown, ref)
		return ref
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("query %q uses undefined variables, or variables without an All value: %s", expr, strings.Join(unknown, ", "))
	}
	return out, nil
}
