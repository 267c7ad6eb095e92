package audit

import (
	"encoding/hex"
	"encoding/json"
)

func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
