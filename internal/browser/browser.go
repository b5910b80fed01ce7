// Package browser drives a headless Chromium for the tests that look at the
// exporter's pages as a person does: open a page, read its DOM, click a
// link, take a screenshot. It speaks the DevTools protocol over the pipe
// that --remote-debugging-pipe opens (JSON messages ended by a NUL byte on
// file descriptors 3 and 4), so it needs no port, no WebSocket and nothing
// from npm. Only tests import it.
package browser

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Binary is the Chromium that Debian's package installs.
const Binary = "chromium"

// Viewport is the size of the window the pages are laid out in and
// screenshots taken of.
const (
	ViewportWidth  = 1280
	ViewportHeight = 800
)

// callTimeout bounds each protocol command, a page load included.
const callTimeout = 30 * time.Second

// Browser is one headless Chromium with one page (tab).
type Browser struct {
	cmd     *exec.Cmd
	toPipe  io.WriteCloser
	stderr  *tailBuffer
	exited  chan struct{} // closed once the process has exited
	waitErr error         // how it exited, set before exited is closed
	session string        // the page's session, in every page command

	mu      sync.Mutex
	nextID  int
	pending map[int]chan message
	waiters []waiter
	readErr error // set when the pipe from Chromium ends
}

// message is a protocol message: a command's answer (ID set) or an event.
type message struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// waiter wants the next event of a method in a session.
type waiter struct {
	method, session string
	ch              chan message
}

// ForTest starts a browser for t and stops it when t ends. Without
// Chromium, -short skips the test; otherwise it fails, naming the package
// to install: a test that needs a real browser must not pass without one.
func ForTest(t testing.TB) *Browser {
	t.Helper()
	if _, err := exec.LookPath(Binary); err != nil {
		if testing.Short() {
			t.Skipf("-short: no %s to run the browser test (apt-get install chromium)", Binary)
		}
		t.Fatalf("this test needs a real browser: %v (apt-get install chromium)", err)
	}
	b, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// Start runs a headless Chromium with a fresh profile in profileDir and opens
// an empty page in it.
func Start(profileDir string) (*Browser, error) {
	path, err := exec.LookPath(Binary)
	if err != nil {
		return nil, err
	}
	// fd 3 is what Chromium reads, fd 4 what it writes.
	chromeIn, toPipe, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	fromPipe, chromeOut, err := os.Pipe()
	if err != nil {
		chromeIn.Close()
		toPipe.Close()
		return nil, err
	}
	cmd := exec.Command(path,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		// Chromium's own calls home, which this machine's closed network
		// refuses, many at a time.
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-default-browser-check", "--hide-scrollbars", "--mute-audio", "--lang=en-US",
		"--user-data-dir="+profileDir, "--remote-debugging-pipe", "about:blank")
	stderr := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.ExtraFiles = []*os.File{chromeIn, chromeOut}
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Start()
	chromeIn.Close()
	chromeOut.Close()
	if err != nil {
		toPipe.Close()
		fromPipe.Close()
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	b := &Browser{cmd: cmd, toPipe: toPipe, stderr: stderr, exited: make(chan struct{}), pending: map[int]chan message{}}
	go func() {
		b.waitErr = cmd.Wait()
		close(b.exited)
	}()
	go b.read(fromPipe)
	if err := b.openPage(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// openPage creates the page the other methods drive and lays it out at the
// viewport's size.
func (b *Browser) openPage() error {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		return err
	}
	b.session = attached.SessionID
	if err := b.call(b.session, "Page.enable", nil, nil); err != nil {
		return err
	}
	return b.call(b.session, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": ViewportWidth, "height": ViewportHeight, "deviceScaleFactor": 1, "mobile": false,
	}, nil)
}

// read delivers Chromium's messages until the pipe ends.
func (b *Browser) read(r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			b.readErr = fmt.Errorf("the pipe from %s ended: %w", Binary, err)
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m message
		if err := json.Unmarshal(raw[:len(raw)-1], &m); err != nil {
			continue // not a message of the protocol; nothing waits for it
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				ch <- m
				delete(b.pending, m.ID)
			}
		} else {
			kept := b.waiters[:0]
			for _, w := range b.waiters {
				if w.method == m.Method && w.session == m.SessionID {
					w.ch <- m
					continue
				}
				kept = append(kept, w)
			}
			b.waiters = kept
		}
		b.mu.Unlock()
	}
}

// call sends a command and decodes its result into result, if not nil.
func (b *Browser) call(session, method string, params, result any) error {
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return fmt.Errorf("%s: %w", method, b.readErr)
	}
	b.nextID++
	id := b.nextID
	ch := make(chan message, 1)
	b.pending[id] = ch
	b.mu.Unlock()

	msg, err := json.Marshal(struct {
		ID        int    `json:"id"`
		SessionID string `json:"sessionId,omitempty"`
		Method    string `json:"method"`
		Params    any    `json:"params,omitempty"`
	}{id, session, method, params})
	if err != nil {
		return err
	}
	if _, err := b.toPipe.Write(append(msg, 0)); err != nil {
		return fmt.Errorf("%s: writing to %s: %w", method, Binary, err)
	}
	select {
	case m, ok := <-ch:
		switch {
		case !ok:
			return fmt.Errorf("%s: %s exited; its output:\n%s", method, Binary, b.stderr)
		case m.Error != nil:
			return fmt.Errorf("%s: %s (code %d)", method, m.Error.Message, m.Error.Code)
		case result != nil:
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-time.After(callTimeout):
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: no answer from %s in %v", method, Binary, callTimeout)
	}
}

