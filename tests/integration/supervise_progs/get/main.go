// A Go program for test_supervise.py, built with CGO_ENABLED=0: Go's own resolver and raw
// system calls, which LD_PRELOAD cannot see. Fetches each URL (concurrently, in goroutines
// that Go runs on several threads) and prints one JSON line per URL.
// With "-txt NAME": looks up NAME's TXT records (a query the supervisor does not answer
// itself) and prints {"txt": [...], "error": "..."}.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
)

type result struct {
	URL    string `json:"url"`
	Status int    `json:"status"`
	Sha256 string `json:"sha256"`
	Error  string `json:"error"`
}

func get(url string) result {
	r := result{URL: url}
	resp, err := http.Get(url)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	sum := sha256.Sum256(body)
	r.Status = resp.StatusCode
	r.Sha256 = hex.EncodeToString(sum[:])
	return r
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-txt" {
		txt, err := net.LookupTXT(os.Args[2])
		out := map[string]interface{}{"txt": txt, "error": ""}
		if err != nil {
			out["error"] = err.Error()
		}
		b, _ := json.Marshal(out)
		os.Stdout.Write(append(b, '\n'))
		return
	}
	urls := os.Args[1:]
	results := make([]result, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Add(1)
		go func(i int, u string) {
			defer wg.Done()
			results[i] = get(u)
		}(i, u)
	}
	wg.Wait()
	failed := 0
	for _, r := range results {
		b, _ := json.Marshal(r)
		os.Stdout.Write(append(b, '\n'))
		if r.Error != "" {
			failed++
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}
