// Package egress is the allow-list HTTP proxy that stands between a
// project's container and the outside, and the parsing of its policy.
//
// The proxy answers CONNECT (for HTTPS and any TLS protocol) and plain HTTP
// requests in proxy form. A request goes out only when its host and port
// match a rule of the policy and every address the host resolves to may be
// reached; everything else gets a 403 and one JSON log line on its log
// writer. It never terminates TLS: a CONNECT tunnel carries bytes only.
// Link-local (169.254.0.0/16, fe80::/10), loopback and unspecified addresses
// are refused unless a rule names the address itself, whatever name led to
// them, so a name that resolves (or is rebound) to a metadata endpoint gains
// nothing. The proxy dials the very address it checked.
//
// It knows nothing of docker: package bridge runs it in a container.
package egress
