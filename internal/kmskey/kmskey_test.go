package kmskey_test

import (
	"testing"

	"github.com/replicad/replicad/internal/kmskey"
)

const (
	region  = "eu-west-3"
	account = "111122223333"
	id      = "1234abcd-12ab-34cd-56ef-1234567890ab"
	otherID = "0987dcba-09fe-87dc-65ba-ab0987654321"
)

func TestSameAndDifferent(t *testing.T) {
	keyARN := "arn:aws:kms:" + region + ":" + account + ":key/" + id
	aliasARN := "arn:aws:kms:" + region + ":" + account + ":alias/app"
	for _, tt := range []struct {
		a, b            string
		same, different bool
	}{
		{"", "", true, false},
		{"", "alias/aws/secretsmanager", true, false},
		{"aws/secretsmanager", "alias/aws/secretsmanager", true, false},
		{"alias/app", "alias/app", true, false},
		{"alias/app", aliasARN, true, false},
		{id, keyARN, true, false},
		{keyARN, keyARN, true, false},
		// Not provable either way: an alias and a key, two customer aliases.
		{"alias/app", id, false, false},
		{"alias/app", keyARN, false, false},
		{"alias/app", "alias/other", false, false},
		{"", id, false, false},
		{"alias/App", "alias/app", false, false},
		{id, "1234ABCD-12AB-34CD-56EF-1234567890AB", false, false},
		// Provably different.
		{"", "alias/app", false, true}, // the managed key vs a customer alias (moto ignoring a key)
		{"alias/aws/secretsmanager", aliasARN, false, true},
		{"alias/aws/secretsmanager", "alias/aws/ebs", false, true},
		{id, otherID, false, true},
		{keyARN, "arn:aws:kms:" + region + ":" + account + ":key/" + otherID, false, true},
		{id, "arn:aws:kms:us-west-2:" + account + ":key/" + id, false, true},
		{id, "arn:aws:kms:" + region + ":444455556666:key/" + id, false, true},
		{"alias/app", "arn:aws:kms:" + region + ":444455556666:alias/app", false, true},
		// Unknown forms are equal only as the same text.
		{"weird", "weird", true, false},
		{"weird", "alias/app", false, false},
	} {
		for _, pair := range [][2]string{{tt.a, tt.b}, {tt.b, tt.a}} {
			if got := kmskey.Same(pair[0], pair[1], region, account); got != tt.same {
				t.Errorf("Same(%q, %q) = %v, want %v", pair[0], pair[1], got, tt.same)
			}
			if got := kmskey.Different(pair[0], pair[1], region, account); got != tt.different {
				t.Errorf("Different(%q, %q) = %v, want %v", pair[0], pair[1], got, tt.different)
			}
		}
	}
}

// Without the secret's account, an ARN is equal to a bare reference only if
// it is the same text.
func TestUnknownAccountProvesNothing(t *testing.T) {
	if kmskey.Same(id, "arn:aws:kms:"+region+":"+account+":key/"+id, region, "") {
		t.Error("a key id equals a key ARN without knowing the secret's account")
	}
}
