package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

// Checked is one resource of a known CRD, and what is wrong with it.
type Checked struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	CRD    string   `json:"crd"`
	Rules  int      `json:"rules"`
	Errors []string `json:"errors"`
}

type crdVersion struct {
	schema map[string]any
	crd    string
}

// validateCRDs checks each resource whose group, version and kind a CRD in dir defines, the
// way the API server admits it: defaults applied, then the OpenAPI schema (unknown fields
// rejected, as with kubectl's strict field validation), then every x-kubernetes-validations
// rule that applies on creation (those naming oldSelf are transition rules).
func validateCRDs(dir, manifests string) ([]Checked, error) {
	schemas := map[string]crdVersion{}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, file := range files {
		docs, err := documents(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		for _, doc := range docs {
			if doc["kind"] != "CustomResourceDefinition" {
				continue
			}
			crdSpec := doc["spec"].(map[string]any)
			group := crdSpec["group"].(string)
			kind := crdSpec["names"].(map[string]any)["kind"].(string)
			for _, v := range crdSpec["versions"].([]any) {
				version := v.(map[string]any)
				if served, _ := version["served"].(bool); !served {
					continue
				}
				schema := version["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)
				key := group + "/" + version["name"].(string) + "/" + kind
				schemas[key] = crdVersion{schema: schema, crd: filepath.Base(file)}
			}
		}
	}
	docs, err := documents(manifests)
	if err != nil {
		return nil, err
	}
	result := []Checked{}
	for _, doc := range docs {
		apiVersion, _ := doc["apiVersion"].(string)
		kind, _ := doc["kind"].(string)
		found, ok := schemas[apiVersion+"/"+kind]
		if !ok {
			continue
		}
		name, _ := doc["metadata"].(map[string]any)["name"].(string)
		checked := Checked{Kind: kind, Name: name, CRD: found.crd, Errors: []string{}}
		object := typed(found.schema, doc)
		applyDefaults(found.schema, object)
		checked.Errors = append(checked.Errors, openAPIErrors(found.schema, object)...)
		rules, errs := celErrors(found.schema, object, "")
		checked.Rules = rules
		checked.Errors = append(checked.Errors, errs...)
		result = append(result, checked)
	}
	return result, nil
}

// typed converts JSON numbers to int64 where the schema says integer, as the API server's
// decoding does (CEL compares int with int only).
func typed(schema map[string]any, value any) any {
	switch v := value.(type) {
	case map[string]any:
		properties, _ := schema["properties"].(map[string]any)
		additional, _ := schema["additionalProperties"].(map[string]any)
		for key, item := range v {
			if sub, ok := properties[key].(map[string]any); ok {
				v[key] = typed(sub, item)
			} else if additional != nil {
				v[key] = typed(additional, item)
			}
		}
		return v
	case []any:
		items, _ := schema["items"].(map[string]any)
		for i, item := range v {
			if items != nil {
				v[i] = typed(items, item)
			}
		}
		return v
	case float64:
		if schema["type"] == "integer" && v == float64(int64(v)) {
			return int64(v)
		}
		return v
	default:
		return v
	}
}

// applyDefaults fills in each absent property that has a default, then defaults inside it,
// as structural defaulting does.
func applyDefaults(schema map[string]any, value any) {
	switch v := value.(type) {
	case map[string]any:
		properties, _ := schema["properties"].(map[string]any)
		for key, s := range properties {
			sub := s.(map[string]any)
			if _, present := v[key]; !present {
				if def, ok := sub["default"]; ok {
					v[key] = typed(sub, deepCopy(def))
				}
			}
			if item, present := v[key]; present {
				applyDefaults(sub, item)
			}
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for _, item := range v {
				applyDefaults(items, item)
			}
		}
	}
}

func deepCopy(value any) any {
	data, _ := json.Marshal(value)
	var out any
	_ = json.Unmarshal(data, &out)
	return out
}

// openAPIErrors validates with kube-openapi's validator, the schema made strict first:
// wherever it lists properties and does not keep unknown fields, others are errors.
func openAPIErrors(schema map[string]any, object any) []string {
	strict := deepCopy(schema).(map[string]any)
	rejectUnknown(strict)
	data, _ := json.Marshal(strict)
	var s spec.Schema
	if err := json.Unmarshal(data, &s); err != nil {
		return []string{"schema: " + err.Error()}
	}
	result := validate.NewSchemaValidator(&s, nil, "", strfmt.Default).Validate(object)
	errs := []string{}
	for _, e := range result.Errors {
		errs = append(errs, e.Error())
	}
	sort.Strings(errs)
	return errs
}

func rejectUnknown(node any) {
	switch n := node.(type) {
	case map[string]any:
		_, hasProperties := n["properties"]
		_, hasAdditional := n["additionalProperties"]
		preserve, _ := n["x-kubernetes-preserve-unknown-fields"].(bool)
		if hasProperties && !hasAdditional && !preserve {
			n["additionalProperties"] = false
		}
		for key, value := range n {
			if key == "default" || key == "enum" || key == "example" {
				continue
			}
			rejectUnknown(value)
		}
	case []any:
		for _, value := range n {
			rejectUnknown(value)
		}
	}
}

var celEnv = func() *cel.Env {
	env, err := cel.NewEnv(cel.Variable("self", cel.DynType), ext.Strings(), ext.Lists(), ext.Sets())
	if err != nil {
		panic(err)
	}
	return env
}()

// celErrors evaluates the rules of every schema node on the value there; the number of rules
// evaluated, and each that did not hold (or could not be evaluated).
func celErrors(schema map[string]any, value any, path string) (int, []string) {
	count := 0
	errs := []string{}
	rules, _ := schema["x-kubernetes-validations"].([]any)
	for _, r := range rules {
		rule := r.(map[string]any)
		expression := rule["rule"].(string)
		if strings.Contains(expression, "oldSelf") {
			continue
		}
		count++
		where := path
		if where == "" {
			where = "<root>"
		}
		ast, issues := celEnv.Compile(expression)
		if issues != nil && issues.Err() != nil {
			errs = append(errs, fmt.Sprintf("%s: rule %q does not compile: %v", where, expression, issues.Err()))
			continue
		}
		program, err := celEnv.Program(ast)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: rule %q: %v", where, expression, err))
			continue
		}
		out, _, err := program.Eval(map[string]any{"self": value})
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: rule %q: %v", where, expression, err))
			continue
		}
		if holds, ok := out.Value().(bool); !ok || !holds {
			message, _ := rule["message"].(string)
			if message == "" {
				message = "failed rule: " + expression
			}
			errs = append(errs, fmt.Sprintf("%s: %s", where, message))
		}
	}
	switch v := value.(type) {
	case map[string]any:
		properties, _ := schema["properties"].(map[string]any)
		additional, _ := schema["additionalProperties"].(map[string]any)
		keys := make([]string, 0, len(v))
		for key := range v {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			sub, ok := properties[key].(map[string]any)
			if !ok {
				sub = additional
			}
			if sub == nil {
				continue
			}
			n, e := celErrors(sub, v[key], path+"."+key)
			count += n
			errs = append(errs, e...)
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, item := range v {
				n, e := celErrors(items, item, fmt.Sprintf("%s[%d]", path, i))
				count += n
				errs = append(errs, e...)
			}
		}
	}
	return count, errs
}
