package server

// ConsoleReadMethodsForTest exposes readMethods to the external tests.
func ConsoleReadMethodsForTest() map[string]bool { return readMethods() }
