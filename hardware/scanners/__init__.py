"""Barcode scanner inputs (no agent imports): USB HID POS, serial / USB-CDC, framing of raw byte streams.

Each input turns a device's bytes into complete scans (`bytes`, GS kept) and hands them to a callback;
what a scan means is decided elsewhere (the scanner plugin's `parse_scan` routing).
"""
