package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

type object = map[string]any

// builtInDataSources are the uids of the data sources every Grafana has.
var builtInDataSources = map[string]bool{
	"-- Grafana --":   true,
	"grafana":         true,
	"-- Mixed --":     true,
	"-- Dashboard --": true,
}

// variableReference matches a whole uid that is one template variable:
// $name, ${name}, ${name:format}, [[name]] or [[name:format]].
var variableReference = regexp.MustCompile(`^(?:\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\])$`)

// panelChecker checks what Grafana's schema leaves open: that panels are of a
// type Grafana ships, and that every data source reference goes through a
// data source the dashboard declares (a data source variable or, in an
// exported dashboard, an __inputs entry) rather than the uid one Grafana
// instance gave its data source.
type panelChecker struct {
	// dataSources maps the declared data sources' names to their plugin
	// type ("" when the variable accepts any).
	dataSources map[string]string
	// variables maps every other template variable's name to its type.
	variables map[string]string
	problems  []problem
}

func panelProblems(raw []byte) []problem {
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	var doc object
	if err := decoder.Decode(&doc); err != nil {
		return nil // the schema check reports it
	}
	c := panelChecker{dataSources: map[string]string{}, variables: map[string]string{}}
	for _, input := range objects(doc["__inputs"]) {
		if input["type"] == "datasource" {
			c.dataSources[str(input["name"])] = str(input["pluginId"])
		}
	}
	variables := objects(asObject(doc["templating"])["list"])
	for _, variable := range variables {
		if variable["type"] == "datasource" {
			c.dataSources[str(variable["name"])] = str(variable["query"])
		} else {
			c.variables[str(variable["name"])] = str(variable["type"])
		}
	}

	for i, variable := range variables {
		if ds, ok := variable["datasource"]; ok && ds != nil {
			c.reference(fmt.Sprintf("templating.list[%d].datasource", i), ds)
		}
	}
	for i, annotation := range objects(asObject(doc["annotations"])["list"]) {
		if ds, ok := annotation["datasource"]; ok && ds != nil {
			c.reference(fmt.Sprintf("annotations.list[%d].datasource", i), ds)
		}
	}
	for i, panel := range objects(doc["panels"]) {
		c.panel(fmt.Sprintf("panels[%d]", i), panel)
	}
	return c.problems
}

func (c *panelChecker) add(path, format string, args ...any) {
	c.problems = append(c.problems, problem{path: path, message: fmt.Sprintf(format, args...)})
}

func (c *panelChecker) panel(path string, panel object) {
	if typ, ok := panel["type"].(string); ok && typ != "" && typ != "row" {
		if _, known := cog.ConfigForPanelcfgVariant(typ); !known {
			c.add(path+".type", "%q is not a panel type Grafana ships (its schema has no such panel plugin)", typ)
		}
	}
	// The SDK decodes fieldConfig leniently (only defaults.custom strictly,
	// by the panel plugin's schema): check the rest strictly here.
	if fieldConfig, ok := panel["fieldConfig"]; ok && fieldConfig != nil {
		var source dashboard.FieldConfigSource
		c.problems = append(c.problems, fromBuildErrors(path+".fieldConfig", source.UnmarshalJSONStrict(marshal(fieldConfig)))...)
	}

	targets := objects(panel["targets"])
	panelType, panelUID := "", ""
	if ds, ok := panel["datasource"]; ok && ds != nil {
		panelType = c.reference(path+".datasource", ds)
		panelUID = str(asObject(ds)["uid"])
	} else if len(targets) > 0 {
		c.add(path+".datasource", "missing: the panel has queries, and without a data source Grafana runs them on the instance's default one; refer to %s", c.declared())
	}
	for i, target := range targets {
		c.target(fmt.Sprintf("%s.targets[%d]", path, i), target, panelType, panelUID)
	}
	for i, nested := range objects(panel["panels"]) {
		c.panel(fmt.Sprintf("%s.panels[%d]", path, i), nested)
	}
}

