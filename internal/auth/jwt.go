package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenBytes bounds what is handed to the JWT parser.
const maxTokenBytes = 16 << 10

// tokenVerifier verifies bearer tokens.
type tokenVerifier struct {
	parser         *jwt.Parser
	keys           *keySource
	algorithms     []string
	principalClaim string
	groupsClaim    string
}

func newVerifier(keys *keySource, algs []string, issuer, audience string, leeway time.Duration, principalClaim, groupsClaim string) *tokenVerifier {
	return &tokenVerifier{
		// The parser holds no per-call state, so one serves all requests.
		parser: jwt.NewParser(
			jwt.WithValidMethods(algs),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(leeway),
			// Refuse non-canonical base64 so one token has one encoding.
			jwt.WithStrictDecoding(),
		),
		keys:           keys,
		algorithms:     algs,
		principalClaim: principalClaim,
		groupsClaim:    groupsClaim,
	}
}

// tokenError wraps ErrInvalidToken and a specific reason.
func tokenError(reason error) error {
	return fmt.Errorf("%w: %w", ErrInvalidToken, reason)
}

func (v *tokenVerifier) verify(ctx context.Context, raw string) (Identity, error) {
	if len(raw) > maxTokenBytes {
		return Identity{}, tokenError(ErrTokenMalformed)
	}
	claims := jwt.MapClaims{}
	var keyErr error
	keyfunc := func(t *jwt.Token) (any, error) {
		k, err := v.key(ctx, t)
		keyErr = err
		return k, err
	}
	tok, err := v.parser.ParseWithClaims(raw, claims, keyfunc)
	if err != nil {
		return Identity{}, tokenError(v.classify(tok, err, keyErr))
	}
	principal, ok := claims[v.principalClaim].(string)
	if !ok || principal == "" || !printable(principal) {
		return Identity{}, tokenError(ErrTokenClaims)
	}
	groups, err := v.groups(claims[v.groupsClaim])
	if err != nil {
		return Identity{}, tokenError(err)
	}
	id := Identity{Principal: principal, Groups: groups, Method: MethodJWT}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.ExpiresAt = exp.Time
	}
	return id, nil
}

func (v *tokenVerifier) groups(claim any) ([]string, error) {
	var groups []string
	switch g := claim.(type) {
	case nil:
	case string:
		groups = []string{g}
	case []any:
		for _, e := range g {
			s, ok := e.(string)
			if !ok {
				return nil, ErrTokenClaims
			}
			groups = append(groups, s)
		}
	default:
		return nil, ErrTokenClaims
	}
	for _, g := range groups {
		if g == "" || !printable(g) {
			return nil, ErrTokenClaims
		}
	}
	return groups, nil
}

// key chooses the keys a token may be verified with: those with its
// kid (refetching the JWKS, rate-limited, when the kid is unknown), or
// every key when it has no kid; and of those only keys whose type fits the
// token's algorithm and whose JWK "alg", if set, is that algorithm.
func (v *tokenVerifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	// The parser already enforced the list (WithValidMethods); this
	// repeats it so the key lookup can never serve a refused algorithm.
	if !slices.Contains(v.algorithms, alg) {
		return nil, ErrAlgorithmNotAllowed
	}
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 4.1.11: we understand no extension, so refuse.
		return nil, ErrTokenMalformed
	}
	var candidates []verifyKey
	kidValue, hasKID := t.Header["kid"]
	if hasKID {
		kid, ok := kidValue.(string)
		if !ok {
			return nil, ErrTokenMalformed
		}
		var err error
		if candidates, err = v.keys.lookup(ctx, kid); err != nil {
			return nil, err
		}
	} else {
		candidates = v.keys.keys.Load().all
	}
	var set jwt.VerificationKeySet
	for _, k := range candidates {
		if (k.alg == "" || k.alg == alg) && keyFits(alg, k.key) {
			set.Keys = append(set.Keys, k.key)
		}
	}
	if len(set.Keys) == 0 {
		if hasKID {
			// The key exists but is not for this algorithm: the
			// signature cannot be valid.
			return nil, ErrTokenSignature
		}
		return nil, ErrUnknownKey
	}
	return set, nil
}

// classify maps the parser's error to one of ours. The parser's own
// messages are dropped: some quote decoded token content. keyErr is what
// our keyfunc returned, if it failed: it is already one of ours (an
// ErrUnknownKey may carry the JWKS fetch failure, which names only our
// configuration, never the token).
func (v *tokenVerifier) classify(tok *jwt.Token, err, keyErr error) error {
	if errors.Is(err, jwt.ErrTokenMalformed) {
		return ErrTokenMalformed // before the header is looked at: it may not be there
	}
	if tok != nil {
		if alg, ok := tok.Header["alg"].(string); !ok || !slices.Contains(v.algorithms, alg) {
			return ErrAlgorithmNotAllowed
		}
	}
	if keyErr != nil {
		return keyErr
	}
	mapping := []struct{ lib, ours error }{
		{jwt.ErrTokenSignatureInvalid, ErrTokenSignature},
		{jwt.ErrTokenUnverifiable, ErrTokenSignature},
		{jwt.ErrTokenExpired, ErrTokenExpired},
		{jwt.ErrTokenNotValidYet, ErrTokenNotYetValid},
		{jwt.ErrTokenUsedBeforeIssued, ErrTokenNotYetValid},
		{jwt.ErrTokenInvalidIssuer, ErrTokenIssuer},
		{jwt.ErrTokenInvalidAudience, ErrTokenAudience},
		{jwt.ErrTokenRequiredClaimMissing, ErrTokenClaims},
		{jwt.ErrTokenInvalidClaims, ErrTokenClaims},
	}
	for _, m := range mapping {
		if errors.Is(err, m.lib) {
			return m.ours
		}
	}
	return ErrTokenMalformed
}
