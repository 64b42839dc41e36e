"""canto: settings, setup steps and connector."""
