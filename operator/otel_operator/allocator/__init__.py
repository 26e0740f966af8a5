"""Target allocation: which collector scrapes which target."""
