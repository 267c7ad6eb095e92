package smtest_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/moto"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
)

func TestStandin(t *testing.T) {
	t.Parallel()
	// A replication delay long enough that InProgress is observable, as it
	// is on AWS; moto has none.
	sm, err := standin.New(standin.Options{ReplicationDelay: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sm)
	t.Cleanup(srv.Close)
	smtest.Run(t, smtest.Backend{Name: "standin", Endpoint: srv.URL, StopReplication: true})
}

func TestMoto(t *testing.T) {
	t.Parallel()
	srv := moto.Start(t)
	smtest.Run(t, smtest.Backend{Name: "moto", Endpoint: srv.URL, Moto: true})
}
