// Package deploy holds no code: only tests of the deployment files beside
// it (the Dockerfile, the Kubernetes manifests under kubernetes/ and the IAM
// policy under iam/). They run offline with the rest of the tests, decoding
// the manifests into the Kubernetes API types, loading the configuration
// and the authorization policy with the daemon's own parsers, and checking
// the IAM policy against the AWS calls the awssm package makes, so that the
// files cannot drift from the code they deploy.
package deploy
