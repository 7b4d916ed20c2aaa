// Command egress-server is the outside world of the egress scenarios: plain
// HTTP on :8080 and HTTPS with a certificate of its own on :8443. GET
// /bytes/N answers N bytes (for a transfer's cost); any other path answers
// "hello from PROTO PATH".
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"
)

var zeros = make([]byte, 1<<20)

func handler(proto string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, ok := strings.CutPrefix(r.URL.Path, "/bytes/"); ok {
			size, err := strconv.ParseInt(n, 10, 64)
			if err != nil || size < 0 {
				http.Error(w, "bad size", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			for size > 0 {
				k := min(size, int64(len(zeros)))
				if _, err := w.Write(zeros[:k]); err != nil {
					return
				}
				size -= k
			}
			return
		}
		_, _ = io.WriteString(w, "hello from "+proto+" "+r.URL.Path+"\n")
	})
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "egress-server"},
		DNSNames:     []string{"tls.test", "web.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func main() {
	cert, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		srv := &http.Server{Addr: ":8443", Handler: handler("https"), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
		log.Fatal(srv.ListenAndServeTLS("", ""))
	}()
	fmt.Println("egress-server: listening on :8080 and :8443")
	log.Fatal(http.ListenAndServe(":8080", handler("http")))
}
