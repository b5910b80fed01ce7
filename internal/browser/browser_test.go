package browser

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// TestOpenClickEvalScreenshot drives the browser through two pages served
// on loopback: the first's link, clicked with the mouse, opens the second.
func TestOpenClickEvalScreenshot(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/one", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!DOCTYPE html><title>one</title><p style="height:2000px">tall</p><a id="next" href="/two?x=1">next</a>`)
	})
	mux.HandleFunc("/two", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!DOCTYPE html><title>two</title><h1>x is %s</h1>
			<table id="t"><thead><tr><th>A</th><th>B</th></tr></thead><tbody>
			<tr><td class="a first">1 &lt;b&gt;</td><td class="b">x</td><td>unnamed</td></tr>
			<tr><td class="a">2</td><td class="b"><a href="#">y</a> z</td></tr>
			</tbody></table>`, r.URL.Query().Get("x"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	b := ForTest(t)
	status, err := b.Open(srv.URL + "/one")
	if err != nil || status != http.StatusOK {
		t.Fatalf("opening /one: %d, %v", status, err)
	}
	var title string
	if err := b.Eval("document.title", &title); err != nil || title != "one" {
		t.Fatalf("title %q, %v", title, err)
	}
	// The link is below the fold: the click scrolls to it first.
	if err := b.Click("#next"); err != nil {
		t.Fatal(err)
	}
	var got struct{ URL, Heading string }
	if err := b.Eval(`({URL: location.href, Heading: document.querySelector("h1").textContent})`, &got); err != nil {
		t.Fatal(err)
	}
	if got.URL != srv.URL+"/two?x=1" || got.Heading != "x is 1" {
		t.Fatalf("after the click: %+v", got)
	}
	table, err := b.Table("#t")
	if want := []map[string]string{{"a": "1 <b>", "b": "x"}, {"a": "2", "b": "y z"}}; err != nil || !reflect.DeepEqual(table, want) {
		t.Fatalf("the table reads %v, %v; want %v", table, err, want)
	}
	if table, err := b.Table("#none"); err != nil || len(table) != 0 {
		t.Fatalf("a missing table reads %v, %v; want no rows", table, err)
	}
	if err := b.Click("#missing"); err == nil {
		t.Fatal("clicking a missing element did not fail")
	}
	if err := b.Eval("undefinedName.x", nil); err == nil {
		t.Fatal("a throwing expression did not fail")
	}
	if status, err := b.Open(srv.URL + "/nowhere"); err != nil || status != http.StatusNotFound {
		t.Fatalf("opening a missing page: %d, %v; want 404", status, err)
	}

	shot, err := b.Screenshot()
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is no PNG: %v", err)
	}
	if size := img.Bounds().Size(); size.X != ViewportWidth || size.Y != ViewportHeight {
		t.Fatalf("screenshot of %v, want %dx%d", size, ViewportWidth, ViewportHeight)
	}
}
