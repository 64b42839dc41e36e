"""bynder: settings, setup steps and connector."""
