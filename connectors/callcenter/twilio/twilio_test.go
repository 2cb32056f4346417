package twilio

import (
	"net/url"
	"testing"
)

// The vectors are Twilio's own, from the test suite of its Python helper
// library (tests/unit/test_request_validator.py): auth token "12345".
var (
	vectorURL    = "https://mycompany.com/myapp.php?foo=1&bar=2"
	vectorParams = url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Digits": {"1234"}, "From": {"+14158675309"},
		"To": {"+18005551212"}, "Caller": {"+14158675309"},
	}
)

func TestSignatureVectors(t *testing.T) {
	if got := Signature("12345", vectorURL, vectorParams); got != "RSOYDt4T1cUTdK1PDd93/VVr8B8=" {
		t.Errorf("signature = %s", got)
	}
	dup := url.Values{"Sid": {"CA123"}, "SidAccount": {"AC123"}, "Digits": {"5678", "1234"}}
	if got := Signature("12345", vectorURL, dup); got != "IK+Dwps556ElfBT0I3Rgjkr1wJU=" {
		t.Errorf("signature with a repeated parameter = %s", got)
	}
}

// TestValidPorts: a signature made with or without the port validates
// either way, as Twilio's validators do.
func TestValidPorts(t *testing.T) {
	tests := []struct {
		url, sig string
		ok       bool
	}{
		{vectorURL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", true},
		// The request URL has a port, the signature was made without.
		{"https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", true},
		// Signed with the port it came on.
		{"http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", true},
		// Signed with the default port, requested without one.
		{vectorURL, "kvajT1Ptam85bY51eRf/AJRuM3w=", true},
		{"http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4=", true},
		{vectorURL, "RSOYDt4T1cUTdK1PDd93/VVr8B9=", false},
		{vectorURL, "", false},
		{"https://mycompany.com/myapp.php?foo=1&bar=3", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", false},
	}
	for _, tt := range tests {
		if got := Valid("12345", tt.url, vectorParams, tt.sig); got != tt.ok {
			t.Errorf("Valid(%s, %s) = %v, want %v", tt.url, tt.sig, got, tt.ok)
		}
	}
	if Valid("", vectorURL, vectorParams, Signature("", vectorURL, vectorParams)) {
		t.Error("an empty auth token validates")
	}
	changed := url.Values{}
	for k, v := range vectorParams {
		changed[k] = v
	}
	changed.Set("From", "+15555555555")
	if Valid("12345", vectorURL, changed, "RSOYDt4T1cUTdK1PDd93/VVr8B8=") {
		t.Error("a changed parameter validates")
	}
}

func TestStagesAndEndpoints(t *testing.T) {
	for status, want := range map[string]string{"ringing": "ringing", "initiated": "ringing", "in-progress": "answered",
		"completed": "ended", "no-answer": "ended", "busy": "ended", "canceled": "ended", "": ""} {
		if got := (Call{CallStatus: status}).Stage(); got != want {
			t.Errorf("stage of %q = %q, want %q", status, got, want)
		}
	}
	for to, want := range map[string]string{"client:alice": "alice", "sip:1001@pbx.example.com": "1001", "+4930123": ""} {
		if got := Endpoint(to); got != want {
			t.Errorf("Endpoint(%q) = %q, want %q", to, got, want)
		}
	}
}
