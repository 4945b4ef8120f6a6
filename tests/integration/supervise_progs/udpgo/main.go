// A Go program for test_supervise_udp.py, built with CGO_ENABLED=0: Go's own resolver and raw
// system calls. Sends N datagrams to HOST:PORT and checks each echo, two ways:
//
//	udpgo dial HOST:PORT N     net.Dial("udp") + Write/Read (a connected socket)
//	udpgo listen HOST:PORT N   net.ListenUDP + WriteTo/ReadFromUDP (an unconnected one)
//
// Prints one JSON line: {"ok": echoes checked, "remote": RemoteAddr() or the ReadFromUDP
// source, "sent_to": the resolved address, "error": "..."}.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

type result struct {
	OK     int    `json:"ok"`
	Remote string `json:"remote"`
	SentTo string `json:"sent_to"`
	Error  string `json:"error"`
}

func dial(target string, n int, r *result) error {
	c, err := net.Dial("udp", target)
	if err != nil {
		return err
	}
	defer c.Close()
	r.Remote = c.RemoteAddr().String()
	r.SentTo = r.Remote
	buf := make([]byte, 256)
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("go dial datagram %d", i)
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := c.Read(buf)
		if err != nil {
			return err
		}
		if string(buf[:m]) != msg {
			return fmt.Errorf("echo %q for %q", buf[:m], msg)
		}
		r.OK++
	}
	return nil
}

func listen(target string, n int, r *result) error {
	to, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return err
	}
	r.SentTo = to.String()
	c, err := net.ListenUDP("udp", nil)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 256)
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("go listen datagram %d", i)
		if _, err := c.WriteTo([]byte(msg), to); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return err
		}
		r.Remote = from.String()
		if string(buf[:m]) != msg {
			return fmt.Errorf("echo %q for %q", buf[:m], msg)
		}
		r.OK++
	}
	return nil
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: udpgo dial|listen HOST:PORT N")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[3])
	var r result
	var err error
	if os.Args[1] == "dial" {
		err = dial(os.Args[2], n, &r)
	} else {
		err = listen(os.Args[2], n, &r)
	}
	if err != nil {
		r.Error = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(r)
	if err != nil {
		os.Exit(1)
	}
}
