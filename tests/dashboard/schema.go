package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// exportFields are the top-level fields of a dashboard exported "for sharing
// externally": Grafana reads them on import, the dashboard schema has none.
var exportFields = []string{"__inputs", "__requires", "__elements"}

// schemaProblems checks a dashboard against Grafana's schema: decoded
// strictly (unknown fields, wrong types, missing required fields; panel
// options, field configs and queries by their plugin's schema), then decoded
// again leniently to Validate its values (lengths, ranges).
//
// Validate runs on a second decoding because in grafana-foundation-sdk
// v0.0.22 the strict decoders return an empty cog.BuildErrors (a non-nil
// error) on success, and the panel and query decoders then drop what they
// decoded: Validate on the strict result would skip every panel.
func schemaProblems(raw []byte) []problem {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return []problem{{message: "not a JSON object: " + err.Error()}}
	}
	for _, field := range exportFields {
		delete(fields, field)
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return []problem{{message: err.Error()}}
	}

	var strict dashboard.Dashboard
	problems := fromBuildErrors("", strict.UnmarshalJSONStrict(raw))
	var lenient dashboard.Dashboard
	if err := json.Unmarshal(raw, &lenient); err != nil {
		if len(problems) == 0 {
			problems = append(problems, problem{message: err.Error()})
		}
		return problems
	}
	return append(problems, fromBuildErrors("", lenient.Validate())...)
}

// fromBuildErrors turns what the SDK returned into problems under path.
func fromBuildErrors(path string, err error) []problem {
	if err == nil {
		return nil
	}
	var many cog.BuildErrors
	if errors.As(err, &many) {
		problems := make([]problem, 0, len(many))
		for _, e := range many {
			problems = append(problems, sdkProblem(join(path, e.Path), e.Message))
		}
		return problems
	}
	var one *cog.BuildError
	if errors.As(err, &one) {
		return []problem{sdkProblem(join(path, one.Path), one.Message)}
	}
	return []problem{{path: path, message: err.Error()}}
}

func join(path, field string) string {
	switch {
	case path == "":
		return field
	case field == "":
		return path
	default:
		return path + "." + field
	}
}

var (
	unexpectedField = regexp.MustCompile(`^unexpected field '(.*)'$`)
	wrongType       = regexp.MustCompile(`^json: cannot unmarshal (\w+(?: \S+)?) into Go (?:value|struct field \S+) of type (\S+)$`)
)

// sdkProblem turns the SDK's paths into JSON paths: it drops the names of
// union types (panels[0].Panel.gridPos is panels[0].gridPos) and puts an
// unknown field's name where the SDK names the type that lacks it.
func sdkProblem(path, message string) problem {
	segments := strings.Split(path, ".")
	if m := unexpectedField.FindStringSubmatch(message); m != nil {
		typ := "Dashboard"
		if n := len(segments); isTypeName(segments[n-1]) {
			typ = segments[n-1]
			segments = segments[:n-1]
		}
		segments = append(segments, m[1])
		message = fmt.Sprintf("unknown field: Grafana's schema of %s has no %q", typ, m[1])
	} else if m := wrongType.FindStringSubmatch(message); m != nil {
		message = fmt.Sprintf("wrong type: a JSON %s where Grafana's schema wants %s", m[1], m[2])
	}
	kept := segments[:0]
	for _, s := range segments {
		if s != "Panel" && s != "RowPanel" && s != "" {
			kept = append(kept, s)
		}
	}
	return problem{path: strings.Join(kept, "."), message: message}
}

// isTypeName tells a Go type name (Dashboard, Dataquery) from a JSON field
// name (gridPos, targets[0]), which Grafana's schema starts in lower case.
func isTypeName(segment string) bool {
	return segment != "" && segment[0] >= 'A' && segment[0] <= 'Z'
}
