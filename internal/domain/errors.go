package domain

// AWSError is a failed Secrets Manager call as the layers above the AWS
// adapter see it: classified, with its message already redacted, so it may
// be shown to the caller as it is.
type AWSError struct {
	// API and Region say which call failed, and where.
	API, Region string
	// AWSCode is AWS's error code (ResourceNotFoundException), or a
	// description of a transport failure.
	AWSCode string
	// Message is AWS's message, redacted.
	Message string
	// RequestID is AWS's x-amzn-RequestId, when a response arrived.
	RequestID string
	// Code is what the failure means, as a canonical code.
	Code Code
	// Secret, if set, is the secret the call was about, redacted (its
	// account fingerprinted): a NOT_FOUND names it, since AWS's message
	// never does.
	Secret string
}

func (e *AWSError) Error() string {
	return e.API + " in " + e.Region + " failed: " + e.AWSCode + ": " + e.Message
}
