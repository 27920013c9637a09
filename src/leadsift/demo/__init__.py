"""The demo workspace built from bundled real data (UCI bank marketing, CC BY 4.0)."""
