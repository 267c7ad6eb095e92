// Package smtest is the Secrets Manager conformance suite: one table of
// scenarios, each stating what AWS does (per the API reference, the user
// guide, and errors seen from the real service), run through the real SDK
// and through replicad's own adapter (internal/awssm) against any endpoint.
// The stand-in and moto both run it (smtest_test.go), as River's drivers
// all run riverdrivertest: a backend that passes is one the engine can be
// tested against.
//
// Where moto is known to differ from AWS, the check is skipped for moto
// only, with the reason logged; the stand-in always follows AWS, taking the
// stricter reading where AWS does not document its behaviour.
//
// The exported helpers (Clients, Check, WantAPIError, ...) are for other
// tests that drive a Secrets Manager endpoint through the SDK.
package smtest
