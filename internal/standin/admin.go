package standin

import (
	"encoding/json"
	"net/http"
)

// adminPrefix is where the stand-in's own endpoints live. The SDK only ever
// POSTs to "/", so nothing here can collide with an API call.
const adminPrefix = "/_standin/"

// serveAdmin answers:
//
//	GET  /_standin/healthz    {"status":"ok"}
//	GET  /_standin/stats      Stats as JSON
//	GET  /_standin/faults     Faults as JSON
//	POST /_standin/faults     change some faults; answers the new Faults
//	POST /_standin/reset      delete all secrets, clear stats; 204
//	POST /_standin/seed-demo  create the demo secrets; {"arns":[...]}
//	POST /_standin/seed       {"secrets":[SeedSecret...]}: SeedSecrets; {"arns":[...]}
//
// Errors are {"error":"..."} with status 400, 404 or 405.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	type route struct {
		method string
		serve  func(http.ResponseWriter, *http.Request)
	}
	routes := map[string]route{
		adminPrefix + "healthz": {http.MethodGet, func(w http.ResponseWriter, _ *http.Request) {
			writeAdminJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}},
		adminPrefix + "stats": {http.MethodGet, func(w http.ResponseWriter, _ *http.Request) {
			writeAdminJSON(w, http.StatusOK, s.Stats())
		}},
		adminPrefix + "reset": {http.MethodPost, func(w http.ResponseWriter, _ *http.Request) {
			s.Reset()
			s.logger.Info("state and stats reset")
			w.WriteHeader(http.StatusNoContent)
		}},
		adminPrefix + "seed-demo": {http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
			arns, err := s.SeedDemo(r.Context())
			if err != nil {
				writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeAdminJSON(w, http.StatusOK, map[string][]string{"arns": arns})
		}},
		adminPrefix + "seed": {http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				Secrets []SeedSecret `json:"secrets"`
			}
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&body); err != nil {
				writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": "decode seed: " + err.Error()})
				return
			}
			arns, err := s.SeedSecrets(r.Context(), body.Secrets)
			if err != nil {
				writeAdminJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error(), "arns": arns})
				return
			}
			s.logger.Info("secrets seeded", "count", len(arns))
			writeAdminJSON(w, http.StatusOK, map[string][]string{"arns": arns})
		}},
	}
	if r.URL.Path == adminPrefix+"faults" {
		switch r.Method {
		case http.MethodGet:
			writeAdminJSON(w, http.StatusOK, s.Faults())
		case http.MethodPost:
			s.serveFaultsPatch(w, r)
		default:
			writeAdminJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET or POST"})
		}
		return
	}
	rt, ok := routes[r.URL.Path]
	switch {
	case !ok:
		writeAdminJSON(w, http.StatusNotFound, map[string]string{"error": "no such admin endpoint: " + r.URL.Path})
	case r.Method != rt.method:
		writeAdminJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use " + rt.method})
	default:
		rt.serve(w, r)
	}
}

// serveFaultsPatch takes a partial Faults, e.g. {"throttleRate":0.1} or
// {"writeBudget":5,"latency":"20ms"}. Unknown fields are refused so a typo
// does not silently leave faults off.
func (s *Server) serveFaultsPatch(w http.ResponseWriter, r *http.Request) {
	var p faultsPatch
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": "decode faults: " + err.Error()})
		return
	}
	f, err := s.patchFaults(p)
	if err != nil {
		writeAdminJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.logger.Info("faults changed", "throttleRate", f.ThrottleRate, "errorRate", f.ErrorRate,
		"latency", f.Latency.String(), "writeBudget", f.WriteBudget, "readBudget", f.ReadBudget, "downRegions", f.DownRegions)
	writeAdminJSON(w, http.StatusOK, f)
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
