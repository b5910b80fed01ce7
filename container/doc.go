// Package container tests the container image as a user runs it: built by
// scripts/build-image with Podman, then run read-only as the image's own
// user, on its demo, against a simulated VideoConduit API served by the tests
// on loopback (plain and over TLS), with a key file and with a config file;
// and it checks that the Compose example and the README use that image.
//
// The tests need podman and runc (Debian packages); -short skips them.
//
//	go test ./container/
package container