// expect returns a channel that receives the page's next event of method
// from now on.
func (b *Browser) expect(method string) <-chan message {
	ch := make(chan message, 1)
	b.mu.Lock()
	b.waiters = append(b.waiters, waiter{method, b.session, ch})
	b.mu.Unlock()
	return ch
}

// awaitLoad waits for a load event that expect announced.
func (b *Browser) awaitLoad(loaded <-chan message, what string) error {
	select {
	case <-loaded:
		return nil
	case <-b.exited:
		return fmt.Errorf("%s: %s exited; its output:\n%s", what, Binary, b.stderr)
	case <-time.After(callTimeout):
		return fmt.Errorf("%s: the page did not load in %v", what, callTimeout)
	}
}

// Open loads url in the page and waits until it has loaded. It returns
// the HTTP status the page was served with.
func (b *Browser) Open(url string) (int, error) {
	loaded := b.expect("Page.loadEventFired")
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(b.session, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return 0, err
	}
	if nav.ErrorText != "" {
		return 0, fmt.Errorf("opening %s: %s", url, nav.ErrorText)
	}
	if err := b.awaitLoad(loaded, "opening "+url); err != nil {
		return 0, err
	}
	var status int
	err := b.Eval(`performance.getEntriesByType("navigation")[0].responseStatus`, &status)
	return status, err
}

// Eval evaluates a JavaScript expression in the page and decodes its value,
// which must be JSON, into out (if not nil).
func (b *Browser) Eval(expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception *struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := b.call(b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		text := e.Text
		if e.Exception != nil {
			text = e.Exception.Description
		}
		return fmt.Errorf("evaluating %q: %s", expr, text)
	}
	if out == nil {
		return nil
	}
	if len(res.Result.Value) == 0 {
		return fmt.Errorf("evaluating %q: no value", expr)
	}
	return json.Unmarshal(res.Result.Value, out)
}

// Click clicks, with the mouse, the middle of the first element that the
// CSS selector matches (of its first line, if it wraps), and waits for the
// page that the click opens.
func (b *Browser) Click(selector string) error {
	sel, err := json.Marshal(selector)
	if err != nil {
		return err
	}
	var at *struct{ X, Y float64 }
	err = b.Eval(`(() => {
		const e = document.querySelector(`+string(sel)+`);
		if (!e) return null;
		e.scrollIntoView({block: "center"});
		// The first line box: the middle of a link that wraps may lie
		// between its lines, outside it.
		const r = e.getClientRects()[0];
		if (!r) return null;
		return {X: r.x + r.width / 2, Y: r.y + r.height / 2};
	})()`, &at)
	if err != nil {
		return err
	}
	if at == nil {
		return fmt.Errorf("clicking %s: no such element, or it is not shown", selector)
	}
	loaded := b.expect("Page.loadEventFired")
	for _, event := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		if err := b.call(b.session, "Input.dispatchMouseEvent", map[string]any{
			"type": event, "x": at.X, "y": at.Y, "button": "left", "clickCount": 1,
		}, nil); err != nil {
			return err
		}
	}
	return b.awaitLoad(loaded, "clicking "+selector)
}

// Table reads the body rows of the table that the CSS selector matches:
// each row maps the first class of each cell that has one to the cell's
// text, as the page shows it.
func (b *Browser) Table(selector string) ([]map[string]string, error) {
	sel, err := json.Marshal(selector + " tbody tr")
	if err != nil {
		return nil, err
	}
	rows := []map[string]string{}
	err = b.Eval(`[...document.querySelectorAll(`+string(sel)+`)].map(tr =>
		Object.fromEntries([...tr.cells].filter(td => td.classList.length).map(td => [td.classList[0], td.textContent])))`, &rows)
	return rows, err
}

// Screenshot returns a PNG of the page's viewport.
func (b *Browser) Screenshot() ([]byte, error) {
	var shot struct {
		Data string `json:"data"`
	}
	if err := b.call(b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(shot.Data)
}

// Close asks Chromium to quit and waits for it; one that does not quit in
// time is killed.
func (b *Browser) Close() error {
	// Chromium may quit before it answers: the answer does not matter, the
	// exit does.
	_ = b.call("", "Browser.close", nil, nil)
	b.toPipe.Close()
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.exited
		return fmt.Errorf("%s did not quit in 10s and was killed; its output:\n%s", Binary, b.stderr)
	}
	if b.waitErr != nil {
		return fmt.Errorf("%s quit with %w; its output:\n%s", Binary, b.waitErr, b.stderr)
	}
	return nil
}

// tailBuffer keeps the last part of Chromium's output, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const tailBytes = 8 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - tailBytes; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
