"""The web tier's tooling: serve the app as its image runs it, cut the image's lock."""
