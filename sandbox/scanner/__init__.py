"""Local stand-in of barcode scanners (serial pty, HID POS reports) for tests and `make run`."""
