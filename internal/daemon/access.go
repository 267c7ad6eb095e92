package daemon

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/auth"
	"github.com/replicad/replicad/server"
)

// accessControl builds TLS, authentication and authorization from the
// configuration into cfg.
func (d *Daemon) accessControl(ctx context.Context, cfg *server.Config) error {
	c := d.cfg
	var err error
	if c.TLSCertFile != "" {
		if d.tls, err = auth.NewTLSReloader(auth.TLSOptions{CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile, ClientCAFile: c.ClientCAFile}); err != nil {
			return err
		}
		cfg.TLS = d.tls.ServerTLSConfig()
	}
	if c.authenticates() {
		ac := auth.Config{
			JWKSFile: c.JWKSFile, JWKSURL: c.JWKSURL, Issuer: c.JWTIssuer, Audience: c.JWTAudience,
			PrincipalClaim: c.JWTPrincipalClaim, GroupsClaim: c.JWTGroupsClaim, JWKSMinRefreshInterval: c.JWKSMinRefresh,
		}
		if c.ClientCAFile != "" {
			ac.ClientCAs = d.tls.ClientCAs
		}
		if d.authn, err = auth.NewAuthenticator(ctx, ac); err != nil {
			return err
		}
		cfg.Authenticator = d.authn
	}
	if c.PolicyFile != "" {
		if d.policy, err = access.NewStore(c.PolicyFile, access.StoreOptions{}); err != nil {
			return err
		}
		cfg.Authorizer = d.policy
		d.log.InfoContext(ctx, "authorization policy loaded", "digest", d.policy.Policy().Digest())
	}
	return nil
}

// watchAccessControl reloads certificates, the JWKS and the policy when
// their files change, and all of them on SIGHUP. A broken file is refused
// (the old state stays) and logged.
func (d *Daemon) watchAccessControl(ctx context.Context) {
	logErr := func(what string) func(error) {
		return func(err error) { d.log.ErrorContext(ctx, "reload refused; keeping the previous "+what, "error", err) }
	}
	if d.tls != nil {
		go d.tls.Watch(ctx, logErr("TLS material"))
	}
	if d.authn != nil {
		go d.authn.Watch(ctx, logErr("JWKS"))
	}
	if d.policy != nil {
		go d.policy.Watch(ctx, logErr("policy"))
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			d.reloadAccessControl(ctx)
		}
	}
}

func (d *Daemon) reloadAccessControl(ctx context.Context) {
	if d.tls != nil {
		if err := d.tls.Reload(); err != nil {
			d.log.ErrorContext(ctx, "SIGHUP: TLS reload refused; keeping the previous material", "error", err)
		}
	}
	if d.authn != nil {
		if err := d.authn.RefreshKeys(ctx); err != nil {
			d.log.ErrorContext(ctx, "SIGHUP: JWKS refresh failed; keeping the previous keys", "error", err)
		}
	}
	if d.policy != nil {
		if err := d.policy.Reload(); err != nil {
			d.log.ErrorContext(ctx, "SIGHUP: policy reload refused; keeping the previous policy", "error", err)
			return
		}
		d.log.InfoContext(ctx, "SIGHUP: authorization policy reloaded", "digest", d.policy.Policy().Digest())
	}
}
