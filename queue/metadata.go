package queue

import "encoding/json"

// snoozeCount reads River's snooze counter from job metadata.
func snoozeCount(metadata []byte) int {
	var m struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(metadata, &m)
	return m.Snoozes
}
