// Package openapiv2 embeds the OpenAPI v2 document that protoc-gen-openapiv2
// generates from the protos (replicad.swagger.json, written by `make
// generate`), so the server binary can serve it. This file is the only
// hand-written one under gen/.
package openapiv2

import _ "embed"

// Document is the OpenAPI v2 (Swagger) description of the REST API.
//
//go:embed replicad.swagger.json
var Document []byte