func (c *panelChecker) target(path string, target object, panelType, panelUID string) {
	queryType := panelType
	typed := false // whether the query names its data source type itself
	if ds, ok := target["datasource"]; ok && ds != nil {
		queryType = c.reference(path+".datasource", ds)
		typed = str(asObject(ds)["type"]) != ""
		if uid := str(asObject(ds)["uid"]); panelUID != "" && panelUID != "-- Mixed --" && uid != panelUID {
			c.add(path+".datasource.uid", "%q, but its panel's data source is %q: Grafana runs a panel's queries on the panel's data source unless the panel is Mixed", uid, panelUID)
		}
	}
	if queryType == "" {
		c.add(path, "no data source type: neither the query nor its panel says which data source runs it, so it cannot be checked")
		return
	}
	body := marshal(target)
	query, err := cog.StrictUnmarshalDataquery(body, queryType)
	if _, unknown := query.(variants.UnknownDataquery); unknown {
		c.add(path, "Grafana's schema has no %q queries, so this query cannot be checked", queryType)
		return
	}
	if typed {
		return // the schema check decoded it by its own type already
	}
	// The SDK's panel decoder finds a query's schema by the query's own
	// data source type only: check this one by its panel's.
	c.problems = append(c.problems, fromBuildErrors(path, err)...)
	if query, err := cog.UnmarshalDataquery(body, queryType); err == nil {
		c.problems = append(c.problems, fromBuildErrors(path, query.Validate())...)
	}
}

// reference checks a data source reference and returns the plugin type of
// the data source it refers to ("" when unknown).
func (c *panelChecker) reference(path string, value any) string {
	ref, ok := value.(object)
	if !ok {
		return "" // the schema check reports a reference that is not an object
	}
	typ := str(ref["type"])
	uid := str(ref["uid"])
	if uid == "" {
		c.add(path+".uid", "missing: refer to %s", c.declared())
		return typ
	}
	if builtInDataSources[uid] {
		return typ
	}
	m := variableReference.FindStringSubmatch(uid)
	if m == nil {
		c.add(path+".uid", "%q is not a data source the dashboard declares (a uid names a data source of one Grafana instance only): refer to %s", uid, c.declared())
		return typ
	}
	name := m[1] + m[2] + m[3]
	declaredType, declared := c.dataSources[name]
	switch {
	case declared && typ != "" && declaredType != "" && typ != declaredType:
		c.add(path+".type", "%q, but data source variable %q holds %q data sources", typ, name, declaredType)
	case declared:
		if typ == "" {
			typ = declaredType
		}
	case c.variables[name] != "":
		c.add(path+".uid", "%q refers to variable %q, a %s variable, not a data source: refer to %s", uid, name, c.variables[name], c.declared())
	default:
		c.add(path+".uid", "%q refers to variable %q, which the dashboard does not declare: refer to %s", uid, name, c.declared())
	}
	return typ
}

// declared names the data sources a reference may use, for messages.
func (c *panelChecker) declared() string {
	if len(c.dataSources) == 0 {
		return "a data source variable (a templating.list entry of type \"datasource\"); the dashboard has none"
	}
	names := make([]string, 0, len(c.dataSources))
	for name := range c.dataSources {
		names = append(names, "${"+name+"}")
	}
	sort.Strings(names)
	return strings.Join(names, " or ")
}

func asObject(value any) object {
	o, _ := value.(object)
	return o
}

func objects(value any) []object {
	list, _ := value.([]any)
	out := make([]object, 0, len(list))
	for _, item := range list {
		if o, ok := item.(object); ok {
			out = append(out, o)
		}
	}
	return out
}

func str(value any) string {
	s, _ := value.(string)
	return s
}

func marshal(value any) []byte {
	raw, err := json.Marshal(value)
	if err != nil {
		panic(err) // values decoded from JSON always encode
	}
	return raw
}
