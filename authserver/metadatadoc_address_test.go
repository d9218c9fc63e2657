package authserver

import (
	"net"
	"testing"
)

// TestMetadataDocumentAddressFilter: a client ID metadata document is
// fetched only from public unicast addresses, never from a private,
// shared, local or special-purpose one, nor through an IPv6 address that
// translates or tunnels to IPv4 (NAT64, 6to4, Teredo, IPv4-mapped).
func TestMetadataDocumentAddressFilter(t *testing.T) {
	f := &metadataFetcher{}
	for _, tt := range []struct {
		addr   string
		public bool
	}{
		{"93.184.215.14", true},
		{"8.8.8.8", true},
		{"100.63.255.255", true},
		{"100.128.0.1", true},
		{"198.17.255.255", true},
		{"198.20.0.1", true},
		{"223.255.255.254", true},
		{"2606:4700:4700::1111", true},
		{"2a00:1450:4001:80b::200e", true},
		{"2001:200::1", true}, // just past the IETF block

		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.0.0.1", false},
		{"100.64.0.1", false}, // carrier-grade NAT
		{"100.127.255.254", false},
		{"127.0.0.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"172.16.0.1", false},
		{"192.0.0.170", false},
		{"192.0.2.1", false},
		{"192.168.1.1", false},
		{"198.18.0.1", false}, // benchmarking
		{"198.19.255.255", false},
		{"198.51.100.1", false},
		{"203.0.113.1", false},
		{"224.0.0.1", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"::", false},
		{"::1", false},
		{"::127.0.0.1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:8.8.8.8", false},
		{"64:ff9b::a00:1", false}, // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", false},
		{"64:ff9b:1::1", false},
		{"100::1", false},
		{"2001::1", false},                              // Teredo
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false}, // Teredo
		{"2001:db8::1", false},
		{"2002:a00:1::1", false}, // 6to4 of 10.0.0.1
		{"2002:808:808::1", false},
		{"3fff::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"not-an-address", false},
	} {
		t.Run(tt.addr, func(t *testing.T) {
			err := f.checkAddress("tcp", net.JoinHostPort(tt.addr, "443"), nil)
			if (err == nil) != tt.public {
				t.Errorf("checkAddress(%s) = %v; want public=%v", tt.addr, err, tt.public)
			}
		})
	}
	// The operator's escape hatch still works.
	f.policy.AllowPrivateAddresses = true
	if err := f.checkAddress("tcp", "10.0.0.1:443", nil); err != nil {
		t.Errorf("allow_private_addresses: %v", err)
	}
}
