"""percolate: settings, setup steps and connector."""
