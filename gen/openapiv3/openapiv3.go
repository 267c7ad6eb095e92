// Package openapiv3 embeds the OpenAPI 3 document that gnostic's
// protoc-gen-openapi generates from the protos (openapi.yaml, written by
// `make generate`), so the server binary can serve it. This file is
// hand-written; openapi.yaml is generated.
package openapiv3

import _ "embed"

// Document is the OpenAPI 3 description of the REST API, in YAML.
//
//go:embed openapi.yaml
var Document []byte
