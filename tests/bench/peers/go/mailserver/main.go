// mailserver (Go peer) — the same SMTP-like line protocol as samples/mailserver,
// one goroutine per connection, for the I/O throughput comparison
// (tests/bench/mail_throughput.py). Replies, limits and the "listening on" and
// "stats:" lines match the Stasis server's, so one load generator drives both.
//
//	mailserver [--listen ADDR:PORT] [--stats]
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const maxLine = 998 // SMTP's 1000 octets with CRLF, as stasis::io::kDefaultMaxLine

// mailbox counts every delivery; goroutines run in parallel, hence the mutex.
type mailbox struct {
	mu                          sync.Mutex
	messages, recipients, bytes uint64
	connections, errors         uint64
}

func (m *mailbox) deliver(rcpts int, body int) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.messages++
	m.recipients += uint64(rcpts)
	m.bytes += uint64(body)
	return m.messages
}

func (m *mailbox) count(conn, errs uint64) {
	m.mu.Lock()
	m.connections += conn
	m.errors += errs
	m.mu.Unlock()
}

var errTooLong = errors.New("line too long")

// readLine returns one line without "\n" and a preceding "\r"; io.EOF at a line
// boundary, io.ErrUnexpectedEOF mid-line, errTooLong past maxLine.
func readLine(r *bufio.Reader) (string, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if err == nil {
			break
		}
		if err == bufio.ErrBufferFull {
			if len(line) > maxLine+1 {
				return "", errTooLong
			}
			continue
		}
		if err == io.EOF && len(line) > 0 {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > maxLine {
		return "", errTooLong
	}
	return string(line), nil
}

// pathArg parses "FROM:<a@b>" for keyword "FROM".
func pathArg(arg, keyword string) (string, bool) {
	if len(arg) < len(keyword)+1 || !strings.EqualFold(arg[:len(keyword)], keyword) || arg[len(keyword)] != ':' {
		return "", false
	}
	rest := strings.Trim(arg[len(keyword)+1:], " \t")
	if len(rest) < 2 || rest[0] != '<' || rest[len(rest)-1] != '>' {
		return "", false
	}
	addr := rest[1 : len(rest)-1]
	for _, c := range []byte(addr) {
		if c == '<' || c == '>' || c == ' ' || c < 0x20 {
			return "", false
		}
	}
	return addr, true
}

const (
	stStart = iota
	stReady
	stMail
	stRcpt
	stData
)

func serve(c net.Conn, box *mailbox) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	w := bufio.NewWriter(c)
	reply := func(s string) error {
		w.WriteString(s)
		return w.Flush()
	}
	state := stStart
	var from string
	var rcpts []string
	var body bytes.Buffer
	failed := uint64(0)
	defer func() { box.count(1, failed) }()
	if reply("220 stasis-mail ready\r\n") != nil {
		failed = 1
		return
	}
	for {
		line, err := readLine(r)
		if err == io.EOF {
			return
		}
		if err == errTooLong {
			failed = 1
			reply("500 5.5.2 Line too long\r\n")
			if tc, ok := c.(*net.TCPConn); ok {
				tc.CloseWrite()
				io.CopyN(io.Discard, c, 1<<20)
			}
			return
		}
		if err != nil {
			failed = 1
			return
		}
		var out string
		if state == stData {
			if line == "." {
				seq := box.deliver(len(rcpts), body.Len())
				body.Reset()
				rcpts = rcpts[:0]
				state = stReady
				out = "250 2.0.0 OK queued as " + strconv.FormatUint(seq, 10) + "\r\n"
			} else {
				if strings.HasPrefix(line, ".") {
					line = line[1:]
				}
				body.WriteString(line)
				body.WriteString("\r\n")
				continue
			}
		} else {
			text := strings.Trim(line, " \t")
			verb, arg := text, ""
			if i := strings.IndexByte(text, ' '); i >= 0 {
				verb, arg = text[:i], strings.Trim(text[i+1:], " \t")
			}
			switch strings.ToUpper(verb) {
			case "HELO", "EHLO":
				if arg == "" {
					out = "501 5.5.4 Syntax: " + verb + " hostname\r\n"
				} else {
					rcpts, from = rcpts[:0], ""
					state = stReady
					out = "250 stasis-mail\r\n"
				}
			case "MAIL":
				if state == stStart {
					out = "503 5.5.1 Bad sequence of commands: send HELO first\r\n"
				} else if state != stReady {
					out = "503 5.5.1 Bad sequence of commands: nested MAIL command\r\n"
				} else if a, ok := pathArg(arg, "FROM"); !ok {
					out = "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
				} else {
					from, state = a, stMail
					out = "250 2.0.0 OK\r\n"
				}
			case "RCPT":
				if state != stMail && state != stRcpt {
					out = "503 5.5.1 Bad sequence of commands: need MAIL before RCPT\r\n"
				} else if a, ok := pathArg(arg, "TO"); !ok || a == "" {
					out = "501 5.5.4 Syntax: RCPT TO:<address>\r\n"
				} else {
					rcpts, state = append(rcpts, a), stRcpt
					out = "250 2.0.0 OK\r\n"
				}
			case "DATA":
				if arg != "" {
					out = "501 5.5.4 Syntax: DATA\r\n"
				} else if state != stRcpt {
					out = "503 5.5.1 Bad sequence of commands: need RCPT before DATA\r\n"
				} else {
					state = stData
					out = "354 End data with <CR><LF>.<CR><LF>\r\n"
				}
			case "RSET":
				rcpts, from = rcpts[:0], ""
				if state != stStart {
					state = stReady
				}
				out = "250 2.0.0 OK\r\n"
			case "NOOP":
				out = "250 2.0.0 OK\r\n"
			case "QUIT":
				reply("221 2.0.0 stasis-mail closing\r\n")
				return
			default:
				out = "500 5.5.2 Command not recognized\r\n"
			}
		}
		_ = from
		if reply(out) != nil {
			failed = 1
			return
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "ADDR:PORT to listen on")
	stats := flag.Bool("stats", false, "print counts at exit")
	flag.Parse()

	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mailserver: cannot listen on %s: %v\n", *listen, err)
		os.Exit(1)
	}
	box := &mailbox{}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	fmt.Printf("listening on %s\n", ln.Addr().String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetNoDelay(true)
			}
			go serve(c, box)
		}
	}()
	<-sigs
	ln.Close()
	if *stats {
		box.mu.Lock()
		fmt.Printf("stats: connections=%d messages=%d recipients=%d bytes=%d errors=%d refused=0\n",
			box.connections, box.messages, box.recipients, box.bytes, box.errors)
		box.mu.Unlock()
	}
}
